"""The app's metrics measured over a span, as the checklist's alert thresholds need them (pure).

Metrics (exported by the sample app, docs/app.md):

* ``klaviyo_api_responses_total{endpoint,status}``: responses from Klaviyo by HTTP status;
* ``klaviyo_api_request_duration_seconds`` histogram (``_bucket{le}``, label ``endpoint``);
* ``klaviyo_webhook_signature_failures_total``: webhooks rejected for a bad signature.

``status="error"`` (no response at all: network failure or timeout) counts with the 5xx:
the checklist's alert is "API Unreachable"; the detail says how many had no response.

What is measured (``pipeline.verify.judge`` applies the thresholds and the evidence floor):

=================== ======================================= ========
name                measured                                severity
=================== ======================================= ========
auth_errors         401 + 403 responses in the span         P1
server_errors       5xx responses per minute                P1
rate_limited        429 responses per minute                P2
p95_latency         p95 of request duration (seconds)       P2
webhook_signatures  signature failures in the span          P2
=================== ======================================= ========

plus ``requests``, the Klaviyo responses in the span: the evidence behind every request-based
verdict.

Counters are turned into increases per series between consecutive scrapes of each pod
(:func:`increase`). A counter that went down was reset (the pod restarted): the increase is
then the new value, as Prometheus's ``increase()`` counts it. A series absent at the start
began during the span (its whole value counts); a series absent at the end was reset and not
yet incremented (0). A pod counted from its process start (no baseline scrape) counts its whole
values. A metric with no series at all is measured with ``samples=False`` ("no values" is not
zero). The p95 uses Prometheus's ``histogram_quantile`` interpolation over the summed bucket
increases. Signature failures the verifier caused itself (its wrongly signed synthetic
webhooks, refused by the pod) are subtracted per pod, never below zero.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

from pipeline.verify.certainty import cumulative
from pipeline.verify.prometheus_text import Labels, Scrape, Series

RESPONSES = "klaviyo_api_responses_total"
DURATION_BUCKETS = "klaviyo_api_request_duration_seconds_bucket"
SIGNATURE_FAILURES = "klaviyo_webhook_signature_failures_total"
AUTH_STATUSES = ("401", "403")
NO_RESPONSE_STATUS = "error"      # the app's status label when Klaviyo did not answer at all
THROTTLED_STATUS = "429"
VERDICT_NAMES = ("auth_errors", "server_errors", "rate_limited", "p95_latency", "webhook_signatures")


@dataclass(frozen=True)
class PodScrapes:
    """A pod's /metrics at the span start (None: counted from its process start) and end."""
    pod: str
    start: Scrape | None
    end: Scrape


@dataclass(frozen=True)
class PodIncrease:
    """One pod's increase of every series over a span."""
    pod: str
    increases: Mapping[Series, float]
    reset: bool = False                # a counter went down during the span (the pod restarted)
    self_inflicted_signature_failures: int = 0   # the verifier's own refused probes in the span


@dataclass(frozen=True)
class Measured:
    value: float | None            # None: not measurable (no latency observations)
    samples: bool = True           # False: no series of the metric at all
    count: float | None = None     # the raw count behind a per-minute rate, when known
    no_response: float = 0.0       # server_errors only: requests Klaviyo never answered (counted in)
    buckets: tuple[tuple[float, float], ...] = ()   # p95_latency only: (le, cumulative count) over the
    #                                  span, when known; lets the judge fail a certain breach before the floor


@dataclass(frozen=True)
class Measurements:
    """What a provider measured over one span, before the thresholds are applied."""
    window_seconds: float
    auth_errors: Measured          # count
    server_errors: Measured        # per minute
    rate_limited: Measured         # per minute
    p95_latency: Measured          # seconds; count = latency observations
    webhook_signatures: Measured   # count
    notes: tuple[str, ...] = field(default=())   # e.g. counter resets seen
    requests: float | None = None  # Klaviyo responses in the span (the evidence); None: unknown


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


def scrape_increase(start: Scrape | None, end: Scrape) -> tuple[dict[Series, float], bool]:
    """Every series' increase from ``start`` (None: from the process start) to ``end``."""
    before = start or {}
    deltas: dict[Series, float] = {}
    reset = False
    for key in set(before) | set(end):
        deltas[key], went_down = increase(before.get(key), end.get(key))
        reset = reset or went_down
    return deltas, reset


def accumulate(scrapes: Sequence[Scrape | None]) -> tuple[dict[Series, float], bool]:
    """Sum of increases between consecutive scrapes (the first may be None: the process start)."""
    total: dict[Series, float] = {}
    reset = False
    for before, after in zip(scrapes, scrapes[1:]):
        assert after is not None
        deltas, went_down = scrape_increase(before, after)
        reset = reset or went_down
        for key, value in deltas.items():
            total[key] = total.get(key, 0.0) + value
    return total, reset


def pod_increase(pod: PodScrapes, self_inflicted: int = 0) -> PodIncrease:
    deltas, reset = scrape_increase(pod.start, pod.end)
    return PodIncrease(pod.pod, deltas, reset, self_inflicted)


def _label(labels: Labels, key: str) -> str:
    return dict(labels).get(key, "")


def _of(pods: Iterable[PodIncrease], name: str) -> list[tuple[str, Labels, float]]:
    return [(pod.pod, labels, value) for pod in pods for (sample, labels), value in pod.increases.items()
            if sample == name]


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
    ordered = cumulative(buckets)                 # merged, sorted, ensureMonotonic
    if not ordered or not math.isinf(ordered[-1][0]):
        return math.nan
    counts = [count for _, count in ordered]
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

def measure(pods: Sequence[PodIncrease], window_seconds: float, quantile: float = 0.95) -> Measurements:
    """Measurements over a span of ``window_seconds`` from each pod's increases."""
    if window_seconds <= 0:
        raise ValueError(f"window_seconds must be positive, got {window_seconds!r}")
    minutes = window_seconds / 60
    responses = _of(pods, RESPONSES)
    has_responses = bool(responses)

    def counted(keep: Callable[[str], bool]) -> float:
        return sum(value for _, labels, value in responses if keep(_label(labels, "status")))

    auth = counted(lambda status: status in AUTH_STATUSES)
    server = counted(lambda status: status.startswith("5"))
    unreachable = counted(lambda status: status == NO_RESPONSE_STATUS)
    throttled = counted(lambda status: status == THROTTLED_STATUS)

    buckets = _of(pods, DURATION_BUCKETS)
    summed: dict[float, float] = {}
    for _, labels, value in buckets:
        bound = _bound(_label(labels, "le"))
        summed[bound] = summed.get(bound, 0.0) + value
    p95 = histogram_quantile(quantile, list(summed.items()))
    observations = summed.get(math.inf, 0.0)

    failures = _of(pods, SIGNATURE_FAILURES)
    signature_failures = sum(max(0.0, sum(v for name, _, v in failures if name == pod.pod)
                                 - pod.self_inflicted_signature_failures) for pod in pods)
    notes = tuple(f"counter reset on pod {pod.pod} (restarted during the window)" for pod in pods if pod.reset)
    notes += tuple(f"{pod.self_inflicted_signature_failures} signature failure(s) on pod {pod.pod} were the "
                   "verifier's own wrongly signed synthetic webhooks: not counted"
                   for pod in pods if pod.self_inflicted_signature_failures)
    return Measurements(
        window_seconds=window_seconds,
        auth_errors=Measured(auth, has_responses, auth),
        server_errors=Measured((server + unreachable) / minutes, has_responses, server + unreachable,
                               no_response=unreachable),
        rate_limited=Measured(throttled / minutes, has_responses, throttled),
        p95_latency=Measured(None if math.isnan(p95) else p95, bool(buckets), observations,
                             buckets=tuple(sorted(summed.items()))),
        webhook_signatures=Measured(signature_failures, bool(failures), signature_failures),
        notes=notes,
        requests=counted(lambda _: True) if has_responses else None,
    )


def measure_pods(pods: Sequence[PodScrapes], window_seconds: float, quantile: float = 0.95) -> Measurements:
    """Measurements over the window from each pod's start and end scrape."""
    return measure([pod_increase(pod) for pod in pods], window_seconds, quantile)
