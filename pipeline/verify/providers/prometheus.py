"""Metrics from a Prometheus server's instant-query API (``GET /api/v1/query``).

The same measurements as the pod provider, as PromQL over the span ``[<W>s]`` ending at the
evaluation time, restricted to the pods (``pod=~"a|b"``) in the namespace; each verdict records
its query as ``source``. Two more queries give the evidence: the Klaviyo responses and the
latency observations in the span. An empty result is "no values" (``samples=False``), never
zero. Prometheus must scrape the pods more often than the span is long (``increase``/``rate``
need two samples inside it) and its ``increase`` extrapolates to the span edges, so values
may be fractional. ``observe`` costs no request (Prometheus does the scraping); ``measure``
sends seven queries.

Signature failures the verifier caused are subtracted from the sum over the pods (PromQL sums
them), counting the probes sent inside the span. Prometheus scrapes on its own schedule, so a
probe may be subtracted up to one Prometheus scrape interval before it shows: for that long a
genuine failure can be hidden; it shows at the next evaluation.
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


def queries(sel: str, seconds: int, quantile: float = 0.95) -> dict[str, str]:
    """The PromQL of every measurement for a span of ``seconds``."""
    window = f"[{seconds}s]"
    return {
        "auth_errors": f'sum(increase({RESPONSES}{{status=~"401|403",{sel}}}{window}))',
        "server_errors": f'sum(rate({RESPONSES}{{status=~"5..|error",{sel}}}{window})) * 60',
        "rate_limited": f'sum(rate({RESPONSES}{{status="429",{sel}}}{window})) * 60',
        "p95_latency": f"histogram_quantile({quantile}, sum by (le) (rate({DURATION_BUCKETS}{{{sel}}}{window})))",
        "webhook_signatures": f"sum(increase({SIGNATURE_FAILURES}{{{sel}}}{window}))",
        "requests": f"sum(increase({RESPONSES}{{{sel}}}{window}))",
        "observations": f"sum(increase({DURATION_COUNT}{{{sel}}}{window}))",
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
        seconds = max(1, round(end - since))
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


def _measurements(values: Mapping[str, float | None], seconds: int, caused: int) -> Measurements:
    def measured(name: str, count: float | None = None) -> Measured:
        value = values[name]
        if value is None or math.isnan(value):
            return Measured(None, False, count)
        return Measured(value, True, count)

    requests = values["requests"]
    minutes = seconds / 60
    server, throttled = measured("server_errors"), measured("rate_limited")
    signatures = measured("webhook_signatures")
    if signatures.value is not None:
        signatures = Measured(max(0.0, signatures.value - caused), True, max(0.0, signatures.value - caused))
    notes = (f"{caused} signature failure(s) were the verifier's own wrongly signed synthetic webhooks: "
             "not counted",) if caused else ()
    return Measurements(
        seconds, measured("auth_errors", values["auth_errors"]),
        Measured(server.value, server.samples, None if server.value is None else server.value * minutes),
        Measured(throttled.value, throttled.samples, None if throttled.value is None else throttled.value * minutes),
        measured("p95_latency", values["observations"] or 0.0), signatures, notes,
        None if requests is None or math.isnan(requests) else requests)
