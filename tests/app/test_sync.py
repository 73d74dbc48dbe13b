"""Sync payloads (upsert, E.164, unique_id) and one loop cycle against fakes."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest

from app.support import APP_SOURCE  # noqa: F401
from klaviyo_sync.logs import RedactingFilter, redact
from klaviyo_sync.metrics import Metrics
from klaviyo_sync.sync import Identity, SyncLoop, event_body, profile_body, require_e164, single

NOW = datetime(2026, 11, 2, tzinfo=timezone.utc)


class Target:
    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.fail = fail

    def upsert_profile(self, profile):
        self.calls.append(("profile", profile))
        if self.fail:
            raise self.fail

    def send_event(self, event):
        self.calls.append(("event", event))


class Switch:
    def __init__(self, on: bool) -> None:
        self.on = on

    def enabled(self):
        return self.on

    def source(self):
        return "test"

    def close(self):
        pass


def loop(target, switch, metrics=None):
    return SyncLoop(single(target), switch, metrics or Metrics(), Identity.for_instance("pod-1"), 1.0, "1.0.0",
                    lambda exc: (401, "401: Incorrect authentication credentials."), clock=lambda: NOW)


def test_e164_validation():
    assert require_e164("+15551234567") == "+15551234567"
    for bad in ("5551234567", "+0123", "+1 555 123 4567", "+1555123456789012"):
        with pytest.raises(ValueError, match="E.164"):
            require_e164(bad)


def test_payloads_are_an_upsert_and_a_deduplicable_event():
    who = Identity.for_instance("Pod_1")
    profile = profile_body(who, NOW)["data"]
    assert profile["type"] == "profile" and profile["attributes"]["phone_number"] == "+15005550006"
    assert profile["attributes"]["external_id"] == "klaviyo-sync-pod-1"
    event = event_body(who, "u-1", NOW, "1.4.0")["data"]["attributes"]
    assert event["unique_id"] == "u-1"
    assert event["metric"]["data"]["attributes"]["name"]
    assert event["profile"]["data"]["attributes"]["email"] == who.email


def test_payloads_validate_against_the_sdk_models():
    from openapi_client.models import EventCreateQueryV2, ProfileUpsertQuery
    who = Identity.for_instance("pod")
    ProfileUpsertQuery.model_validate(profile_body(who, NOW))
    EventCreateQueryV2.model_validate(event_body(who, "u", NOW, "1"))


def test_tick_calls_klaviyo_when_enabled():
    target, metrics = Target(), Metrics()
    assert loop(target, Switch(True), metrics).tick() == "ok"
    assert [c[0] for c in target.calls] == ["profile", "event"]
    assert metrics.kill_switch_enabled._value.get() == 1


def test_tick_skips_every_call_when_killed():
    target, metrics = Target(), Metrics()
    assert loop(target, Switch(False), metrics).tick() == "skipped"
    assert target.calls == [] and metrics.kill_switch_enabled._value.get() == 0


def test_events_get_a_fresh_unique_id_each_cycle():
    target = Target()
    sync = loop(target, Switch(True))
    sync.tick()
    sync.tick()
    ids = [c[1]["data"]["attributes"]["unique_id"] for c in target.calls if c[0] == "event"]
    assert len(set(ids)) == 2


def test_failure_is_counted_and_logged_once_with_advice(caplog):
    target, metrics = Target(fail=RuntimeError("x")), Metrics()
    sync = loop(target, Switch(True), metrics)
    with caplog.at_level(logging.INFO, logger="klaviyo_sync.sync"):
        assert sync.tick() == "failed"
        sync.tick()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "rotate KLAVIYO_PRIVATE_KEY" in errors[0].getMessage()
    assert metrics.sync_cycles.labels(result="failed")._value.get() == 2


def test_log_redaction():
    assert redact("key pk_abc in text", ["pk_abc"]) == "key *** in text"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "sent %s", ("pk_abc",), None)
    RedactingFilter(["pk_abc"]).filter(record)
    assert record.getMessage() == "sent ***"
