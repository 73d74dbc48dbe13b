"""Status page check: pure verdicts over summary.json, and against the status stand-in."""
import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from pipeline.klaviyo.statuspage import StatusSummary
from pipeline.preflight.check import Verdict
from pipeline.preflight.checks.status_page import evaluate_status



NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
API = ("Klaviyo API",)


def summary(indicator="none", api="operational", incidents=(), maintenances=()):
    return StatusSummary({"status": {"indicator": indicator, "description": "d"},
                          "components": [{"name": "Klaviyo API", "status": api},
                                         {"name": "Analytics", "status": "operational"}],
                          "incidents": list(incidents), "scheduled_maintenances": list(maintenances)})


def maintenance(status, starts_in_minutes, components=("Klaviyo API",)):
    start = NOW + timedelta(minutes=starts_in_minutes)
    return {"name": "DB upgrade", "status": status, "scheduled_for": start.isoformat().replace("+00:00", "Z"),
            "components": [{"name": c} for c in components]}


def test_pure_healthy_passes():
    finding = evaluate_status(summary(), API, 60, NOW)
    assert finding.verdict is Verdict.PASS
    assert finding.detail == ("indicator none (d; threshold: none); Klaviyo API operational (threshold: "
                              "operational); 0 unresolved incidents; no maintenance in progress or within 60 min")


@pytest.mark.parametrize("kwargs, verdict, text", [
    ({"indicator": "minor"}, Verdict.WARN, "indicator minor"),
    ({"api": "degraded_performance"}, Verdict.WARN, "Klaviyo API degraded_performance (threshold: operational)"),
    ({"indicator": "major", "api": "major_outage"}, Verdict.FAIL, "Klaviyo API major_outage"),
    ({"incidents": [{"name": "Forms slow", "status": "identified", "impact": "minor",
                     "components": [{"name": "Signup Forms"}]}]},
     Verdict.WARN, "unresolved incident 'Forms slow' (identified, impact minor)"),
    ({"incidents": [{"name": "API errors", "status": "investigating", "impact": "minor",
                     "components": [{"name": "Klaviyo API"}]}]},
     Verdict.FAIL, "unresolved incident 'API errors' (investigating, impact minor) affecting Klaviyo API"),
    ({"incidents": [{"name": "old", "status": "resolved", "impact": "critical"}]}, Verdict.PASS, "0 unresolved"),
    ({"maintenances": [maintenance("in_progress", -10)]}, Verdict.FAIL, "maintenance 'DB upgrade' is in_progress"),
    ({"maintenances": [maintenance("scheduled", 30)]}, Verdict.FAIL,
     "maintenance 'DB upgrade' starts in 30 min (window: 60 min)"),
    ({"maintenances": [maintenance("scheduled", 30, ("Analytics",))]}, Verdict.WARN, "starts in 30 min"),
    ({"maintenances": [maintenance("scheduled", 120)]}, Verdict.PASS, "no maintenance in progress or within 60"),
])
def test_pure_verdicts(kwargs, verdict, text):
    finding = evaluate_status(summary(**kwargs), API, 60, NOW)
    assert finding.verdict is verdict
    assert text in finding.detail


def test_pure_missing_component_is_an_error():
    finding = evaluate_status(summary(), ("Klaviyo APi",), 60, NOW)
    assert finding.verdict is Verdict.ERROR
    assert finding.detail == "component 'Klaviyo APi' is not on the status page"


def test_stand_in_healthy(sb, run):
    result = run(skip=["api-auth", "rate-limit"]).result("status-page")
    assert result.verdict is Verdict.PASS
    assert result.detail.startswith("indicator none (All Systems Operational; threshold: none)")


def test_stand_in_incident_fails(scenario, run):
    scenario("status", {"incident": {"name": "Elevated API error rates", "impact": "major",
                                             "components": {"Klaviyo API": "partial_outage"}}})
    result = run(skip=["api-auth", "rate-limit"]).result("status-page")
    assert result.verdict is Verdict.FAIL
    assert ("unresolved incident 'Elevated API error rates' (investigating, impact major) affecting "
            "Klaviyo API") in result.detail
    assert "Klaviyo API partial_outage (threshold: operational)" in result.detail


def test_stand_in_maintenance_within_window_fails(scenario, run):
    scenario("status", {"maintenance": {"starts_in_minutes": 20, "components": ["Klaviyo API"]}})
    result = run(skip=["api-auth", "rate-limit"]).result("status-page")
    assert result.verdict is Verdict.FAIL
    assert "maintenance 'Scheduled API maintenance' starts in 20 min (window: 60 min)" in result.detail


def test_stand_in_maintenance_beyond_window_passes(scenario, run, config):
    scenario("status", {"maintenance": {"starts_in_minutes": 20}})
    narrow = dataclasses.replace(config, klaviyo=dataclasses.replace(config.klaviyo, maintenance_window_minutes=10))
    result = run(narrow, skip=["api-auth", "rate-limit"]).result("status-page")
    assert result.verdict is Verdict.PASS
    assert "no maintenance in progress or within 10 min" in result.detail


def test_stand_in_html_page_is_an_error(scenario, run):
    scenario("status", {"html_errors": 503})
    result = run(skip=["api-auth", "rate-limit"]).result("status-page")
    assert result.verdict is Verdict.ERROR
    assert result.detail.endswith("/api/v2/summary.json answered HTTP 503")


def test_unreachable_status_page_is_an_error(sb, run, config):
    dead = dataclasses.replace(config, klaviyo=dataclasses.replace(config.klaviyo, status_page_url="http://127.0.0.1:9"))
    result = run(dead, skip=["api-auth", "rate-limit"]).result("status-page")
    assert result.verdict is Verdict.ERROR
    assert result.detail.startswith("could not run: ConnectError")
    assert "(GET http://127.0.0.1:9/api/v2/summary.json)" in result.detail
