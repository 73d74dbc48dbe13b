"""Health status mapping (the checklist's) and the cached, single-flight probe."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

from app.support import APP_SOURCE  # noqa: F401
from klaviyo_sync import health
from klaviyo_sync.health import HealthProbe, KlaviyoHealth


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Failed(Exception):
    def __init__(self, status):
        super().__init__(status)
        self.status = status


def describe(exc):
    return getattr(exc, "status", None), f"{getattr(exc, 'status', 'network')}: boom"


def test_status_mapping_follows_the_checklist():
    assert health.status_for_error(429) == "degraded"
    for status in (401, 403, 500, 503, None):
        assert health.status_for_error(status) == "down"
    assert health.http_status_for("healthy") == 200
    assert health.http_status_for("disabled") == 200
    assert health.http_status_for("degraded") == 503
    assert health.http_status_for("down") == 503


def test_response_body_has_the_checklist_shape():
    now = datetime(2026, 11, 2, tzinfo=timezone.utc)
    body = health.response_body(KlaviyoHealth("healthy", 12, account_id="Sbx1", checked_at=now), "1.4.0", now)
    assert body["status"] == "healthy"
    assert body["services"]["klaviyo"] == {"status": "healthy", "latencyMs": 12, "accountId": "Sbx1",
                                           "checkedBy": "getAccounts", "checkedAt": "2026-11-02T00:00:00Z"}
    assert body["timestamp"] == "2026-11-02T00:00:00Z" and body["version"] == "1.4.0"
    down = health.response_body(KlaviyoHealth("down", 3, error="401: bad key", checked_at=now), "1", now)
    assert down["services"]["klaviyo"]["error"] == "401: bad key" and "accountId" not in down["services"]["klaviyo"]


def test_disabled_by_kill_switch():
    disabled = health.disabled()
    assert disabled.status == "disabled" and disabled.error == "disabled by kill switch"


def test_probe_maps_outcomes():
    clock = Clock()
    ok = HealthProbe(lambda: "Sbx1", describe, 0, clock=clock)
    assert ok.check().status == "healthy" and ok.check().account_id == "Sbx1"

    def throttled():
        raise Failed(429)
    assert HealthProbe(throttled, describe, 0, clock=clock).check().status == "degraded"

    def revoked():
        raise Failed(401)
    result = HealthProbe(revoked, describe, 0, clock=clock).check()
    assert (result.status, result.error) == ("down", "401: boom")


def test_probe_is_cached_for_cache_seconds():
    clock, calls = Clock(), []
    probe = HealthProbe(lambda: calls.append(1) or "A", describe, 10, clock=clock)
    probe.check()
    clock.now += 9.9
    probe.check()
    assert len(calls) == 1
    clock.now += 0.2
    probe.check()
    assert len(calls) == 2


def test_concurrent_checks_share_one_probe():
    release, started, calls = threading.Event(), threading.Event(), []

    def slow_probe():
        calls.append(1)
        started.set()
        release.wait(5)
        return "A"
    probe = HealthProbe(slow_probe, describe, 10)
    results = []
    threads = [threading.Thread(target=lambda: results.append(probe.check())) for _ in range(8)]
    threads[0].start()
    started.wait(5)
    for t in threads[1:]:
        t.start()
    release.set()
    for t in threads:
        t.join(5)
    assert len(calls) == 1 and len(results) == 8 and {r.status for r in results} == {"healthy"}


def test_recent_sync_evidence_answers_without_a_probe():
    clock, calls = Clock(), []
    evidence = health.Evidence()
    probe = HealthProbe(lambda: calls.append(1) or "A", describe, 10, evidence, clock)
    evidence.record(health.Observation(clock.now - 1, 202, 40))
    result = probe.check()
    assert (result.status, result.latency_ms, result.checked_by, calls) == ("healthy", 40, "sync", [])


def test_sync_evidence_uses_the_checklist_mapping_and_keeps_the_account_id():
    clock = Clock()
    evidence = health.Evidence()
    probe = HealthProbe(lambda: "Acct1", describe, 10, evidence, clock)
    assert probe.check().checked_by == "getAccounts"          # no evidence yet: probe
    clock.now += 11
    evidence.record(health.Observation(clock.now, 401, 3, "401: Incorrect authentication credentials."))
    down = probe.check()
    assert (down.status, down.error, down.checked_by) == ("down", "401: Incorrect authentication credentials.", "sync")
    clock.now += 11
    evidence.record(health.Observation(clock.now, 429, 3, "429: throttled"))
    assert probe.check().status == "degraded"
    clock.now += 11
    evidence.record(health.Observation(clock.now, 200, 5))
    assert probe.check().account_id == "Acct1"


def test_stale_evidence_falls_back_to_the_probe():
    clock, calls = Clock(), []
    evidence = health.Evidence()
    evidence.record(health.Observation(clock.now - 30, 500, 3, "500: boom"))
    result = HealthProbe(lambda: calls.append(1) or "A", describe, 10, evidence, clock).check()
    assert (result.status, result.checked_by, len(calls)) == ("healthy", "getAccounts", 1)
