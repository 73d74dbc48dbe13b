"""Metrics from a Prometheus server's instant-query API (``GET /api/v1/query``).

The same measurements as the pod provider, as PromQL over the span ``[<W>ms]`` ending at the
evaluation time, restricted to the pods (``pod=~"a|b"``) in the namespace; each verdict records
its query as ``source``. Two more queries give the evidence: the Klaviyo responses and the
latency observations in the span. Each series counts exactly what it counted in the span
(:func:`counted`: the last value minus the one at the span's start; a series born in the span
from its process start), so the first 401 of a pod is never lost and nothing is extrapolated.
Rates are those counts per minute of the span. An empty result is "no values"
(``samples=False``), never zero, except a status with no series while the responses were
measured (the app has not answered it yet: 0, as the pods provider counts it). Prometheus must
have scraped the pods inside the span. ``observe`` costs no request (Prometheus does
the scraping); ``measure`` sends seven queries.

Signature failures count from each series' first sample in the span
(:func:`counted_after_first_sample`), and those the verifier caused are subtracted from the sum
over the pods (PromQL sums them), counting the probes sent inside the span. Prometheus scrapes
on its own schedule, so a probe may be subtracted although it is in the baseline sample (a new
pod is scraped only once its discovery reaches Prometheus): for that span a genuine failure can
be hidden (never below zero).
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import httpx

from pipeline.verify.providers import Reading, Window
from pipeline.verify.thresholds import (DURATION_BUCKETS, RESPONSES, SIGNATURE_FAILURES, VERDICT_NAMES, Measured,
                                        Measurements)

DURATION_COUNT = "klaviyo_api_request_duration_seconds_count"


class PrometheusError(RuntimeError):
    pass


def selector(namespace: str, pods: Sequence[str], pod_label: str = "pod", namespace_label: str = "namespace") -> str:
    r"""``namespace="ns",pod=~"a|b"``.

    Pod names are DNS names (``[a-z0-9.-]``); regex metacharacters are escaped and the
    backslash doubled for the PromQL string literal (``"web\\.1"``: PromQL rejects ``\.``).
    """
    alternatives = "|".join(re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\\\1", pod) for pod in pods)
    return f'{namespace_label}="{namespace}",{pod_label}=~"{alternatives}"'


def duration(seconds: float) -> str:
    """A PromQL duration to the millisecond (``120s``, ``1623ms``): a span starts exactly where
    its stage did, not up to half a second before or after."""
    ms = max(1, round(seconds * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def counted(series: str, seconds: float) -> str:
    """Per series, what it counted in the span ``[<seconds>s]`` ending at the evaluation time:
    exactly, as the pods provider counts it, never extrapolated.

    * a series with a sample at the span's start (``offset``): its last value minus that one;
    * a series born in the span (a new pod; a status such as 401, whose series the app creates
      at its first response with value 1), or one that went down across the span (the pod
      restarted): its last value, counted from its process start;
    * a series that went down inside the span (``resets``): ``increase()``, which handles the
      reset (and extrapolates: fractional values are possible only there).

    ``increase()`` alone would miss a new series' first increments (the very ones a threshold of
    0 must see) and its extrapolation turns an exact 1 into 1.14: a false breach once the
    verifier's own probe is subtracted. One sample in the span is enough."""
    window = f"[{duration(seconds)}]"
    last = f"last_over_time({series}{window})"
    restarted = f"(increase({series}{window}) and resets({series}{window}) > 0)"
    grown = f"({last} - {series} offset {duration(seconds)} >= 0)"
    return f"{restarted} or {grown} or {last}"


def counted_after_first_sample(series: str, seconds: float) -> str:
    """Per series, what it counted after its first sample in the span (``increase()`` when it
    went down inside the span). For the signature failures: the verifier's refused probes are
    known only to the stage that sent them, and Prometheus scrapes on its own schedule, so a
    probe sent just before this span may first show in a sample inside it, where nothing would
    subtract it (a false breach); taking the first sample as the baseline leaves it out. The
    cost: a genuine failure between the span's start and a pod's first scrape in it is not
    counted in this span."""
    window = f"[{duration(seconds)}]"
    restarted = f"(increase({series}{window}) and resets({series}{window}) > 0)"
    return f"{restarted} or (last_over_time({series}{window}) - min_over_time({series}{window}))"


def queries(sel: str, seconds: float, quantile: float = 0.95) -> dict[str, str]:
    """The PromQL of every measurement for a span of ``seconds`` (counts; rates per minute)."""
    def total(metric: str, matchers: str = "") -> str:
        return f"sum({counted(metric + '{' + matchers + sel + '}', seconds)})"

    per_minute = f" * 60 / {seconds:g}"
    buckets = counted(DURATION_BUCKETS + "{" + sel + "}", seconds)
    return {
        "auth_errors": total(RESPONSES, 'status=~"401|403",'),
        "server_errors": total(RESPONSES, 'status=~"5..|error",') + per_minute,
        "rate_limited": total(RESPONSES, 'status="429",') + per_minute,
        "p95_latency": f"histogram_quantile({quantile}, sum by (le) ({buckets}))",
        "webhook_signatures": f"sum({counted_after_first_sample(SIGNATURE_FAILURES + '{' + sel + '}', seconds)})",
        "requests": total(RESPONSES),
        "observations": total(DURATION_COUNT),
    }


def parse_vector(payload: dict) -> float | None:
    """The single value of an instant-vector reply; None for an empty vector."""
    if payload.get("status") != "success":
        raise PrometheusError(f"{payload.get('errorType', 'error')}: {payload.get('error', 'query failed')}")
    data = payload.get("data") or {}
    if data.get("resultType") not in ("vector", "scalar"):
        raise PrometheusError(f"unexpected resultType {data.get('resultType')!r}")
    result = data.get("result") or []
    if data["resultType"] == "scalar":
        return float(result[1])
    if not result:
        return None
    return float(result[0]["value"][1])


@dataclass
class Rounds:
    """The observation rounds of one window: their times and the pods of the latest."""
    times: list[float] = field(default_factory=list)
    pods: tuple[str, ...] = ()


class PrometheusProvider:
    name = "prometheus"

    def __init__(self, url: str, namespace: str, pod_label: str = "pod",
                 namespace_label: str = "namespace", timeout: float = 10.0,
                 clock: Callable[[], float] = time.time, client: httpx.Client | None = None):
        self.url, self.namespace = url.rstrip("/"), namespace
        self.pod_label, self.namespace_label, self.clock = pod_label, namespace_label, clock
        self.client = client or httpx.Client(timeout=timeout)
        self.requests = 0

    def query(self, promql: str, at: float) -> float | None:
        self.requests += 1
        try:
            response = self.client.get(f"{self.url}/api/v1/query", params={"query": promql, "time": f"{at:.3f}"})
        except httpx.HTTPError as exc:
            raise PrometheusError(f"{self.url} unreachable: {type(exc).__name__}: {exc}") from None
        try:
            payload = response.json()
        except ValueError:
            raise PrometheusError(f"HTTP {response.status_code}, not JSON: {response.text[:120]!r}") from None
        return parse_vector(payload)

    def begin(self, pods: Sequence[str]) -> Window:
        started = self.clock()
        return Window(tuple(pods), started, Rounds([started], tuple(pods)))

    def observe(self, window: Window, pods: Sequence[str]) -> None:
        window.state.times.append(self.clock())
        window.state.pods = tuple(pods)

    def measure(self, window: Window, span_seconds: float | None = None,
                self_inflicted: Mapping[str, Sequence[int]] | None = None) -> Reading:
        rounds: Rounds = window.state
        end = self.clock()
        since = window.started if span_seconds is None else max(window.started, end - span_seconds)
        seconds = max(1, round((end - since) * 1000)) / 1000
        promql = queries(selector(self.namespace, rounds.pods, self.pod_label, self.namespace_label), seconds)
        sources = {name: text for name, text in promql.items() if name in VERDICT_NAMES}
        if not rounds.pods:
            return Reading(None, sources, (f"{self.url}: no pods to measure",))
        values: dict[str, float | None] = {}
        for name, text in promql.items():
            try:
                values[name] = self.query(text, end)
            except PrometheusError as exc:
                return Reading(None, sources, (f"Prometheus query failed: {exc}",))
        caused = sum(1 for tags in (self_inflicted or {}).values() for tag in tags
                     if tag + 1 < len(rounds.times) and rounds.times[tag] >= since)
        return Reading(_measurements(values, seconds, caused), sources)


STATUS_COUNTS = ("auth_errors", "server_errors", "rate_limited")


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def _measurements(values: Mapping[str, float | None], seconds: float, caused: int) -> Measurements:
    """The queries' values as measurements. The app creates a status's series at its first
    response, so with responses measured a status with no series counted 0 (as the pods
    provider has it); with no responses at all it is "no values"."""
    requests = _number(values["requests"])
    minutes = seconds / 60

    def measured(name: str, count: float | None = None) -> Measured:
        value = _number(values[name])
        if value is None and name in STATUS_COUNTS and requests is not None:
            value = 0.0
        if value is None:
            return Measured(None, False, count)
        return Measured(value, True, value * minutes if count is None and name in STATUS_COUNTS else count)

    signatures = measured("webhook_signatures")
    if signatures.value is not None:
        signatures = Measured(max(0.0, signatures.value - caused), True, max(0.0, signatures.value - caused))
    notes = (f"{caused} signature failure(s) were the verifier's own wrongly signed synthetic webhooks: "
             "not counted",) if caused else ()
    auth = measured("auth_errors")
    return Measurements(
        seconds, Measured(auth.value, auth.samples, auth.value), measured("server_errors"),
        measured("rate_limited"), measured("p95_latency", _number(values["observations"]) or 0.0),
        signatures, notes, requests)
