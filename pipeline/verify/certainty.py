"""Breaches that are certain before the evidence floor is met (pure).

A verdict passes only with ``rollout.min_requests`` responses (the floor), because a pass
says "this release is fine" and a few requests cannot say that. A *failure* can be certain
much earlier: some breaches are already decided whatever the remaining evidence will be. The
judge (:mod:`pipeline.verify.judge`) fails them at once, so a release that is only slow is
rolled back as soon as that is certain rather than when a window ends; it never passes early.

* **p95 latency.** Prometheus's ``histogram_quantile`` (the interpolation the judge uses)
  puts the p95 of ``N`` observations in the first bucket whose cumulative count reaches the
  rank ``0.95 * N``. Call an observation *certainly over* the threshold ``T`` when the p95
  exceeds ``T`` whenever the rank falls on it: it lies above the smallest bucket bound ``B``
  that is ``>= T`` (interpolation inside a bucket starting at ``B >= T`` gives more than ``B``)
  and, for the ``+Inf`` bucket, only if the highest finite bound is above ``T`` (that bucket
  reports the highest finite bound). Observations in the bucket that contains ``T`` are never
  counted: they may lie below it. With ``over`` such observations among fewer than the floor
  ``F``, every completion to ``F`` observations has ``count(le=B) <= F - over``; the p95 of
  those ``F`` exceeds ``T`` for every completion exactly when ``F - over < 0.95 * F``, i.e.
  when more than 5 % of the floor is already certainly over. With the sample app's buckets and
  the checklist's 5 s threshold (a bucket bound) and a floor of 5, one observation above 5 s
  decides it.
* **counts** (401/403, signature failures): a count only grows over a span, so one above its
  maximum is a breach now.
* **per-minute rates** (5xx, 429): ``count`` events in a span of ``w`` seconds lie in
  ``ceil(w / 60)`` consecutive minutes, so one of those minutes holds at least
  ``count / ceil(w / 60)`` of them: more than ``maximum * ceil(w / 60)`` is a minute above
  the checklist's "per minute" maximum, whatever comes next.

Everything here is a lower bound on the evidence; when in doubt it says "not certain" and the
judge waits for the floor.
"""
from __future__ import annotations

import math
from typing import Sequence

SECONDS_PER_MINUTE = 60.0


def cumulative(buckets: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Histogram buckets ``(le, cumulative count)`` merged by bound, sorted, and made monotonic
    (Prometheus's ``ensureMonotonic``: a count never below the one of a smaller bound)."""
    merged: dict[float, float] = {}
    for bound, count in buckets:
        merged[bound] = merged.get(bound, 0.0) + count
    out: list[tuple[float, float]] = []
    for bound, count in sorted(merged.items()):
        out.append((bound, max(count, out[-1][1]) if out else count))
    return out


def certainly_over(buckets: Sequence[tuple[float, float]], threshold: float) -> float:
    """How many observations make ``histogram_quantile`` exceed ``threshold`` whenever its rank
    falls on them (see the module docstring); 0 when no bucket can show it (no ``+Inf`` bucket,
    or no finite bound above the threshold)."""
    ordered = cumulative(buckets)
    if len(ordered) < 2 or not math.isinf(ordered[-1][0]) or ordered[-2][0] <= threshold:
        return 0.0
    at_or_above = next(count for bound, count in ordered if bound >= threshold)
    return max(0.0, ordered[-1][1] - at_or_above)


def latency_certain(buckets: Sequence[tuple[float, float]], threshold: float, floor: int,
                    quantile: float = 0.95) -> bool:
    """True when the ``quantile`` of the first ``floor`` observations exceeds ``threshold`` however
    the observations not yet made fall. Only meaningful below the floor: with ``floor`` or more
    observations the p95 itself is the verdict."""
    over = certainly_over(buckets, threshold)
    if over <= 0 or floor < 1:
        return False
    rank = quantile * floor                       # as histogram_quantile computes it
    return not (floor - over >= rank)             # the bound's count can no longer reach the rank


def count_certain(count: float, maximum: float) -> bool:
    """A count over a span only grows: above its maximum, the breach is certain."""
    return count > maximum


def minutes_covering(window_seconds: float) -> int:
    """How many consecutive whole minutes a span of ``window_seconds`` lies in (at least 1)."""
    return max(1, math.ceil(window_seconds / SECONDS_PER_MINUTE))


def rate_certain(count: float, per_minute_maximum: float, window_seconds: float) -> bool:
    """``count`` events in the span put more than ``per_minute_maximum`` in one minute."""
    return count > per_minute_maximum * minutes_covering(window_seconds)
