"""``GET /health``: the checklist's Klaviyo connectivity check, cached and single-flight.

The probe is ``getAccounts`` through the SDK. Mapping (the checklist's): success ->
``healthy``; HTTP 429 -> ``degraded``; anything else -> ``down``. When the kill switch has
turned the integration off the app does not call Klaviyo at all and reports ``disabled``.
HTTP status: 200 for ``healthy`` and ``disabled`` (a deliberate, stable state), else 503.

/api/accounts is XS tier (1/s burst, 15/min steady) for the whole account, shared by every
pod, so a pod probes at most once per ``HEALTH_CACHE_SECONDS`` and concurrent requests
share one in-flight probe.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

HEALTHY, DEGRADED, DOWN, DISABLED = "healthy", "degraded", "down", "disabled"
KILL_SWITCH_REASON = "disabled by kill switch"


@dataclass(frozen=True)
class KlaviyoHealth:
    status: str
    latency_ms: int
    account_id: str | None = None
    error: str | None = None
    checked_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status, "latencyMs": self.latency_ms}
        if self.account_id is not None:
            body["accountId"] = self.account_id
        if self.error is not None:
            body["error"] = self.error
        body["checkedAt"] = self.checked_at.isoformat().replace("+00:00", "Z")
        return body


def status_for_error(http_status: int | None) -> str:
    """The checklist's mapping of a failed probe: 429 -> degraded, anything else -> down."""
    return DEGRADED if http_status == 429 else DOWN


def http_status_for(status: str) -> int:
    return 200 if status in (HEALTHY, DISABLED) else 503


def response_body(klaviyo: KlaviyoHealth, version: str, now: datetime) -> dict[str, Any]:
    return {
        "status": klaviyo.status,
        "services": {"klaviyo": klaviyo.as_json()},
        "version": version,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
    }


Probe = Callable[[], str]                        # returns the account id or raises
Describe = Callable[[BaseException], "tuple[int | None, str]"]


@dataclass
class HealthProbe:
    """Runs ``probe`` at most once per ``cache_seconds``; callers during a probe wait for it."""
    probe: Probe
    describe: Describe
    cache_seconds: float
    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _cached: KlaviyoHealth | None = field(default=None, repr=False)
    _cached_at: float = field(default=0.0, repr=False)

    def check(self) -> KlaviyoHealth:
        with self._lock:                         # single flight: one probe at a time per pod
            if self._cached is not None and self.clock() - self._cached_at < self.cache_seconds:
                return self._cached
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
        return KlaviyoHealth(HEALTHY, _ms(self.clock() - start), account_id=account_id)


def disabled() -> KlaviyoHealth:
    return KlaviyoHealth(DISABLED, 0, error=KILL_SWITCH_REASON)


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))
