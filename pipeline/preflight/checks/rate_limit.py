"""Check 3: rate-limit headroom, from the SAME accounts response as api-auth.

``RateLimit-Remaining`` (steady window) must be at least ``klaviyo.rate_limit_floor``. A 429
carries no RateLimit headers but an integer ``Retry-After``: a short one (≤ 3 s) is honoured
once (the second and last request preflight spends); otherwise the check reports how long
the account is throttled.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.preflight.check import Finding, Verdict
from pipeline.preflight.context import AccountsProbe, PreflightContext, retry_after_seconds

_LEADING_INT = re.compile(r"\s*(\d+)")


@dataclass(frozen=True)
class RateLimitCheck:
    timeout: float = 10.0
    name: str = "rate-limit"
    title: str = "Rate-limit headroom"

    async def run(self, ctx: PreflightContext) -> Finding:
        return evaluate_rate_limit(await ctx.accounts(), ctx.config.klaviyo.rate_limit_floor)


def header_int(value: str | None) -> int | None:
    """The leading integer of a RateLimit-* header value ("15", "15, 15;w=60"); None if absent."""
    match = _LEADING_INT.match(value or "")
    return int(match.group(1)) if match else None


def evaluate_rate_limit(probe: AccountsProbe, floor: int) -> Finding:
    """Pure verdict over the accounts response's rate-limit headers."""
    r = probe.final
    measured: dict[str, object] = {"status": r.status, "floor": floor, "requests": probe.requests,
                                   "waited_seconds": probe.waited_seconds}
    waited = (f" after honouring Retry-After {probe.waited_seconds:.0f} s of a first 429"
              if probe.retry else "")
    if r.status == 429:
        raw = r.header("retry-after")
        seconds = retry_after_seconds(raw)
        measured["retry_after"] = seconds
        if seconds is None:
            return Finding(Verdict.FAIL, f"throttled: 429{waited} with Retry-After {raw!r} (not an "
                                         "integer number of seconds); no headroom", measured)
        again = " still" if probe.retry else ""
        return Finding(Verdict.FAIL, f"throttled{again}: 429{waited}, Retry-After {seconds} s: the "
                                     f"account is throttled for {seconds} s (floor {floor} requests left)",
                       measured)
    remaining = header_int(r.header("ratelimit-remaining"))
    limit = header_int(r.header("ratelimit-limit"))
    reset = header_int(r.header("ratelimit-reset"))
    measured.update(remaining=remaining, limit=limit, reset_seconds=reset)
    if remaining is None:
        return Finding(Verdict.ERROR, f"headroom not measured: the accounts request answered HTTP "
                                      f"{r.status}{waited} without a RateLimit-Remaining header "
                                      f"(floor {floor}; see api-auth)", measured)
    window = f" (RateLimit-Limit {limit}, resets in {reset} s{waited})"
    if remaining < floor:
        return Finding(Verdict.FAIL, f"RateLimit-Remaining {remaining} < floor {floor}{window}", measured)
    return Finding(Verdict.PASS, f"RateLimit-Remaining {remaining} >= floor {floor}{window}", measured)
