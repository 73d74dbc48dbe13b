"""``GET /health``: the checklist's Klaviyo connectivity check, cached and single-flight.

The probe is ``getAccounts`` through the SDK. Mapping (the checklist's): success ->
``healthy``; HTTP 429 -> ``degraded``; anything else -> ``down``. When the kill switch has
turned the integration off the app does not call Klaviyo at all and reports ``disabled``.
HTTP status: 200 for ``healthy`` and ``disabled`` (a deliberate, stable state), else 503.

/api/accounts is XS tier (1/s burst, 15/min steady) for the whole account, shared by every
pod; a verifier asking 8 pods at once would exhaust it. So, per pod:

1. an answer is cached for ``HEALTH_CACHE_SECONDS``;
2. if the sync loop has had a Klaviyo response within that window, that real call is the
   connectivity test (same mapping; ``checkedBy: "sync"``) and no accounts call is spent;
3. otherwise the accounts probe runs (``checkedBy: "getAccounts"``), single-flight: concurrent
   requests wait for the one in flight.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

HEALTHY, DEGRADED, DOWN, DISABLED = "healthy", "degraded", "down", "disabled"
KILL_SWITCH_REASON = "disabled by kill switch"


PROBE, SYNC = "getAccounts", "sync"


@dataclass(frozen=True)
class KlaviyoHealth:
    status: str
    latency_ms: int
    account_id: str | None = None
    error: str | None = None
    checked_by: str = PROBE
    checked_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status, "latencyMs": self.latency_ms}
        if self.account_id is not None:
            body["accountId"] = self.account_id
        if self.error is not None:
            body["error"] = self.error
        body["checkedBy"] = self.checked_by
        body["checkedAt"] = self.checked_at.isoformat().replace("+00:00", "Z")
        return body


@dataclass(frozen=True)
class Observation:
    """The outcome of one real Klaviyo call made by the sync loop."""
    at: float                    # monotonic seconds
    http_status: int | None      # None: no response (network error, timeout)
    latency_ms: int
    error: str | None = None     # None when the call succeeded


def from_observation(seen: Observation, account_id: str | None) -> KlaviyoHealth:
    """The health a real call shows, with the checklist's mapping."""
    if seen.error is None:
        return KlaviyoHealth(HEALTHY, seen.latency_ms, account_id=account_id, checked_by=SYNC)
    return KlaviyoHealth(status_for_error(seen.http_status), seen.latency_ms, error=seen.error, checked_by=SYNC)


@dataclass
class Evidence:
    """The latest sync-call outcome, shared between the sync thread and /health."""
    _latest: Observation | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, seen: Observation) -> None:
        with self._lock:
            self._latest = seen

    def latest(self) -> Observation | None:
        with self._lock:
            return self._latest


def status_for_error(http_status: int | None) -> str:
    """The checklist's mapping of a failed probe: 429 -> degraded, anything else -> down."""
    return DEGRADED if http_status == 429 else DOWN


def http_status_for(status: str) -> int:
    return 200 if status in (HEALTHY, DISABLED) else 503


def response_body(klaviyo: KlaviyoHealth, version: str, now: datetime,
                  tokens: dict[str, Any] | None = None) -> dict[str, Any]:
    """The /health JSON; in OAuth mode ``services.klaviyo.tokens`` says how the installations' tokens are."""
    service = klaviyo.as_json()
    if tokens is not None:
        service["tokens"] = tokens
    return {
        "status": klaviyo.status,
        "services": {"klaviyo": service},
        "version": version,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
    }


TOKENS = "tokens"
NOTHING_INSTALLED = "none"


def token_trouble(problems: tuple[str, ...]) -> KlaviyoHealth:
    """Installed accounts whose access tokens expired and could not be refreshed: the app cannot sync them."""
    return KlaviyoHealth(DOWN, 0, error="OAuth token trouble: " + "; ".join(problems), checked_by=TOKENS)


def nothing_installed() -> KlaviyoHealth:
    """OAuth mode before any merchant installed the app: no token to probe Klaviyo with, nothing failing."""
    return KlaviyoHealth(HEALTHY, 0, checked_by=NOTHING_INSTALLED)


Probe = Callable[[], str]                        # returns the account id or raises
Describe = Callable[[BaseException], "tuple[int | None, str]"]


@dataclass
class HealthProbe:
    """Cached health: recent sync evidence, else ``probe`` (single flight, once per window)."""
    probe: Probe
    describe: Describe
    cache_seconds: float
    evidence: Evidence | None = None
    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _cached: KlaviyoHealth | None = field(default=None, repr=False)
    _cached_at: float = field(default=0.0, repr=False)
    _account_id: str | None = field(default=None, repr=False)

    def check(self) -> KlaviyoHealth:
        with self._lock:                         # single flight: one probe at a time per pod
            if self._cached is not None and self.clock() - self._cached_at < self.cache_seconds:
                return self._cached
            seen = self.evidence.latest() if self.evidence is not None else None
            if seen is not None and self.clock() - seen.at < self.cache_seconds:
                self._cached = from_observation(seen, self._account_id)
            else:
                self._cached = self._run()
            self._cached_at = self.clock()
            return self._cached

    def _run(self) -> KlaviyoHealth:
        start = self.clock()
        try:
            account_id = self.probe()
        except Exception as exc:  # noqa: BLE001 - any failure is a health verdict
            http_status, reason = self.describe(exc)
            return KlaviyoHealth(status_for_error(http_status), _ms(self.clock() - start), error=reason)
        self._account_id = account_id
        return KlaviyoHealth(HEALTHY, _ms(self.clock() - start), account_id=account_id)


def disabled() -> KlaviyoHealth:
    return KlaviyoHealth(DISABLED, 0, error=KILL_SWITCH_REASON)


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))
