"""The Klaviyo stand-in on the wire, checked with raw httpx: headers, paths, revisions, limits."""
import datetime as dt
import json
import time

import httpx
import pytest

from tests.sandbox_klaviyo.support import requests_seen, scenario

JSONAPI = "application/vnd.api+json"
EVENT = {"data": {"type": "event", "attributes": {
    "properties": {"sku": "S-1"}, "time": "2026-11-01T10:00:00Z",
    "metric": {"data": {"type": "metric", "attributes": {"name": "Viewed Product"}}},
    "profile": {"data": {"type": "profile", "attributes": {"phone_number": "+15005550006"}}}}}}


def error_of(response: httpx.Response) -> dict:
    assert response.headers["content-type"].startswith(JSONAPI)
    errors = response.json()["errors"]
    assert len(errors) == 1 and {"id", "status", "code", "title", "detail", "source"} <= set(errors[0])
    assert errors[0]["status"] == response.status_code
    return errors[0]


@pytest.mark.parametrize("path", ["/api/accounts", "/api/accounts/"])
def test_accounts_with_and_without_trailing_slash(klaviyo, headers, path):
    response = httpx.get(klaviyo + path, headers=headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith(JSONAPI)
    assert response.json()["data"][0]["type"] == "account"
    assert response.headers["RateLimit-Limit"] == "15"
    assert response.headers["RateLimit-Remaining"] == "14"
    assert 1 <= int(response.headers["RateLimit-Reset"]) <= 60


@pytest.mark.parametrize("path, method, ok", [
    ("/api/profile-import", "POST", 201), ("/api/profile-import/", "POST", 201),
    ("/api/events", "POST", 202), ("/api/events/", "POST", 202),
    ("/api/profiles", "GET", 200), ("/api/profiles/", "GET", 200)])
def test_other_endpoints_with_and_without_trailing_slash(klaviyo, headers, path, method, ok):
    body = EVENT if "events" in path else {"data": {"type": "profile", "attributes": {"email": "t@example.com"}}}
    response = httpx.request(method, klaviyo + path, headers=headers, json=body if method == "POST" else None)
    assert response.status_code == ok
    assert int(response.headers["RateLimit-Remaining"]) < int(response.headers["RateLimit-Limit"])


def test_event_is_202_with_an_empty_body(klaviyo, headers):
    response = httpx.post(klaviyo + "/api/events/", headers=headers, json=EVENT)
    assert response.status_code == 202 and response.content == b""
    assert response.headers["RateLimit-Limit"] == "3500"


def test_event_missing_metric_is_400_with_a_pointer(klaviyo, headers):
    body = json.loads(json.dumps(EVENT))
    del body["data"]["attributes"]["metric"]
    error = error_of(httpx.post(klaviyo + "/api/events/", headers=headers, json=body))
    assert (error["code"], error["source"]) == ("invalid", {"pointer": "/data/attributes/metric"})


def test_invalid_json_is_400(klaviyo, headers):
    response = httpx.post(klaviyo + "/api/events/", headers=headers, content=b"{nope")
    assert error_of(response)["code"] == "invalid"


def test_page_size_out_of_range_is_400_naming_the_parameter(klaviyo, headers):
    error = error_of(httpx.get(klaviyo + "/api/profiles/?page[size]=101", headers=headers))
    assert error["source"] == {"parameter": "page[size]"}


def test_profile_import_created_then_updated(klaviyo, headers):
    body = {"data": {"type": "profile", "attributes": {"external_id": "cust-9", "first_name": "Grace"}}}
    first = httpx.post(klaviyo + "/api/profile-import/", headers=headers, json=body)
    second = httpx.post(klaviyo + "/api/profile-import/", headers=headers, json=body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["data"]["id"] == second.json()["data"]["id"]


def test_missing_auth_is_401_not_authenticated(klaviyo, headers):
    del headers["Authorization"]
    error = error_of(httpx.get(klaviyo + "/api/accounts/", headers=headers))
    assert error["code"] == "not_authenticated" and "Klaviyo-API-Key" in error["detail"]
    assert error["source"] == {"pointer": "/data/"}


def test_wrong_scheme_is_401_not_authenticated(klaviyo, headers, key):
    headers["Authorization"] = f"Token {key}"
    assert error_of(httpx.get(klaviyo + "/api/accounts/", headers=headers))["code"] == "not_authenticated"


def test_wrong_key_is_401_authentication_failed(klaviyo, headers):
    headers["Authorization"] = "Klaviyo-API-Key pk_" + "1" * 34
    assert error_of(httpx.get(klaviyo + "/api/accounts/", headers=headers))["code"] == "authentication_failed"


def test_private_key_as_bearer_is_an_html_400_from_the_cdn(klaviyo, headers, key):
    headers["Authorization"] = f"Bearer {key}"
    response = httpx.get(klaviyo + "/api/accounts/", headers=headers)
    assert response.status_code == 400 and response.headers["content-type"].startswith("text/html")


def test_missing_scope_is_403(klaviyo, headers):
    scenario(klaviyo, {"missing_scopes": ["accounts:read"]})
    error = error_of(httpx.get(klaviyo + "/api/accounts/", headers=headers))
    assert error["code"] == "permission_denied"
    assert httpx.get(klaviyo + "/api/profiles/", headers=headers).status_code == 200


@pytest.mark.parametrize("revision, status", [(None, 400), ("", 400), ("2024-10-1", 400), ("v2024-10-15", 400),
                                              ("2024-10-15", 200), ("2025-01-15.pre", 200), ("2023-03-01", 200)])
def test_revision_rules(klaviyo, headers, revision, status):
    if revision is None:
        del headers["revision"]
    else:
        headers["revision"] = revision
    response = httpx.get(klaviyo + "/api/profiles/", headers=headers)
    assert response.status_code == status
    if status == 400:
        assert error_of(response)["source"] == {"parameter": "revision"}


def test_future_revision_is_404(klaviyo, headers):
    headers["revision"] = (dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=2)).isoformat()
    error = error_of(httpx.get(klaviyo + "/api/profiles/", headers=headers))
    assert error["status"] == 404 and "future revision" in error["detail"]


def test_sdk_revision_is_future_while_the_clock_says_so(klaviyo, headers, clock):
    clock.now = dt.datetime(2026, 10, 14, 12, tzinfo=dt.timezone.utc).timestamp()
    assert httpx.get(klaviyo + "/api/profiles/", headers=headers).status_code == 404
    clock.now += 86400
    assert httpx.get(klaviyo + "/api/profiles/", headers=headers).status_code == 200


def test_burst_window_with_a_frozen_clock(klaviyo, headers, clock):
    first = httpx.get(klaviyo + "/api/accounts/", headers=headers)
    second = httpx.get(klaviyo + "/api/accounts/", headers=headers)
    assert (first.status_code, second.status_code) == (200, 429)
    assert second.headers["Retry-After"] == "1"
    assert not [h for h in second.headers if h.lower().startswith("ratelimit")]
    error = error_of(second)
    assert (error["code"], error["title"]) == ("throttled", "Request was throttled.")
    assert error["detail"] == "Request was throttled. Expected available in 1 second."
    clock.now += 1
    third = httpx.get(klaviyo + "/api/accounts/", headers=headers)
    assert third.status_code == 200 and third.headers["RateLimit-Remaining"] == "13"


def test_steady_window_with_a_frozen_clock(klaviyo, headers, clock):
    for n in range(15):
        clock.now += 1 if n else 0
        response = httpx.get(klaviyo + "/api/accounts/", headers=headers)
        assert response.status_code == 200, n
    assert response.headers["RateLimit-Remaining"] == "0"
    assert response.headers["RateLimit-Reset"] == "16"  # 44 s into the minute
    clock.now += 1
    throttled = httpx.get(klaviyo + "/api/accounts/", headers=headers)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "15"
    assert error_of(throttled)["detail"].endswith("Expected available in 15 seconds.")
    clock.now += 15
    assert httpx.get(klaviyo + "/api/accounts/", headers=headers).headers["RateLimit-Remaining"] == "14"


def test_burst_window_in_real_time(klaviyo, headers):
    statuses = [httpx.get(klaviyo + "/api/accounts/", headers=headers).status_code for _ in range(10)]
    assert 1 <= statuses.count(200) <= 2 and statuses.count(429) >= 8  # XS: 1 per second


def test_tier_override_and_separate_tiers(klaviyo, headers, clock):
    scenario(klaviyo, {"rate_limits": {"L": {"burst": 2}}})
    statuses = [httpx.get(klaviyo + "/api/profiles/", headers=headers).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert httpx.get(klaviyo + "/api/accounts/", headers=headers).status_code == 200  # XS counts apart


def test_oauth_token_has_its_own_quota(klaviyo, headers, clock):
    token = httpx.get(klaviyo + "/_sandbox/oauth").json()["access_token"]
    assert httpx.get(klaviyo + "/api/accounts/", headers=headers).status_code == 200
    bearer = {**headers, "Authorization": f"Bearer {token}"}
    assert httpx.get(klaviyo + "/api/accounts/", headers=bearer).status_code == 200


def test_html_errors_scenario(klaviyo, headers):
    scenario(klaviyo, {"html_errors": True})
    response = httpx.get(klaviyo + "/api/accounts/", headers=headers)
    assert response.status_code == 503 and response.headers["content-type"].startswith("text/html")
    assert response.text.lstrip().startswith("<!DOCTYPE html>")
    scenario(klaviyo, {"html_errors": 403})
    response = httpx.get(klaviyo + "/api/accounts/", headers=headers)
    assert response.status_code == 403 and response.headers["cf-mitigated"] == "challenge"


def test_server_errors_scenario_is_jsonapi(klaviyo, headers):
    scenario(klaviyo, {"server_errors": 502})
    error = error_of(httpx.post(klaviyo + "/api/events/", headers=headers, json=EVENT))
    assert error["status"] == 502


def test_latency_and_slow_fault_delay_the_answer(klaviyo, headers):
    scenario(klaviyo, {"latency_seconds": 0.2})
    started = time.monotonic()
    assert httpx.get(klaviyo + "/api/profiles/", headers={**headers, "X-Sandbox-Fault": "slow=0.2"}).status_code == 200
    assert time.monotonic() - started >= 0.4


def test_bad_fault_header_is_400(klaviyo, headers):
    error = error_of(httpx.get(klaviyo + "/api/profiles/", headers={**headers, "X-Sandbox-Fault": "boom"}))
    assert error["source"] == {"parameter": "X-Sandbox-Fault"}


def test_unknown_path_and_wrong_method(klaviyo, headers):
    assert error_of(httpx.get(klaviyo + "/api/lists/", headers=headers))["code"] == "not_found"
    response = httpx.delete(klaviyo + "/api/accounts/", headers=headers)
    assert response.status_code == 405 and response.headers["Allow"] == "GET"


def test_head_on_profiles_has_rate_limit_headers(klaviyo, headers):
    response = httpx.head(klaviyo + "/api/profiles/?page[size]=1", headers=headers)
    assert response.status_code == 200 and "RateLimit-Remaining" in response.headers


def test_request_log_has_the_scheme_never_the_secret(klaviyo, headers, key):
    token = httpx.get(klaviyo + "/_sandbox/oauth").json()["access_token"]
    httpx.get(klaviyo + "/api/profiles/", headers=headers)
    httpx.get(klaviyo + "/api/profiles/", headers={**headers, "Authorization": f"Bearer {token}"})
    httpx.get(klaviyo + "/api/profiles/", headers={"revision": "2026-10-15"})
    seen = requests_seen(klaviyo)
    assert [(r["auth_scheme"], r["status"]) for r in seen] == [("Klaviyo-API-Key", 200), ("Bearer", 200), ("none", 401)]
    assert seen[0]["revision"] == "2026-10-15" and seen[0]["method"] == "GET" and seen[0]["path"] == "/api/profiles/"
    raw = httpx.get(klaviyo + "/_sandbox/requests").text
    assert key not in raw and token not in raw
    httpx.delete(klaviyo + "/_sandbox/requests")
    assert requests_seen(klaviyo) == []


def test_sparse_fieldsets(klaviyo, headers):
    body = httpx.get(klaviyo + "/api/accounts/?fields[account]=timezone,contact_information.street_address",
                     headers=headers).json()
    assert set(body["data"][0]["attributes"]) == {"timezone", "contact_information"}
    clock_free = {**headers}
    error = error_of(httpx.get(klaviyo + "/api/profiles/?fields[profile]=shoe_size", headers=clock_free))
    assert error["source"] == {"parameter": "fields[profile]"}


def test_profile_ids_must_exist(klaviyo, headers):
    unknown = {"data": {"type": "profile", "id": "01NOPE", "attributes": {"email": "who@example.com"}}}
    assert error_of(httpx.post(klaviyo + "/api/profile-import/", headers=headers, json=unknown))["status"] == 404
    event = json.loads(json.dumps(EVENT))
    event["data"]["attributes"]["profile"]["data"] = {"type": "profile", "id": "01NOPE", "attributes": {}}
    error = error_of(httpx.post(klaviyo + "/api/events/", headers=headers, json=event))
    assert error["source"] == {"pointer": "/data/attributes/profile/data/id"}
    created = httpx.post(klaviyo + "/api/profile-import/", headers=headers,
                         json={"data": {"type": "profile", "attributes": {"email": "known@example.com"}}}).json()
    event["data"]["attributes"]["profile"]["data"]["id"] = created["data"]["id"]
    assert httpx.post(klaviyo + "/api/events/", headers=headers, json=event).status_code == 202
    events = httpx.get(klaviyo + "/_sandbox/data").json()["events"]
    assert events[-1]["profile_id"] == created["data"]["id"]
