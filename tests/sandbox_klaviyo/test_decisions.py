"""Pure decisions of the stand-ins, without a network."""
import datetime as dt

import pytest

from pipeline.sandbox import statuspage
from pipeline.sandbox.klaviyo import validation
from pipeline.sandbox.klaviyo.auth import Credential, authenticate, CdnRejected, require
from pipeline.sandbox.klaviyo.errors import ApiError
from pipeline.sandbox.klaviyo.faults import Fault, parse_fault
from pipeline.sandbox.klaviyo.ratelimit import Limiter, Tier
from pipeline.sandbox.klaviyo.revisions import GA_REVISIONS, resolve
from pipeline.sandbox.klaviyo.scenario import Scenario, ScenarioError, merge

TODAY = dt.date(2026, 11, 24)


@pytest.mark.parametrize("value, served", [
    ("2026-10-15", "2026-10-15"), ("2024-10-15", "2024-10-15"), ("2024-11-01", "2024-10-15"),
    ("2026-07-15.pre", "2026-07-15"), ("2022-10-17", "2022-10-17")])
def test_revision_served_is_latest_ga_on_or_before(value, served):
    assert resolve(value, TODAY).served == served


@pytest.mark.parametrize("value", [None, "", "2024/10/15", "15-10-2024", "2024-13-01", "2024-02-30",
                                   "2024-10-15.beta", "latest"])
def test_missing_or_malformed_revision_is_400(value):
    with pytest.raises(ApiError) as caught:
        resolve(value, TODAY)
    assert caught.value.status == 400 and caught.value.parameter == "revision"


def test_future_revision_is_404():
    with pytest.raises(ApiError) as caught:
        resolve("2026-11-25", TODAY)
    assert caught.value.status == 404 and "future revision" in caught.value.detail


def test_revision_before_the_first_is_400():
    with pytest.raises(ApiError) as caught:
        resolve("2021-01-01", TODAY)
    assert caught.value.status == 400 and GA_REVISIONS[0] in caught.value.detail


def test_ga_list_matches_the_reference():
    assert GA_REVISIONS[-1] == "2026-10-15" and len(GA_REVISIONS) == 22


def test_burst_window_then_next_second():
    limiter = Limiter({"XS": Tier(1, 15)})
    assert limiter.take("a", "XS", 100.2).remaining == 14
    with pytest.raises(ApiError) as caught:
        limiter.take("a", "XS", 100.9)
    assert caught.value.status == 429 and caught.value.headers == {"Retry-After": "1"}
    assert caught.value.detail == "Request was throttled. Expected available in 1 second."
    assert limiter.take("a", "XS", 101.0).remaining == 13
    assert limiter.take("b", "XS", 101.0).remaining == 14  # another quota


def test_steady_window_retry_after_counts_to_the_minute():
    limiter = Limiter({"M": Tier(10, 3)})
    allowances = [limiter.take("a", "M", 120 + i) for i in range(3)]
    assert [a.remaining for a in allowances] == [2, 1, 0]
    assert [a.reset for a in allowances] == [60, 59, 58]
    with pytest.raises(ApiError) as caught:
        limiter.take("a", "M", 150.5)
    assert caught.value.headers["Retry-After"] == "30"
    assert caught.value.detail.endswith("Expected available in 30 seconds.")
    assert limiter.take("a", "M", 180.0).remaining == 2


def test_throttled_requests_are_not_counted():
    limiter = Limiter({"XS": Tier(1, 2)})
    limiter.take("a", "XS", 10.0)
    for _ in range(5):
        with pytest.raises(ApiError):
            limiter.take("a", "XS", 10.5)
    assert limiter.take("a", "XS", 11.0).remaining == 0


def test_default_tiers():
    limiter = Limiter()
    assert (limiter.tier("XS"), limiter.tier("M"), limiter.tier("L"), limiter.tier("XL")) == (
        Tier(1, 15), Tier(10, 150), Tier(75, 750), Tier(350, 3500))
    # Klaviyo's spec: L was 700/min until revision 2026-01-15
    assert (limiter.tier("L", "2025-10-15"), limiter.tier("L", "2026-01-15")) == (Tier(75, 700), Tier(75, 750))


def test_auth_outcomes():
    creds = [Credential("Klaviyo-API-Key", "pk_good", "account", frozenset({"accounts:read"})),
             Credential("Bearer", "tok", "oauth", frozenset()),
             Credential("Klaviyo-API-Key", "pk_old", "account", revoked=True)]
    assert authenticate("Klaviyo-API-Key pk_good", creds).quota == "account"
    assert authenticate("Bearer tok", creds).quota == "oauth"
    for header, code in [(None, "not_authenticated"), ("Token pk_good", "not_authenticated"),
                         ("Klaviyo-API-Key", "not_authenticated"), ("Klaviyo-API-Key pk_bad", "authentication_failed"),
                         ("Klaviyo-API-Key pk_old", "authentication_failed"), ("Bearer nope", "authentication_failed")]:
        with pytest.raises(ApiError) as caught:
            authenticate(header, creds)
        assert (caught.value.status, caught.value.code) == (401, code), header
    with pytest.raises(CdnRejected):
        authenticate("Bearer pk_good", creds)
    with pytest.raises(ApiError) as caught:
        require(authenticate("Bearer tok", creds), "events:write")
    assert (caught.value.status, caught.value.code) == (403, "permission_denied")


def test_scenario_merge_validates_and_resets_with_null():
    s = merge(Scenario(), {"html_errors": True, "rate_limits": {"XS": {"burst": 5}}})
    assert s.html_errors == 503 and s.tier_overrides()["XS"] == Tier(5, 15)
    s = merge(s, {"rate_limits": {"M": {"steady": 1}}, "html_errors": None})
    assert s.html_errors is None and set(s.rate_limits) == {"XS", "M"}
    for bad in [[], {"missing_scopes": ["accounts:wat"]}, {"latency_seconds": -1}, {"server_errors": 404},
                {"rate_limits": {"XXL": {"burst": 1}}}, {"throttle": {"retry_after": "1"}},
                {"throttle": {"retry_after": 1, "times": 0}}, {"revoked_key": "yes"}]:
        with pytest.raises(ScenarioError):
            merge(s, bad)


def test_fault_header():
    assert parse_fault(None) == Fault()
    assert parse_fault("server-error") == Fault(500, 0.0)
    assert parse_fault("slow=0.5, server-error=503") == Fault(503, 0.5)
    for bad in ["server-error=404", "slow=abc", "slow=-1", "explode"]:
        with pytest.raises(ApiError):
            parse_fault(bad)


def _event(**attributes):
    base = {"properties": {"a": 1}, "metric": {"data": {"type": "metric", "attributes": {"name": "Placed Order"}}},
            "profile": {"data": {"type": "profile", "attributes": {"email": "x@example.com"}}}}
    base.update(attributes)
    return {"data": {"type": "event", "attributes": {k: v for k, v in base.items() if v is not None}}}


@pytest.mark.parametrize("change, pointer", [
    ({"properties": None}, "/data/attributes/properties"),
    ({"metric": None}, "/data/attributes/metric"),
    ({"metric": {"data": {"type": "metric", "attributes": {}}}}, "/data/attributes/metric/data/attributes/name"),
    ({"profile": {"data": {"type": "profile", "attributes": {}}}}, "/data/attributes/profile/data/attributes"),
    ({"profile": {"data": {"type": "profile", "attributes": {"phone_number": "555-0100"}}}},
     "/data/attributes/profile/data/attributes/phone_number"),
    ({"time": "1980-01-01T00:00:00Z"}, "/data/attributes/time"),
    ({"value": "12"}, "/data/attributes/value"),
])
def test_event_validation_points_at_the_field(change, pointer):
    with pytest.raises(ApiError) as caught:
        validation.event(_event(**change), dt.datetime(2026, 11, 24, tzinfo=dt.timezone.utc))
    assert caught.value.status == 400 and caught.value.pointer == pointer


@pytest.mark.parametrize("phone, ok", [("+15005550006", True), ("+442071838750", True), ("15005550006", False),
                                       ("+0123", False), ("+1 500 555 0006", False), ("+1234567890123456", False)])
def test_e164(phone, ok):
    assert bool(validation.E164.match(phone)) is ok


def test_page_status_derivation():
    ok = {n: "operational" for n in statuspage.component_names()}
    assert statuspage.page_status(ok, [], []) == {"indicator": "none", "description": "All Systems Operational"}
    degraded = {**ok, "Klaviyo API": "degraded_performance"}
    assert statuspage.page_status(degraded, [], [])["indicator"] == "minor"
    partial = {**ok, "Analytics": "partial_outage"}
    assert statuspage.page_status(partial, [], []) == {"indicator": "minor", "description": "Partial System Outage"}
    down = {**ok, "Klaviyo API": "major_outage"}
    assert statuspage.page_status(down, [], []) == {"indicator": "major", "description": "Major Service Outage"}
    incident = {"status": "investigating", "impact": "critical"}
    assert statuspage.page_status(ok, [incident], [])["indicator"] == "critical"
    assert statuspage.page_status(ok, [{**incident, "status": "resolved"}], [])["indicator"] == "none"
    assert statuspage.page_status(ok, [], [{"status": "in_progress"}]) == {
        "indicator": "maintenance", "description": "Service Under Maintenance"}
    assert statuspage.page_status(ok, [], [{"status": "scheduled"}])["indicator"] == "none"


def test_maintenance_follows_the_clock_unless_declared():
    assert statuspage.maintenance_status(None, 100, 200, 50) == "scheduled"
    assert statuspage.maintenance_status(None, 100, 200, 150) == "in_progress"
    assert statuspage.maintenance_status(None, 100, 200, 250) == "completed"
    assert statuspage.maintenance_status("verifying", 100, 200, 50) == "verifying"
