"""Metrics from a Prometheus server's instant-query API (``GET /api/v1/query``).

The same five verdicts as the pod provider, as PromQL over the window ``[<W>s]`` ending at
the evaluation time, restricted to the new pods (``pod=~"a|b"``) in the namespace; each
verdict records its query as ``source``. Prometheus must scrape the pods more often than
the window is long (``increase``/``rate`` need two samples inside it) and its
``increase`` extrapolates to the window edges, so values may be fractional.
"""
from __future__ import annotations

import math
import re
import time
from typing import Callable, Sequence

import httpx

from pipeline.config import Thresholds
from pipeline.verify.providers import Window, unavailable
from pipeline.verify.thresholds import (DURATION_BUCKETS, RESPONSES, SIGNATURE_FAILURES, Measured, Measurements,
                                        evaluate)
from pipeline.verify.verdict import Verdict


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
    """The PromQL of every verdict for a window of ``seconds``."""
    window = f"[{seconds}s]"
    return {
        "auth_errors": f'sum(increase({RESPONSES}{{status=~"401|403",{sel}}}{window}))',
        "server_errors": f'sum(rate({RESPONSES}{{status=~"5..|error",{sel}}}{window})) * 60',
        "rate_limited": f'sum(rate({RESPONSES}{{status="429",{sel}}}{window})) * 60',
        "p95_latency": f"histogram_quantile({quantile}, sum by (le) (rate({DURATION_BUCKETS}{{{sel}}}{window})))",
        "webhook_signatures": f"sum(increase({SIGNATURE_FAILURES}{{{sel}}}{window}))",
    }


def parse_vector(payload: dict) -> float | None:
    """The single value of an instant-vector reply; None for an empty vector."""
    if payload.get("status") != "success":
        raise PrometheusError(f"{payload.get('errorType', 'error')}: {payload.get('error', 'query failed')}")
    data = payload.get("data") or {}
    if data.get("resultType") not in ("vector", "scalar"):
        raise PrometheusError(f"unexpected resultType {data.get('resultType')!r}")
    result = data.get("result")
    if data["resultType"] == "scalar":
        return float(result[1])
    if not result:
        return None
    return float(result[0]["value"][1])


class PrometheusProvider:
    name = "prometheus"

    def __init__(self, url: str, namespace: str, thresholds: Thresholds, pod_label: str = "pod",
                 namespace_label: str = "namespace", timeout: float = 10.0,
                 clock: Callable[[], float] = time.time, client: httpx.Client | None = None):
        self.url, self.namespace, self.thresholds = url.rstrip("/"), namespace, thresholds
        self.pod_label, self.namespace_label, self.clock = pod_label, namespace_label, clock
        self.client = client or httpx.Client(timeout=timeout)

    def query(self, promql: str, at: float) -> float | None:
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
        return Window(tuple(pods), self.clock())

    def verdicts(self, window: Window) -> list[Verdict]:
        end = self.clock()
        seconds = max(1, round(end - window.started))
        promql = queries(selector(self.namespace, window.pods, self.pod_label, self.namespace_label), seconds)
        if not window.pods:
            return [unavailable(self.url, "no new pods to measure", seconds)]
        values: dict[str, float | None] = {}
        for name, text in promql.items():
            try:
                values[name] = self.query(text, end)
            except PrometheusError as exc:
                return [unavailable(text, f"Prometheus query failed: {exc}", seconds)]

        def measured(name: str) -> Measured:
            value = values[name]
            if value is None or math.isnan(value):
                return Measured(None if name == "p95_latency" else 0.0, False)
            return Measured(value)

        measurements = Measurements(seconds, measured("auth_errors"), measured("server_errors"),
                                    measured("rate_limited"), measured("p95_latency"), measured("webhook_signatures"))
        return evaluate(measurements, self.thresholds, promql)
