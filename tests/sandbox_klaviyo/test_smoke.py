"""The skeleton contract other helpers rely on: admin routes and env vars."""
import httpx

from tests.sandbox_klaviyo.support import scenario


def test_env_publishes_both_urls(sandbox):
    env = sandbox.env()
    assert env["SANDBOX_KLAVIYO_URL"] == sandbox.urls["klaviyo"]
    assert env["SANDBOX_STATUS_URL"] == sandbox.urls["status"]


def test_klaviyo_scenario_merges_and_resets(klaviyo):
    scenario(klaviyo, {"revoked_key": True})
    merged = scenario(klaviyo, {"missing_scopes": ["events:write"]})
    assert merged["revoked_key"] is True and merged["missing_scopes"] == ["events:write"]
    assert httpx.get(klaviyo + "/_sandbox/scenario").json() == merged
    assert httpx.delete(klaviyo + "/_sandbox/scenario").json()["revoked_key"] is False


def test_bad_scenario_is_refused_by_name(klaviyo):
    response = httpx.post(klaviyo + "/_sandbox/scenario", json={"throttle": {"retry_after": 1.5}})
    assert response.status_code == 400 and "throttle.retry_after" in response.json()["error"]
    response = httpx.post(klaviyo + "/_sandbox/scenario", json={"nope": 1})
    assert response.status_code == 400 and "nope" in response.json()["error"]
    assert httpx.get(klaviyo + "/_sandbox/scenario").json()["throttle"] is None


def test_status_page_starts_operational(status_page):
    assert httpx.get(status_page + "/api/v2/status.json").json()["status"] == {
        "indicator": "none", "description": "All Systems Operational"}
