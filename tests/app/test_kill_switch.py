"""The klaviyo-enabled kill switch, read by the real LaunchDarkly SDK from the LD stand-in."""
from __future__ import annotations

import httpx

from app.support import base_env, metric, wait_for

FLAG = "/api/v2/flags/klaviyo-sync/klaviyo-enabled"


def turn(sb, kind: str) -> None:
    """Flip the flag through the REST API, as `invoke rollback --via flag` does."""
    r = httpx.patch(sb.urls["launchdarkly"] + FLAG, trust_env=False,
                    headers={"Authorization": sb.credentials.launchdarkly_api_token,
                             "Content-Type": "application/json; domain-model=launchdarkly.semanticpatch"},
                    json={"environmentKey": "local", "comment": "test", "instructions": [{"kind": kind}]})
    assert r.status_code == 200, r.text


def sync_requests(sb) -> int:
    log = httpx.get(sb.urls["klaviyo"] + "/_sandbox/requests", trust_env=False).json()["requests"]
    return sum(1 for r in log if r["path"] in ("/api/profile-import", "/api/events"))


def skipped(app) -> float:
    return metric(app.metrics(), "klaviyo_sync_cycles_total", result="skipped")


def test_kill_switch_off_stops_klaviyo_calls_and_on_resumes(full_sandbox, run_app):
    sb = full_sandbox
    app = run_app(base_env(sb, SYNC_INTERVAL_SECONDS="0.1")).wait_ready()
    assert app.get("/health").json()["killSwitch"]["source"] == "launchdarkly flag klaviyo-enabled"
    app.wait_metric("klaviyo_api_responses_total", endpoint="events", status="202")
    assert metric(app.metrics(), "klaviyo_kill_switch_enabled") == 1

    turn(sb, "turnFlagOff")
    wait_for(lambda: metric(app.metrics(), "klaviyo_kill_switch_enabled") == 0, "gauge 0", process=app)
    wait_for(lambda: skipped(app) >= 1, "a skipped cycle", process=app)
    before, cycles = sync_requests(sb), skipped(app)
    wait_for(lambda: skipped(app) >= cycles + 5, "five more skipped cycles", process=app)
    assert sync_requests(sb) == before                   # the stand-in's log stopped growing

    health = app.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "disabled" and body["services"]["klaviyo"]["error"] == "disabled by kill switch"
    assert body["killSwitch"]["klaviyoEnabled"] is False

    turn(sb, "turnFlagOn")
    wait_for(lambda: sync_requests(sb) > before, "Klaviyo calls to resume", process=app)
    assert metric(app.metrics(), "klaviyo_kill_switch_enabled") == 1


def test_unreachable_launchdarkly_defaults_to_enabled(klaviyo_sandbox, run_app):
    from app.support import free_port
    dead = f"http://127.0.0.1:{free_port()}"
    env = base_env(klaviyo_sandbox, LAUNCHDARKLY_SDK_KEY="sdk-unreachable", LAUNCHDARKLY_BASE_URI=dead,
                   LAUNCHDARKLY_STREAM_URI=dead, LAUNCHDARKLY_EVENTS_URI=dead,
                   LAUNCHDARKLY_START_WAIT_SECONDS="0.5")
    app = run_app(env).wait_ready()
    app.wait_metric("klaviyo_api_responses_total", endpoint="events", status="202")
    assert "not initialized" in app.get("/health").json()["killSwitch"]["source"]
    assert "sdk-unreachable" not in app.output()
