"""Metric providers: where verification reads the app's metrics from.

Like Flagger's metric providers, each provider is one file implementing one small
interface of two methods:

* ``begin(pods) -> Window``: mark the start of a measurement window for these pods;
* ``verdicts(window) -> list[Verdict]``: measure from the window's start to now and apply
  the thresholds (``pipeline.verify.thresholds``).

``pods.PodMetricsProvider`` scrapes each new pod's ``/metrics`` through the API server's
pod proxy (no Prometheus needed; the default, ``rollout.metrics_source = "pods"``);
``prometheus.PrometheusProvider`` asks a Prometheus server (``metrics_source =
"prometheus"``). If a provider cannot measure, it returns a failing ``metrics_unavailable``
verdict (P1) rather than raising: an unverifiable release is not a verified one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from pipeline.verify.verdict import P1, Verdict

VERDICT_NAMES = ("auth_errors", "server_errors", "rate_limited", "p95_latency", "webhook_signatures")


@dataclass(frozen=True)
class Window:
    pods: tuple[str, ...]
    started: float                 # clock() at begin (unix seconds)
    state: Any = field(default=None, compare=False)   # provider-specific (the start scrapes)


class MetricsProvider(Protocol):
    name: str

    def begin(self, pods: Sequence[str]) -> Window: ...

    def verdicts(self, window: Window) -> list[Verdict]: ...


def unavailable(source: str, detail: str, window_seconds: float) -> Verdict:
    return Verdict("metrics_unavailable", P1, source, None, None, window_seconds, False, detail)
