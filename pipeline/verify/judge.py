"""The checklist's alert thresholds and the evidence floor applied to measurements (pure).

Thresholds (the checklist's "Alert Thresholds" table; a value fails when it EXCEEDS the max):
``auth_errors`` any 401/403 (P1), ``server_errors`` 5xx > 10/min (P1), ``rate_limited``
429 > 5/min (P2), ``p95_latency`` > 5 s (P2), ``webhook_signatures`` any invalid signature (P2).

Every verdict is ``pass``, ``fail`` or ``inconclusive``. As Flagger has it, "no values" is an
error, not zero: a verdict passes only on evidence.

* **No samples** (the metric has no series at all): inconclusive.
* **Request-based verdicts** (auth_errors, server_errors, rate_limited, p95_latency) need at
  least ``min_requests`` Klaviyo responses in the span (``rollout.min_requests``) to pass;
  fewer: inconclusive. A breach fails at once when it is certain whatever comes next
  (:mod:`pipeline.verify.certainty`: any 401/403 over a maximum of 0; more 5xx or 429 in the
  span than the minutes it lies in allow), or when the extrapolated rate breaches with the
  floor met.
* **p95 latency** needs ``min_requests`` latency observations to pass; none at all (a missing
  latency) is inconclusive. It fails with fewer only when the breach is certain: more than 5 %
  of the floor's observations are already above the threshold (by the histogram's buckets),
  so the p95 of the first ``min_requests`` observations exceeds it however the rest fall.
* **webhook_signatures** is not request-based: the series must exist; any failure beyond
  those the verifier caused itself fails.

An explicit waiver (the operator accepted deploying with the kill switch OFF, so the app makes
no Klaviyo calls) turns a request-based "not enough evidence" into a pass whose detail says
Klaviyo was not verified. A breach is never waived.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Mapping, Sequence

from pipeline.config import Thresholds
from pipeline.verify.certainty import certainly_over, count_certain, latency_certain, rate_certain
from pipeline.verify.thresholds import Measured, Measurements
from pipeline.verify.verdict import FAIL, INCONCLUSIVE, P1, P2, PASS, Verdict

FLOOR_SETTING = "rollout.min_requests"


@dataclass(frozen=True)
class Evidence:
    min_requests: int = 5          # Klaviyo responses (and latency observations) needed to pass
    waiver: str = ""               # non-empty: why missing request evidence passes (said in the detail)


def judge(m: Measurements, thresholds: Thresholds, sources: Mapping[str, str],
          evidence: Evidence = Evidence()) -> list[Verdict]:
    """One verdict per threshold. ``sources[name]`` says where each value came from."""
    t, w = thresholds, m.window_seconds
    over = f"over {_num(w)}s"
    requests = m.requests or 0.0

    lacking = (None if requests >= evidence.min_requests else
               f"{_num(requests)} Klaviyo requests < floor {evidence.min_requests} ({FLOOR_SETTING})")
    verdicts = [
        _threshold("auth_errors", P1, m.auth_errors, t.auth_errors_max, w, sources,
                   lambda v, op: f"401/403 {_num(v)} {op} {_num(t.auth_errors_max)} {over}"
                                 + (" (P1: key may be revoked)" if op == ">" else ""), lacking),
        _threshold("server_errors", P1, m.server_errors, t.server_errors_per_minute_max, w, sources,
                   lambda v, op: f"5xx {v:.1f}/min {op} {_num(t.server_errors_per_minute_max)}/min {over}"
                                 + _count(m.server_errors), lacking, rate=True),
        _threshold("rate_limited", P2, m.rate_limited, t.throttled_per_minute_max, w, sources,
                   lambda v, op: f"429 {v:.1f}/min {op} {_num(t.throttled_per_minute_max)}/min {over}"
                                 + _count(m.rate_limited), lacking, rate=True),
        _latency(m, t, sources, evidence.min_requests),
        _threshold("webhook_signatures", P2, m.webhook_signatures, t.webhook_signature_failures_max, w, sources,
                   lambda v, op: f"webhook signature failures {_num(v)} {op} "
                                 f"{_num(t.webhook_signature_failures_max)} {over}", None),
    ]
    verdicts = [v if v.status != INCONCLUSIVE or v.name == "webhook_signatures" or not evidence.waiver
                else replace(v, status=PASS, detail=f"{v.detail}; not verified: {evidence.waiver}",
                             data={**v.data, "waived": evidence.waiver})
                for v in verdicts]
    extra: dict[str, object] = {"requests": m.requests, "min_requests": evidence.min_requests}
    if m.notes:
        extra["notes"] = list(m.notes)
    return [replace(v, data={**v.data, **extra}) for v in verdicts]


def worst(total: Sequence[Verdict], recent: Sequence[Verdict]) -> list[Verdict]:
    """Per verdict name, the recent span's verdict if it failed, else the whole span's."""
    failed_recently = {v.name: v for v in recent if v.status == FAIL}
    return [failed_recently.get(v.name, v) for v in total]


Describe = Callable[[float, str], str]


def _base(name: str, severity: str, measured: Measured, maximum: float, window: float,
          sources: Mapping[str, str], status: str, detail: str) -> Verdict:
    data: dict[str, object] = {} if measured.count is None else {"count": measured.count}
    if measured.no_response:
        data["no_response"] = measured.no_response
    return Verdict(name, severity, sources.get(name, ""), measured.value if measured.samples else None, maximum,
                   window, status, detail, data)


def _threshold(name: str, severity: str, measured: Measured, maximum: float, window: float,
               sources: Mapping[str, str], describe: Describe, lacking: str | None, rate: bool = False) -> Verdict:
    """A count (it can only grow over the span: above the maximum is a breach at once) or a
    per-minute rate (a breach needs the floor, unless more arrived than the minutes the span
    lies in allow: :func:`pipeline.verify.certainty.rate_certain`)."""
    value = measured.value or 0.0

    def verdict(status: str, detail: str) -> Verdict:
        return _base(name, severity, measured, maximum, window, sources, status, detail)

    if not measured.samples:
        return verdict(INCONCLUSIVE, describe(value, "<=") + " (no samples)")
    op = ">" if value > maximum else "<="
    certain = (rate_certain(measured.count or 0.0, maximum, window) if rate
               else count_certain(value, maximum))
    if op == ">" and (certain or not lacking):
        return verdict(FAIL, describe(value, op))
    if lacking:
        return verdict(INCONCLUSIVE, f"{describe(value, op)}: inconclusive, {lacking}")
    return verdict(PASS, describe(value, op))


def _latency(m: Measurements, t: Thresholds, sources: Mapping[str, str], floor: int) -> Verdict:
    maximum, window = t.p95_latency_seconds_max, m.window_seconds
    value, observations = m.p95_latency.value, m.p95_latency.count or 0.0
    source = sources.get("p95_latency", "")
    data = {"observations": observations}
    if value is None:
        detail = (f"p95 latency: no latency observations over {_num(window)}s: inconclusive"
                  + ("" if m.p95_latency.samples else " (no samples)"))
        return Verdict("p95_latency", P2, source, None, maximum, window, INCONCLUSIVE, detail, data)
    op = "<=" if value <= maximum else ">"
    detail = f"p95 latency {value:.3g}s {op} {_num(maximum)}s over {_num(window)}s"
    if observations < floor:
        if latency_certain(m.p95_latency.buckets, maximum, floor):
            over = certainly_over(m.p95_latency.buckets, maximum)
            return Verdict("p95_latency", P2, source, value, maximum, window, FAIL,
                           f"{detail}: certain before the floor, {_num(over)} of {_num(observations)} "
                           f"latency observations above {_num(maximum)}s put the p95 of the first {floor} "
                           f"({FLOOR_SETTING}) above it", {**data, "certain_over": over})
        return Verdict("p95_latency", P2, source, value, maximum, window, INCONCLUSIVE,
                       f"{detail}: inconclusive, {_num(observations)} latency observations < floor {floor} "
                       f"({FLOOR_SETTING})", data)
    return Verdict("p95_latency", P2, source, value, maximum, window, PASS if op == "<=" else FAIL, detail, data)


def _count(measured: Measured) -> str:
    if measured.count is None:
        return ""
    unanswered = f", {_num(measured.no_response)} without response" if measured.no_response else ""
    return f" ({_num(measured.count)} in the window{unanswered})"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"
