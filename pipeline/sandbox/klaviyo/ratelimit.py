"""Per-account fixed-window rate limits: a 1 s burst and a 1 min steady window per tier."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from pipeline.sandbox.klaviyo.errors import ApiError


@dataclass(frozen=True)
class Tier:
    burst: int   # requests per second
    steady: int  # requests per minute


TIERS: dict[str, Tier] = {
    "XS": Tier(1, 15), "S": Tier(3, 60), "M": Tier(10, 150), "L": Tier(75, 750), "XL": Tier(350, 3500),
}
# Klaviyo's OpenAPI spec: the L tier's steady limit is 750/min from revision 2026-01-15, 700/min before.
EARLIER: dict[str, tuple[str, Tier]] = {"L": ("2026-01-15", Tier(75, 700))}


def documented(name: str, served_revision: str | None = None) -> Tier:
    """The tier's figures at the GA revision that serves the request (None: the newest)."""
    since, before = EARLIER.get(name, ("", TIERS[name]))
    if served_revision is not None and served_revision < since:
        return before
    return TIERS[name]
BURST_SECONDS, STEADY_SECONDS = 1.0, 60.0


@dataclass(frozen=True)
class Allowance:
    """A request let through: the steady window's figures for the RateLimit-* headers."""
    limit: int
    remaining: int
    reset: int

    def headers(self) -> dict[str, str]:
        return {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
                "RateLimit-Reset": str(self.reset)}


@dataclass
class Limiter:
    """Counts per (quota, tier, window). ``overrides`` replaces a tier's figures by name."""
    overrides: dict[str, Tier] = field(default_factory=dict)
    _counts: dict[tuple[str, str, str, int], int] = field(default_factory=dict)

    def tier(self, name: str, served_revision: str | None = None) -> Tier:
        return self.overrides.get(name, documented(name, served_revision))

    def take(self, quota: str, tier_name: str, now: float, served_revision: str | None = None) -> Allowance:
        """Count one request, or raise the 429 (throttled requests are not counted)."""
        tier = self.tier(tier_name, served_revision)
        burst_key = (quota, tier_name, "burst", int(now // BURST_SECONDS))
        steady_key = (quota, tier_name, "steady", int(now // STEADY_SECONDS))
        if self._counts.get(burst_key, 0) >= tier.burst:
            raise throttled(_until(now, BURST_SECONDS))
        if self._counts.get(steady_key, 0) >= tier.steady:
            raise throttled(_until(now, STEADY_SECONDS))
        self._prune(now)
        self._counts[burst_key] = self._counts.get(burst_key, 0) + 1
        self._counts[steady_key] = self._counts.get(steady_key, 0) + 1
        return Allowance(tier.steady, tier.steady - self._counts[steady_key], _until(now, STEADY_SECONDS))

    def reset(self) -> None:
        self._counts.clear()

    def _prune(self, now: float) -> None:
        if len(self._counts) < 1024:
            return
        burst, steady = int(now // BURST_SECONDS), int(now // STEADY_SECONDS)
        self._counts = {k: v for k, v in self._counts.items()
                        if k[3] == (burst if k[2] == "burst" else steady)}


def _until(now: float, window: float) -> int:
    """Whole seconds until the current window ends (at least 1: an early retry is throttled again)."""
    return max(1, math.ceil((math.floor(now / window) + 1) * window - now))


def throttled(retry_after: int) -> ApiError:
    unit = "second" if retry_after == 1 else "seconds"
    return ApiError(429, "throttled", "Request was throttled.",
                    f"Request was throttled. Expected available in {retry_after} {unit}.",
                    headers={"Retry-After": str(int(retry_after))})
