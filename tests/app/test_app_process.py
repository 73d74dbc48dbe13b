"""The app as a real process (``python -m klaviyo_sync``) against the Klaviyo stand-in."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import httpx
import pytest

from app.support import base_env, metric, wait_for
from klaviyo_sync.webhooks import sign


def klaviyo_requests(sb) -> list[dict]:
    return httpx.get(sb.urls["klaviyo"] + "/_sandbox/requests", trust_env=False).json()["requests"]


def set_scenario(sb, **scenario) -> None:
    r = httpx.post(sb.urls["klaviyo"] + "/_sandbox/scenario", json=scenario, trust_env=False)
    assert r.status_code == 200, r.text


def test_healthy_sync_health_and_metrics(klaviyo_sandbox, run_app):
    app = run_app(base_env(klaviyo_sandbox)).wait_ready()
    assert app.get("/live").json()["status"] == "alive"

    health = app.get("/health")
    body = health.json()
    assert health.status_code == 200 and body["status"] == "healthy"
    assert body["services"]["klaviyo"]["accountId"] and body["services"]["klaviyo"]["latencyMs"] >= 0
    assert body["killSwitch"]["klaviyoEnabled"] is True

    app.wait_metric("klaviyo_api_responses_total", endpoint="events", status="202")
    text = app.metrics()
    assert metric(text, "klaviyo_api_responses_total", endpoint="profile-import") >= 1
    assert metric(text, "klaviyo_api_responses_total", endpoint="accounts", status="200") == 1
    assert metric(text, "klaviyo_api_request_duration_seconds_count", endpoint="events") >= 1
    assert metric(text, "app_info", version="1.0.0") == 1
    assert metric(text, "klaviyo_kill_switch_enabled") == 1

    seen = klaviyo_requests(klaviyo_sandbox)
    paths = {r["path"] for r in seen}
    assert {"/api/profile-import", "/api/events", "/api/accounts"} <= paths
    assert all(r["user_agent"].startswith("klaviyo-api-python/") for r in seen)   # the official SDK
    assert all(r["revision"] == "2026-10-15" for r in seen)
    assert all(r["fault"] is None for r in seen)


def test_revoked_key_makes_health_down_and_counts_401s(klaviyo_sandbox, run_app):
    app = run_app(base_env(klaviyo_sandbox)).wait_ready()
    assert app.get("/health").status_code == 200
    set_scenario(klaviyo_sandbox, revoked_key=True)
    health = app.get("/health")
    assert health.status_code == 503
    klaviyo = health.json()["services"]["klaviyo"]
    assert klaviyo["status"] == "down" and klaviyo["error"].startswith("401")
    app.wait_metric("klaviyo_api_responses_total", endpoint="events", status="401")


def test_throttled_probe_is_degraded(klaviyo_sandbox, run_app):
    app = run_app(base_env(klaviyo_sandbox, SYNC_INTERVAL_SECONDS="5")).wait_ready()
    set_scenario(klaviyo_sandbox, throttle={"retry_after": 0})
    health = app.get("/health")
    assert health.status_code == 503 and health.json()["status"] == "degraded"
    # The SDK retried the 429s (3 attempts) and every attempt was counted.
    assert metric(app.metrics(), "klaviyo_api_responses_total", endpoint="accounts", status="429") == 3


def test_health_uses_sync_traffic_and_spares_the_xs_quota(klaviyo_sandbox, run_app):
    """Four pods asked at once, twice: no accounts call, so no 429 from the XS tier (1/s)."""
    apps = [run_app(base_env(klaviyo_sandbox, HEALTH_CACHE_SECONDS="10")) for _ in range(4)]
    for app in apps:
        app.wait_ready().wait_metric("klaviyo_api_responses_total", endpoint="events", status="202")
    with ThreadPoolExecutor(len(apps)) as pool:
        for _ in range(2):
            answers = list(pool.map(lambda a: a.get("/health"), apps))
            assert [a.status_code for a in answers] == [200] * len(apps)
            assert {a.json()["services"]["klaviyo"]["checkedBy"] for a in answers} == {"sync"}
    assert not [r for r in klaviyo_requests(klaviyo_sandbox) if r["path"].startswith("/api/accounts")]

    set_scenario(klaviyo_sandbox, revoked_key=True)
    app = apps[0]
    app.wait_metric("klaviyo_api_responses_total", endpoint="events", status="401")
    wait_for(lambda: app.get("/health").status_code == 503, "health down from sync traffic", process=app)
    klaviyo = app.get("/health").json()["services"]["klaviyo"]
    assert klaviyo["status"] == "down" and klaviyo["error"].startswith("401")


def test_health_probe_is_cached(klaviyo_sandbox, run_app):
    app = run_app(base_env(klaviyo_sandbox, HEALTH_CACHE_SECONDS="60")).wait_ready()
    answers = [app.get("/health").json()["services"]["klaviyo"] for _ in range(5)]
    assert len({a["checkedAt"] for a in answers}) == 1          # one check, served from the cache
    accounts = [r for r in klaviyo_requests(klaviyo_sandbox) if r["path"].startswith("/api/accounts")]
    assert len(accounts) <= 1


def test_bad_auth_version_gets_401s(klaviyo_sandbox, run_app):
    app = run_app(base_env(klaviyo_sandbox, "1.1.0-bad-auth")).wait_ready()
    app.wait_metric("klaviyo_api_responses_total", endpoint="profile-import", status="401")
    assert app.get("/health").json()["services"]["klaviyo"]["error"].startswith("401")


def test_server_errors_version_gets_a_5xx_storm(klaviyo_sandbox, run_app):
    app = run_app(base_env(klaviyo_sandbox, "1.1.0-server-errors")).wait_ready()
    app.wait_metric("klaviyo_api_responses_total", at_least=5, endpoint="profile-import", status="500")
    faulted = [r for r in klaviyo_requests(klaviyo_sandbox) if r["path"] == "/api/profile-import"]
    assert faulted and all(r["fault"] == "server-error" and r["status"] >= 500 for r in faulted)
    assert app.get("/ready").status_code == 200          # readiness does not depend on Klaviyo


@pytest.mark.slow
def test_slow_version_pushes_latency_past_5s(klaviyo_sandbox, run_app):
    app = run_app(base_env(klaviyo_sandbox, "1.1.0-slow")).wait_ready()
    app.wait_metric("klaviyo_api_request_duration_seconds_count", endpoint="profile-import", deadline=30)
    text = app.metrics()
    under_5 = metric(text, "klaviyo_api_request_duration_seconds_bucket", endpoint="profile-import", le="5.0")
    total = metric(text, "klaviyo_api_request_duration_seconds_count", endpoint="profile-import")
    assert total >= 1 and under_5 == 0                   # every request took longer than 5 s
    assert {r["fault"] for r in klaviyo_requests(klaviyo_sandbox)} == {"slow=6"}
    app.proc.kill()                                      # not worth a graceful 6 s drain


def test_crash_version_exits_at_start(klaviyo_sandbox, run_app):
    app = run_app(base_env(klaviyo_sandbox, "1.1.0-crash"))
    assert app.proc.wait(timeout=30) == 3
    assert "crash" in app.output()


def test_never_ready_version_stays_unready_but_alive(klaviyo_sandbox, run_app):
    app = run_app(base_env(klaviyo_sandbox, "1.1.0-never-ready"))
    wait_for(lambda: (r := app.try_get("/health")) is not None and r.json()["status"] != "starting",
             "SDK clients built", process=app)
    assert app.get("/live").status_code == 200
    ready = app.get("/ready")
    assert ready.status_code == 503 and "never-ready" in ready.json()["reason"]


def test_missing_key_exits_with_a_clear_error(klaviyo_sandbox, run_app):
    env = base_env(klaviyo_sandbox)
    del env["KLAVIYO_PRIVATE_KEY"]
    app = run_app(env)
    assert app.proc.wait(timeout=30) == 2
    assert "KLAVIYO_PRIVATE_KEY is not set" in app.output()


def test_sigterm_exits_cleanly(klaviyo_sandbox, run_app):
    app = run_app(base_env(klaviyo_sandbox)).wait_ready()
    assert app.stop() == 0


def _delivery(secret: str, event_id: str, webhook_id: str = "wh_1") -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"data": [{"external_id": event_id, "topic": "event:klaviyo.sent_sms", "payload": {}}],
                       "meta": {"klaviyo_account_id": "Sbx1", "klaviyo_webhook_id": webhook_id,
                                "timestamp": datetime.now(timezone.utc).isoformat()}}).encode()
    stamp = "Mon, 23 Nov 2026 10:00:00 GMT"
    return body, {"Klaviyo-Signature": sign(secret, body, stamp), "Klaviyo-Timestamp": stamp,
                  "Klaviyo-Webhook-Id": webhook_id, "Content-Type": "application/json"}


def test_webhooks_accept_signed_reject_forged_and_dedup(klaviyo_sandbox, run_app):
    secret = klaviyo_sandbox.credentials.klaviyo_webhook_secret
    app = run_app(base_env(klaviyo_sandbox, SYNC_INTERVAL_SECONDS="5")).wait_ready()

    first = app.post("/webhooks/klaviyo", *_delivery(secret, "ev-1"))
    assert first.status_code == 200 and first.json() == {"result": "accepted", "new": 1, "duplicates": 0}
    again = app.post("/webhooks/klaviyo", *_delivery(secret, "ev-1"))
    assert again.status_code == 200 and again.json()["duplicates"] == 1

    forged = app.post("/webhooks/klaviyo", *_delivery("not-the-secret-value", "ev-2"))
    assert forged.status_code == 401 and forged.json()["result"] == "invalid_signature"
    body, headers = _delivery(secret, "ev-3")
    mismatched = app.post("/webhooks/klaviyo", body, {**headers, "Klaviyo-Webhook-Id": "wh_other"})
    assert mismatched.status_code == 401

    text = app.metrics()
    assert metric(text, "klaviyo_webhook_requests_total", result="accepted") == 2
    assert metric(text, "klaviyo_webhook_requests_total", result="invalid_signature") == 2
    assert metric(text, "klaviyo_webhook_signature_failures_total") == 2
    assert secret not in app.output()


def test_bad_webhook_secret_version_rejects_genuine_deliveries(klaviyo_sandbox, run_app):
    secret = klaviyo_sandbox.credentials.klaviyo_webhook_secret
    app = run_app(base_env(klaviyo_sandbox, "1.1.0-bad-webhook-secret", SYNC_INTERVAL_SECONDS="5")).wait_ready()
    assert app.post("/webhooks/klaviyo", *_delivery(secret, "ev-1")).status_code == 401
    assert metric(app.metrics(), "klaviyo_webhook_signature_failures_total") == 1


def test_logs_never_contain_secrets(klaviyo_sandbox, run_app):
    app = run_app(base_env(klaviyo_sandbox, "1.1.0-bad-auth")).wait_ready()
    app.wait_metric("klaviyo_api_responses_total", endpoint="events", status="401")
    app.stop()
    creds = klaviyo_sandbox.credentials
    for secret in (creds.klaviyo_private_key, creds.klaviyo_webhook_secret):
        assert secret not in app.output()



def test_port_in_use_exits_with_a_clear_error(klaviyo_sandbox, run_app):
    first = run_app(base_env(klaviyo_sandbox)).wait_ready()
    clash = run_app(base_env(klaviyo_sandbox), port=first.port)
    assert clash.proc.wait(timeout=30) == 2
    assert "cannot listen on 127.0.0.1:%d (HOST/PORT)" % first.port in clash.output()
