"""The status page stand-in: Statuspage v2 shapes, and every scenario visible in status/summary."""
import time

import httpx
import pytest

from tests.sandbox_klaviyo.support import scenario

PAGE_KEYS = {"id", "name", "url", "time_zone", "updated_at"}
COMPONENT_KEYS = {"id", "name", "status", "created_at", "updated_at", "position", "description", "showcase",
                  "start_date", "group_id", "page_id", "group", "only_show_if_degraded"}
INCIDENT_KEYS = {"id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at", "impact",
                 "shortlink", "started_at", "page_id", "incident_updates", "components"}
UPDATE_KEYS = {"id", "status", "body", "incident_id", "created_at", "updated_at", "display_at",
               "affected_components", "deliver_notifications", "custom_tweet", "tweet_id"}
API_DOWN = {"incident": {"name": "Elevated API errors", "impact": "major", "status": "investigating",
                         "components": {"Klaviyo API": "major_outage"}}}


def get(url: str, path: str) -> dict:
    response = httpx.get(f"{url}/api/v2/{path}")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body["page"]) == PAGE_KEYS and body["page"]["name"] == "Klaviyo"
    return body


def status(url: str) -> dict:
    return get(url, "status.json")["status"]


def by_name(components: list[dict]) -> dict[str, dict]:
    return {c["name"]: c for c in components if not c["group"]}


def test_operational_shapes(status_page):
    summary = get(status_page, "summary.json")
    assert set(summary) == {"page", "components", "incidents", "scheduled_maintenances", "status"}
    assert summary["status"] == {"indicator": "none", "description": "All Systems Operational"}
    assert summary["incidents"] == [] and summary["scheduled_maintenances"] == []
    for component in summary["components"]:
        assert COMPONENT_KEYS <= set(component) and component["status"] == "operational"
    components = by_name(summary["components"])
    assert {"Klaviyo API", "Analytics", "Segmentation", "List Subscription", "Signup Forms", "Flow Triggering",
            "Flow Email Sending", "Campaign Email Sending", "Klaviyo App"} <= set(components)
    groups = {c["name"]: c for c in summary["components"] if c["group"]}
    assert set(groups) == {"Email Sending", "Klaviyo App"}
    email = groups["Email Sending"]
    assert email["components"] == [components["Flow Email Sending"]["id"], components["Campaign Email Sending"]["id"]]
    assert components["Flow Email Sending"]["group_id"] == email["id"] and components["Klaviyo API"]["group_id"] is None
    assert len({c["id"] for c in summary["components"]}) == len(summary["components"])
    assert get(status_page, "components.json")["components"] == summary["components"]


def test_incident_shows_everywhere(status_page):
    scenario(status_page, API_DOWN)
    assert status(status_page) == {"indicator": "major", "description": "Major Service Outage"}
    summary = get(status_page, "summary.json")
    incident = summary["incidents"][0]
    assert INCIDENT_KEYS <= set(incident)
    assert (incident["impact"], incident["status"], incident["resolved_at"]) == ("major", "investigating", None)
    update = incident["incident_updates"][0]
    assert UPDATE_KEYS <= set(update) and update["incident_id"] == incident["id"]
    assert update["affected_components"][0]["new_status"] == "major_outage"
    assert [c["name"] for c in incident["components"]] == ["Klaviyo API"]
    assert by_name(summary["components"])["Klaviyo API"]["status"] == "major_outage"
    assert get(status_page, "incidents/unresolved.json")["incidents"][0]["id"] == incident["id"]
    assert get(status_page, "incidents.json")["incidents"][0]["id"] == incident["id"]


def test_resolved_incident_leaves_the_page_operational(status_page):
    scenario(status_page, API_DOWN)
    scenario(status_page, {"incident": {**API_DOWN["incident"], "status": "resolved"}})
    assert status(status_page)["indicator"] == "none"
    assert get(status_page, "incidents/unresolved.json")["incidents"] == []
    resolved = get(status_page, "incidents.json")["incidents"][0]
    assert resolved["status"] == "resolved" and resolved["resolved_at"]
    assert by_name(get(status_page, "summary.json")["components"])["Klaviyo API"]["status"] == "operational"


@pytest.mark.parametrize("impact, indicator", [("minor", "minor"), ("critical", "critical"), ("none", "none")])
def test_incident_impact_sets_the_indicator(status_page, impact, indicator):
    scenario(status_page, {"incident": {"name": "Delays", "impact": impact, "status": "identified"}})
    assert status(status_page)["indicator"] == indicator


def test_degraded_component(status_page):
    scenario(status_page, {"components": {"Klaviyo API": "degraded_performance"}})
    assert status(status_page) == {"indicator": "minor", "description": "Minor Service Outage"}
    scenario(status_page, {"components": {"Segmentation": "partial_outage"}})
    summary = get(status_page, "summary.json")
    assert summary["status"] == {"indicator": "minor", "description": "Partial System Outage"}
    assert by_name(summary["components"])["Klaviyo API"]["status"] == "degraded_performance"  # merged


def test_group_shows_its_worst_member(status_page):
    scenario(status_page, {"components": {"Campaign Email Sending": "partial_outage"}})
    groups = {c["name"]: c for c in get(status_page, "components.json")["components"] if c["group"]}
    assert groups["Email Sending"]["status"] == "partial_outage"


def test_scheduled_maintenance_is_upcoming_not_active(status_page):
    scenario(status_page, {"maintenance": {"starts_in_minutes": 30, "duration_minutes": 60, "status": "scheduled",
                                           "components": ["Klaviyo API"]}})
    assert status(status_page)["indicator"] == "none"
    upcoming = get(status_page, "scheduled-maintenances/upcoming.json")["scheduled_maintenances"]
    assert len(upcoming) == 1 and upcoming[0]["impact"] == "maintenance"
    assert {"scheduled_for", "scheduled_until"} <= set(upcoming[0]) | INCIDENT_KEYS
    assert upcoming[0]["scheduled_for"] < upcoming[0]["scheduled_until"]
    assert get(status_page, "scheduled-maintenances/active.json")["scheduled_maintenances"] == []
    assert get(status_page, "summary.json")["scheduled_maintenances"][0]["id"] == upcoming[0]["id"]


def test_maintenance_in_progress(status_page):
    scenario(status_page, {"maintenance": {"starts_in_minutes": -5, "duration_minutes": 60, "status": "in_progress",
                                           "components": ["Klaviyo API"]}})
    summary = get(status_page, "summary.json")
    assert summary["status"] == {"indicator": "maintenance", "description": "Service Under Maintenance"}
    assert by_name(summary["components"])["Klaviyo API"]["status"] == "under_maintenance"
    assert get(status_page, "scheduled-maintenances/active.json")["scheduled_maintenances"][0]["status"] == "in_progress"
    assert len(get(status_page, "scheduled-maintenances.json")["scheduled_maintenances"]) == 1


def test_maintenance_without_status_follows_the_clock(status_page):
    scenario(status_page, {"maintenance": {"starts_in_minutes": -1, "duration_minutes": 30}})
    assert status(status_page)["indicator"] == "maintenance"


def test_outage_outranks_maintenance(status_page):
    scenario(status_page, {"maintenance": {"starts_in_minutes": -1, "duration_minutes": 30, "status": "in_progress"},
                           **API_DOWN})
    assert status(status_page)["indicator"] == "major"


def test_html_errors_and_latency(status_page):
    scenario(status_page, {"html_errors": True})
    response = httpx.get(status_page + "/api/v2/status.json")
    assert response.status_code == 503 and response.headers["content-type"].startswith("text/html")
    scenario(status_page, {"html_errors": None, "latency_seconds": 0.2})
    started = time.monotonic()
    assert status(status_page)["indicator"] == "none"
    assert time.monotonic() - started >= 0.2


def test_scenario_admin_routes(status_page):
    assert httpx.get(status_page + "/_sandbox/scenario").json() == {}
    scenario(status_page, API_DOWN)
    assert "incident" in httpx.get(status_page + "/_sandbox/scenario").json()
    assert scenario(status_page, {"incident": None}) == {}
    for bad in [{"components": {"Klaviyo APIs": "major_outage"}}, {"components": {"Klaviyo API": "down"}},
                {"incident": {"impact": "huge"}}, {"maintenance": {"status": "soon"}}, {"weather": "rain"}]:
        response = httpx.post(status_page + "/_sandbox/scenario", json=bad)
        assert response.status_code == 400 and response.json()["error"], bad
    assert httpx.get(status_page + "/_sandbox/scenario").json() == {}
    scenario(status_page, API_DOWN)
    assert httpx.delete(status_page + "/_sandbox/scenario").json() == {}
    assert status(status_page)["indicator"] == "none"


def test_maintenance_window_moves_with_the_clock(sandbox, status_page):
    state = sandbox.apps["status"]["state"]
    real, now = state.clock, [1_795_000_000.0]
    sandbox.call(lambda: setattr(state, "clock", lambda: now[0]))
    try:
        scenario(status_page, {"maintenance": {"starts_in_minutes": 10, "duration_minutes": 20}})
        phases = []
        for minutes in (0, 15, 35):
            now[0] = 1_795_000_000.0 + minutes * 60
            maintenance = get(status_page, "scheduled-maintenances.json")["scheduled_maintenances"][0]
            phases.append((maintenance["status"], status(status_page)["indicator"]))
        assert phases == [("scheduled", "none"), ("in_progress", "maintenance"), ("completed", "none")]
    finally:
        sandbox.call(lambda: setattr(state, "clock", real))
