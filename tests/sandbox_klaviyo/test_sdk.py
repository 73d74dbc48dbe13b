"""The official klaviyo-api SDK (25.0.0, strict pydantic models) against the Klaviyo stand-in."""
import json
from urllib.parse import unquote

import httpx
import pytest
from klaviyo_api import KlaviyoAPI
from openapi_client.exceptions import (ApiException, BadRequestException, ForbiddenException,
                                       ServiceException, UnauthorizedException)
from openapi_client.models import GetAccountResponse, GetAccountResponseCollection, PostProfileResponse

from tests.sandbox_klaviyo.support import requests_seen, scenario

EVENT = {"data": {"type": "event", "attributes": {
    "properties": {"order_id": "A-1", "items": ["socks"]}, "value": 9.99, "unique_id": "A-1",
    "metric": {"data": {"type": "metric", "attributes": {"name": "Placed Order"}}},
    "profile": {"data": {"type": "profile", "attributes": {"email": "buyer@example.com"}}}}}}


def sdk(url: str, key: str | None, **kwargs) -> KlaviyoAPI:
    kwargs.setdefault("max_delay", 2)
    kwargs.setdefault("max_retries", 1)
    return KlaviyoAPI(key, test_host=url, **kwargs)


def profile(**attributes) -> dict:
    return {"data": {"type": "profile", "attributes": attributes}}


def test_get_accounts_parses_into_strict_models(klaviyo, key, sandbox):
    accounts = sdk(klaviyo, key).Accounts.get_accounts()
    assert isinstance(accounts, GetAccountResponseCollection)
    account = accounts.data[0]
    assert account.id == sandbox.credentials.klaviyo_public_key
    assert account.attributes.public_api_key == account.id
    assert account.attributes.contact_information.street_address.country == "US"
    assert account.links.var_self.endswith(f"/api/accounts/{account.id}/")
    seen = requests_seen(klaviyo)[-1]
    assert (seen["path"], seen["revision"], seen["status"]) == ("/api/accounts", "2026-10-15", 200)
    assert seen["user_agent"].startswith("klaviyo-api-python/")


def test_get_one_account(klaviyo, key, sandbox):
    account_id = sandbox.credentials.klaviyo_public_key
    one = sdk(klaviyo, key).Accounts.get_account(account_id)
    assert isinstance(one, GetAccountResponse) and one.data.id == account_id


def test_profile_upsert_creates_then_updates(klaviyo, key):
    api = sdk(klaviyo, key).Profiles
    created = api.create_or_update_profile(profile(email="ada@example.com", phone_number="+15005550006",
                                                   first_name="Ada", properties={"tier": "gold"}))
    assert isinstance(created, PostProfileResponse)
    updated = api.create_or_update_profile(profile(email="ada@example.com", first_name=None, last_name="Lovelace",
                                                   properties={"vip": True}))
    assert updated.data.id == created.data.id
    attributes = updated.data.attributes
    assert (attributes.first_name, attributes.last_name, attributes.phone_number) == (None, "Lovelace", "+15005550006")
    assert attributes.properties == {"tier": "gold", "vip": True}
    assert [r["status"] for r in requests_seen(klaviyo)] == [201, 200]


def test_profile_with_a_bad_phone_is_a_bad_request(klaviyo, key):
    with pytest.raises(BadRequestException) as caught:
        sdk(klaviyo, key).Profiles.create_or_update_profile(profile(email="b@example.com", phone_number="5550006"))
    assert json.loads(caught.value.body)["errors"][0]["source"] == {"pointer": "/data/attributes/phone_number"}


def test_create_event_is_accepted_and_recorded(klaviyo, key):
    assert sdk(klaviyo, key).Events.create_event(EVENT) is None
    assert requests_seen(klaviyo)[-1]["status"] == 202
    data = httpx.get(klaviyo + "/_sandbox/data").json()
    assert data["events"][0]["metric"] == "Placed Order"
    assert [p["attributes"]["email"] for p in data["profiles"]] == ["buyer@example.com"]


def test_get_profiles_pages(klaviyo, key):
    api = sdk(klaviyo, key).Profiles
    for n in range(3):
        api.create_or_update_profile(profile(email=f"p{n}@example.com"))
    first = api.get_profiles(page_size=2)
    assert len(first.data) == 2 and first.links.next
    cursor = httpx.URL(first.links.next).params["page[cursor]"]
    second = api.get_profiles(page_size=2, page_cursor=cursor)
    assert [p.attributes.email for p in second.data] == ["p2@example.com"] and second.links.next is None
    found = api.get_profiles(filter='equals(email,"p1@example.com")')
    assert [p.attributes.email for p in found.data] == ["p1@example.com"]


def test_wrong_key_is_unauthorized(klaviyo):
    with pytest.raises(UnauthorizedException) as caught:
        sdk(klaviyo, "pk_" + "0" * 34).Accounts.get_accounts()
    assert json.loads(caught.value.body)["errors"][0]["code"] == "authentication_failed"


def test_revoked_key_is_unauthorized(klaviyo, key):
    scenario(klaviyo, {"revoked_key": True})
    with pytest.raises(UnauthorizedException):
        sdk(klaviyo, key).Accounts.get_accounts()


def test_missing_scope_is_forbidden(klaviyo, key):
    scenario(klaviyo, {"missing_scopes": ["events:write"]})
    api = sdk(klaviyo, key)
    with pytest.raises(ForbiddenException) as caught:
        api.Events.create_event(EVENT)
    error = json.loads(caught.value.body)["errors"][0]
    assert (error["status"], error["code"]) == (403, "permission_denied") and "events:write" in error["detail"]
    assert api.Accounts.get_accounts().data  # other scopes still work


def test_throttle_is_429_and_every_retry_layer_reaches_the_stand_in(klaviyo, key):
    # Two layers retry a 429 that carries Retry-After: urllib3's default Retry (3 more tries,
    # sleeping Retry-After) inside each of the SDK's max_retries attempts. Retry-After 0 keeps it fast.
    scenario(klaviyo, {"throttle": {"retry_after": 0}})
    with pytest.raises(ApiException) as caught:
        sdk(klaviyo, key, max_retries=2).Accounts.get_accounts()
    assert caught.value.status == 429
    assert caught.value.headers["Retry-After"] == "0"
    assert not any(h.lower().startswith("ratelimit-") for h in caught.value.headers)
    assert [r["status"] for r in requests_seen(klaviyo)] == [429] * 8  # 2 SDK attempts x (1 + 3 urllib3)


def test_retries_wait_out_an_integer_retry_after(klaviyo, key):
    scenario(klaviyo, {"throttle": {"retry_after": 1, "times": 2}})
    assert sdk(klaviyo, key, max_retries=2).Accounts.get_accounts().data
    seen = requests_seen(klaviyo)
    assert [r["status"] for r in seen] == [429, 429, 200]
    assert all(b["time"] - a["time"] >= 1.0 for a, b in zip(seen, seen[1:]))


def test_sdk_gives_up_after_max_retries_with_429(klaviyo, key):
    scenario(klaviyo, {"throttle": {"retry_after": 1}})
    with pytest.raises(ApiException) as caught:
        sdk(klaviyo, key, max_retries=1).Accounts.get_accounts()
    assert caught.value.status == 429 and caught.value.headers["Retry-After"] == "1"
    body = json.loads(caught.value.body)["errors"][0]
    assert body["detail"] == "Request was throttled. Expected available in 1 second."
    seen = requests_seen(klaviyo)
    assert len(seen) == 4 and all(b["time"] - a["time"] >= 1.0 for a, b in zip(seen, seen[1:]))


def test_real_burst_limit_on_accounts_is_retried_by_the_sdk(klaviyo, key):
    api = sdk(klaviyo, key, max_retries=4)
    for _ in range(3):  # XS: 1 per second, so at least one retry happens
        assert api.Accounts.get_accounts().data
    statuses = [r["status"] for r in requests_seen(klaviyo)]
    assert statuses.count(200) == 3 and set(statuses) <= {200, 429} and 429 in statuses


def test_oauth_access_token(klaviyo, sandbox):
    token = httpx.get(klaviyo + "/_sandbox/oauth").json()["access_token"]
    assert KlaviyoAPI(None, access_token=token, test_host=klaviyo).Accounts.get_accounts().data
    assert requests_seen(klaviyo)[-1]["auth_scheme"] == "Bearer"
    scenario(klaviyo, {"revoked_token": True})
    with pytest.raises(UnauthorizedException):
        KlaviyoAPI(None, access_token=token, test_host=klaviyo, max_retries=1).Accounts.get_accounts()


def test_fault_header_server_error_is_not_retried(klaviyo, key):
    api = sdk(klaviyo, key, max_retries=3)
    api.api_client.default_headers["X-Sandbox-Fault"] = "server-error"
    with pytest.raises(ServiceException) as caught:
        api.Events.create_event(EVENT)
    assert caught.value.status == 500
    assert [(r["status"], r["fault"]) for r in requests_seen(klaviyo)] == [(500, "server-error")]


def test_fault_header_503_is_retried(klaviyo, key):
    api = sdk(klaviyo, key, max_retries=2, max_delay=0.2)
    api.api_client.default_headers["X-Sandbox-Fault"] = "server-error=503"
    with pytest.raises(ServiceException):
        api.Events.create_event(EVENT)
    assert [r["status"] for r in requests_seen(klaviyo)] == [503, 503]


def test_html_errors_reach_the_sdk_as_text(klaviyo, key):
    scenario(klaviyo, {"html_errors": 403})
    with pytest.raises(ForbiddenException) as caught:
        sdk(klaviyo, key).Accounts.get_accounts()
    assert caught.value.body.lstrip().startswith("<!DOCTYPE html>")
    assert caught.value.headers["Content-Type"].startswith("text/html")


def test_transient_503_is_retried_to_success(klaviyo, key):
    scenario(klaviyo, {"server_errors": {"status": 503, "times": 1}})
    assert sdk(klaviyo, key, max_retries=2, max_delay=0.2).Events.create_event(EVENT) is None
    assert [r["status"] for r in requests_seen(klaviyo)] == [503, 202]


def test_get_one_profile_and_any_filter(klaviyo, key):
    api = sdk(klaviyo, key).Profiles
    ids = [api.create_or_update_profile(profile(email=f"f{n}@example.com")).data.id for n in range(3)]
    assert api.get_profile(ids[1]).data.attributes.email == "f1@example.com"
    found = api.get_profiles(filter='any(email,["f0@example.com","f2@example.com"])')
    assert [p.id for p in found.data] == [ids[0], ids[2]]
    with pytest.raises(BadRequestException):
        api.get_profiles(filter='greater-than(created,2024-01-01T00:00:00Z)')


def test_sparse_fieldsets_come_back_as_dicts(klaviyo, key):
    # The SDK switches to plain dicts when fields[...] is used; the stand-in drops the other attributes.
    accounts = sdk(klaviyo, key).Accounts.get_accounts(fields_account=["timezone"])
    assert accounts["data"][0]["attributes"] == {"timezone": "America/New_York"}
    assert unquote(requests_seen(klaviyo)[-1]["query"]) == "fields[account]=timezone"
