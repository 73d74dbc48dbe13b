"""The background sync: every interval, upsert a profile and send an event to Klaviyo.

With a private key there is one account; in OAuth mode every installed account with sync
enabled gets the same two calls with its own access token. An installation that ends during a
cycle (revoked at Klaviyo) is dropped without counting as a failure.

Payloads follow the checklist: profiles are upserted (``profile-import``, never create),
phone numbers are validated E.164, and each event carries a ``unique_id`` so a retried
send is deduplicated by Klaviyo. When the kill switch is off the loop makes no Klaviyo
call at all (``klaviyo_kill_switch_enabled`` = 0, cycles counted as ``skipped``).
"""
from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Protocol

from klaviyo_sync.health import Evidence, Observation
from klaviyo_sync.killswitch import KillSwitch
from klaviyo_sync.metrics import Metrics
from klaviyo_sync.tokens import InstallationEnded

log = logging.getLogger(__name__)
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
METRIC_NAME = "Klaviyo Sync Heartbeat"


class SyncTarget(Protocol):
    def upsert_profile(self, profile: dict[str, Any]) -> None: ...

    def send_event(self, event: dict[str, Any]) -> None: ...


Targets = Callable[[], "list[tuple[str, SyncTarget]]"]   # (account id or "", client) to sync now


def single(target: SyncTarget) -> Targets:
    """The private-key mode: one account, the key's."""
    return lambda: [("", target)]


@dataclass(frozen=True)
class Identity:
    external_id: str
    email: str
    phone_number: str

    @classmethod
    def for_instance(cls, instance: str, phone_number: str = "+15005550006") -> "Identity":
        slug = re.sub(r"[^a-z0-9-]", "-", instance.lower()) or "app"
        return cls(f"klaviyo-sync-{slug}", f"sync+{slug}@example.com", require_e164(phone_number))


def require_e164(phone: str) -> str:
    if not E164.match(phone):
        raise ValueError(f"phone number {phone!r} is not E.164 (e.g. +15551234567)")
    return phone


def profile_body(who: Identity, now: datetime) -> dict[str, Any]:
    return {"data": {"type": "profile", "attributes": {
        "external_id": who.external_id,
        "email": who.email,
        "phone_number": require_e164(who.phone_number),
        "properties": {"last_sync": now.isoformat()},
    }}}


def event_body(who: Identity, unique_id: str, now: datetime, version: str) -> dict[str, Any]:
    return {"data": {"type": "event", "attributes": {
        "properties": {"source": "klaviyo-sync", "version": version},
        "metric": {"data": {"type": "metric", "attributes": {"name": METRIC_NAME}}},
        "profile": {"data": {"type": "profile", "attributes": {
            "external_id": who.external_id, "email": who.email}}},
        "unique_id": unique_id,
        "time": now.isoformat(),
    }}}


@dataclass
class SyncLoop:
    targets: Targets
    kill_switch: KillSwitch
    metrics: Metrics
    identity: Identity
    interval_seconds: float
    version: str
    describe_error: Callable[[BaseException], "tuple[int | None, str]"]
    evidence: Evidence = field(default_factory=Evidence)
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    monotonic: Callable[[], float] = time.monotonic
    stop_event: threading.Event = field(default_factory=threading.Event)
    _last_state: str = field(default="", repr=False)

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.tick()
            self.stop_event.wait(self.interval_seconds)

    def stop(self) -> None:
        self.stop_event.set()

    def tick(self) -> str:
        """One cycle: ``skipped`` (kill switch off), ``idle`` (no account installed), ``ok`` or ``failed``."""
        if not self.kill_switch.enabled():
            self.metrics.kill_switch_enabled.set(0)
            return self._finish("skipped", "kill switch off: not calling Klaviyo")
        self.metrics.kill_switch_enabled.set(1)
        accounts = self.targets()
        if not accounts:
            return self._finish("idle", "no installed account to sync")
        failures = [f for account, target in accounts for f in self._sync(account, target) if f]
        if failures:
            return self._finish("failed", failures[0])
        return self._finish("ok", "syncing")

    def _sync(self, account: str, target: SyncTarget) -> list[str]:
        now = self.clock()
        try:
            return [self._attempt(target.upsert_profile, profile_body(self.identity, now)),
                    # Independent of the upsert: an event also creates its profile in Klaviyo.
                    self._attempt(target.send_event,
                                  event_body(self.identity, str(uuid.uuid4()), now, self.version))]
        except InstallationEnded as ended:
            log.info("sync: %s; not syncing it any more", ended)
            return []

    def _attempt(self, call: Callable[[dict[str, Any]], None], body: dict[str, Any]) -> str:
        """Run one SDK call; "" on success, else the reason (the metrics already have the status).

        The outcome is also the freshest evidence of Klaviyo connectivity for /health.
        """
        start = self.monotonic()
        try:
            call(body)
        except InstallationEnded:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is recorded and the loop goes on
            status, reason = self.describe_error(exc)
            self._observe(start, status, reason)
            return _advice(status, reason)
        self._observe(start, 200, None)
        return ""

    def _observe(self, start: float, status: int | None, error: str | None) -> None:
        end = self.monotonic()
        self.evidence.record(Observation(end, status, int(round((end - start) * 1000)), error))

    def _finish(self, result: str, state: str) -> str:
        self.metrics.sync_cycles.labels(result=result).inc()
        if state != self._last_state:            # log transitions, not every cycle
            level = logging.ERROR if result == "failed" else logging.INFO
            log.log(level, "sync %s: %s", result, state)
            self._last_state = state
        return result


def _advice(status: int | None, reason: str) -> str:
    if status in (401, 403):
        return f"{reason} (P1: the Klaviyo key or token may be revoked or lack scopes; rotate KLAVIYO_PRIVATE_KEY or reinstall)"
    if status == 429:
        return f"{reason} (throttled after the SDK's retries)"
    return reason
