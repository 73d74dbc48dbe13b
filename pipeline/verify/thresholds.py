"""The checklist's alert thresholds applied to the app's metrics over a window (pure).

Metrics (exported by the sample app, docs/app.md):

* ``klaviyo_api_responses_total{endpoint,status}``: responses from Klaviyo by HTTP status;
* ``klaviyo_api_request_duration_seconds`` histogram (``_bucket{le}``, label ``endpoint``);
* ``klaviyo_webhook_signature_failures_total``: webhooks rejected for a bad signature.

``status="error"`` (no response at all: network failure or timeout) counts with the 5xx:
the checklist's alert is "API Unreachable"; the detail says how many had no response.

Verdicts (the checklist's "Alert Thresholds" table; a value fails when it EXCEEDS the max):

=================== ======================================= ========
name                measured                                severity
=================== ======================================= ========
auth_errors         401 + 403 responses in the window       P1
server_errors       5xx responses per minute                P1
rate_limited        429 responses per minute                P2
p95_latency         p95 of request duration (seconds)       P2
webhook_signatures  signature failures in the window        P2
=================== ======================================= ========

Counters are turned into increases per series between two scrapes of each pod. A counter
that went down was reset (the pod restarted): the increase is then the end value, as
Prometheus's ``increase()`` counts it. A series absent at the start began during the window
(its whole end value counts); a series absent at the end was reset and not yet incremented
(0). A metric with no series at all counts 0 and the verdict says "no samples". The p95 uses
Prometheus's ``histogram_quantile`` interpolation over the summed bucket increases.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from pipeline.config import Thresholds
from pipeline.verify.prometheus_text import Labels, Scrape, named
from pipeline.verify.verdict import P1, P2, Verdict

RESPONSES = "klaviyo_api_responses_total"
DURATION_BUCKETS = "klaviyo_api_request_duration_seconds_bucket"
SIGNATURE_FAILURES = "klaviyo_webhook_signature_failures_total"
AUTH_STATUSES = ("401", "403")
NO_RESPONSE_STATUS = "error"      # the app's status label when Klaviyo did not answer at all
THROTTLED_STATUS = "429"


@dataclass(frozen=True)
class PodScrapes:
    """A pod's /metrics at the window start (None: the pod did not exist yet) and end."""
    pod: str
    start: Scrape | None
    end: Scrape


@dataclass(frozen=True)
class Measured:
    value: float | None            # None: not measurable (no latency observations)
    samples: bool = True           # False: no series of the metric at all
    count: float | None = None     # the raw count behind a per-minute rate, when known
    no_response: float = 0.0       # server_errors only: requests Klaviyo never answered (counted in)


@dataclass(frozen=True)
class Measurements:
    """What a provider measured over one window, before the thresholds are applied."""
    window_seconds: float
    auth_errors: Measured          # count
    server_errors: Measured        # per minute
    rate_limited: Measured         # per minute
    p95_latency: Measured          # seconds
    webhook_signatures: Measured   # count
    notes: tuple[str, ...] = field(default=())   # e.g. counter resets seen


# --------------------------------------------------------------------------- counters

def increase(start: float | None, end: float | None) -> tuple[float, bool]:
    """Counter increase between two readings and whether a reset was seen."""
    if end is None:
        return 0.0, start is not None and start > 0
    if start is None:
        return end, False
    if end < start:
        return end, True
    return end - start, False


def increases(pods: Sequence[PodScrapes], name: str) -> tuple[dict[str, dict[Labels, float]], list[str]]:
    """Per pod, the increase of every series of ``name``; and the pods where a reset was seen."""
    result: dict[str, dict[Labels, float]] = {}
    resets: list[str] = []
    for pod in pods:
        start = named(pod.start, name) if pod.start is not None else {}
        end = named(pod.end, name)
        deltas: dict[Labels, float] = {}
        for labels in set(start) | set(end):
            delta, reset = increase(start.get(labels), end.get(labels))
            deltas[labels] = delta
            if reset and pod.pod not in resets:
                resets.append(pod.pod)
        if deltas:
            result[pod.pod] = deltas
    return result, resets


def _label(labels: Labels, key: str) -> str:
    return dict(labels).get(key, "")


def _sum_where(per_pod: Mapping[str, Mapping[Labels, float]], keep) -> float:
    return sum(v for deltas in per_pod.values() for labels, v in deltas.items() if keep(labels))


# --------------------------------------------------------------------------- histogram_quantile

def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """Prometheus ``histogram_quantile`` (promql/quantile.go ``bucketQuantile``).

    ``buckets`` are (upper bound ``le``, cumulative count). NaN when there is no ``+Inf``
    bucket, fewer than two buckets, or no observations; a rank in the ``+Inf`` bucket
    returns the highest finite bound; otherwise linear interpolation inside the bucket
    (the first bucket starts at 0 when its bound is positive).
    """
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    merged: dict[float, float] = {}
    for bound, count in buckets:
        merged[bound] = merged.get(bound, 0.0) + count
    ordered = sorted(merged.items())
    if not ordered or not math.isinf(ordered[-1][0]):
        return math.nan
    counts: list[float] = []
    for _, count in ordered:                      # ensureMonotonic
        counts.append(max(count, counts[-1]) if counts else count)
    if len(ordered) < 2:
        return math.nan
    observations = counts[-1]
    if observations == 0:
        return math.nan
    rank = q * observations
    b = next((i for i in range(len(ordered) - 1) if counts[i] >= rank), len(ordered) - 1)
    if b == len(ordered) - 1:
        return ordered[-2][0]
    if b == 0 and ordered[0][0] <= 0:
        return ordered[0][0]
    start, end, count = 0.0, ordered[b][0], counts[b]
    if b > 0:
        start = ordered[b - 1][0]
        count -= counts[b - 1]
        rank -= counts[b - 1]
    return start + (end - start) * (rank / count)


def _bound(le: str) -> float:
    return math.inf if le in ("+Inf", "Inf", "inf") else float(le)


# --------------------------------------------------------------------------- measuring pods

def measure_pods(pods: Sequence[PodScrapes], window_seconds: float, quantile: float = 0.95) -> Measurements:
    """Measurements over the window from each pod's start and end scrape."""
    if window_seconds <= 0:
        raise ValueError(f"window_seconds must be positive, got {window_seconds!r}")
    minutes = window_seconds / 60
    responses, resets = increases(pods, RESPONSES)
    has_responses = bool(responses)

    def counted(keep) -> float:
        return _sum_where(responses, keep)

    auth = counted(lambda labels: _label(labels, "status") in AUTH_STATUSES)
    server = counted(lambda labels: _label(labels, "status").startswith("5"))
    unreachable = counted(lambda labels: _label(labels, "status") == NO_RESPONSE_STATUS)
    throttled = counted(lambda labels: _label(labels, "status") == THROTTLED_STATUS)

    buckets, bucket_resets = increases(pods, DURATION_BUCKETS)
    summed: dict[float, float] = {}
    for deltas in buckets.values():
        for labels, value in deltas.items():
            bound = _bound(_label(labels, "le"))
            summed[bound] = summed.get(bound, 0.0) + value
    p95 = histogram_quantile(quantile, list(summed.items()))
    observations = summed.get(math.inf, 0.0)

    failures, failure_resets = increases(pods, SIGNATURE_FAILURES)
    notes = tuple(f"counter reset on pod {pod} (restarted during the window)"
                  for pod in dict.fromkeys(resets + bucket_resets + failure_resets))
    return Measurements(
        window_seconds=window_seconds,
        auth_errors=Measured(auth, has_responses, auth),
        server_errors=Measured((server + unreachable) / minutes, has_responses, server + unreachable,
                               no_response=unreachable),
        rate_limited=Measured(throttled / minutes, has_responses, throttled),
        p95_latency=Measured(None if math.isnan(p95) else p95, bool(buckets), observations),
        webhook_signatures=Measured(_sum_where(failures, lambda _: True), bool(failures)),
        notes=notes,
    )


# --------------------------------------------------------------------------- verdicts

def evaluate(measurements: Measurements, thresholds: Thresholds, sources: Mapping[str, str]) -> list[Verdict]:
    """One verdict per threshold. ``sources[name]`` says where each value came from."""
    m, t, w = measurements, thresholds, measurements.window_seconds
    over = f"over {_num(w)}s"
    verdicts = [
        _verdict("auth_errors", P1, m.auth_errors, t.auth_errors_max, w, sources,
                 lambda v, op: f"401/403 {_num(v)} {op} {_num(t.auth_errors_max)} {over}"
                               + (" (P1: key may be revoked)" if op == ">" else "")),
        _verdict("server_errors", P1, m.server_errors, t.server_errors_per_minute_max, w, sources,
                 lambda v, op: f"5xx {v:.1f}/min {op} {_num(t.server_errors_per_minute_max)}/min {over}"
                               + _count(m.server_errors)),
        _verdict("rate_limited", P2, m.rate_limited, t.throttled_per_minute_max, w, sources,
                 lambda v, op: f"429 {v:.1f}/min {op} {_num(t.throttled_per_minute_max)}/min {over}"
                               + _count(m.rate_limited)),
        _verdict("webhook_signatures", P2, m.webhook_signatures, t.webhook_signature_failures_max, w, sources,
                 lambda v, op: f"webhook signature failures {_num(v)} {op} "
                               f"{_num(t.webhook_signature_failures_max)} {over}"),
    ]
    verdicts.insert(3, _latency(m, t, sources))
    if m.notes:
        verdicts = [Verdict(v.name, v.severity, v.source, v.value, v.threshold, v.window_seconds, v.passed,
                            v.detail, {**v.data, "notes": list(m.notes)}) for v in verdicts]
    return verdicts


def _verdict(name, severity, measured: Measured, maximum: float, window: float,
             sources: Mapping[str, str], describe) -> Verdict:
    value = measured.value or 0.0
    passed = value <= maximum
    detail = describe(value, "<=" if passed else ">")
    if not measured.samples:
        detail += " (no samples)"
    data = {} if measured.count is None else {"count": measured.count}
    if measured.no_response:
        data["no_response"] = measured.no_response
    return Verdict(name, severity, sources.get(name, ""), value, maximum, window, passed, detail, data)


def _latency(m: Measurements, t: Thresholds, sources: Mapping[str, str]) -> Verdict:
    maximum, window = t.p95_latency_seconds_max, m.window_seconds
    value = m.p95_latency.value
    if value is None:
        detail = (f"p95 latency: no requests observed over {_num(window)}s"
                  + ("" if m.p95_latency.samples else " (no samples)"))
        return Verdict("p95_latency", P2, sources.get("p95_latency", ""), None, maximum, window, True, detail,
                       {"observations": 0})
    passed = value <= maximum
    detail = f"p95 latency {value:.3g}s {'<=' if passed else '>'} {_num(maximum)}s over {_num(window)}s"
    data = {} if m.p95_latency.count is None else {"observations": m.p95_latency.count}
    return Verdict("p95_latency", P2, sources.get("p95_latency", ""), value, maximum, window, passed, detail, data)


def _count(measured: Measured) -> str:
    if measured.count is None:
        return ""
    unanswered = f", {_num(measured.no_response)} without response" if measured.no_response else ""
    return f" ({_num(measured.count)} in the window{unanswered})"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"
