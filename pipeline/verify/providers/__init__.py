"""Metric providers: where verification reads the app's metrics from.

Like Flagger's metric providers, each provider is one file implementing one small interface:

* ``begin(pods) -> Window``: start a measurement window for these pods (the pods provider
  scrapes each pod once: the baseline);
* ``observe(window, pods)``: one round, called once per scrape interval (the pods provider
  scrapes each pod once and keeps the samples; ``pods`` may change between rounds: pods that
  appear are counted from their process start, pods that leave keep the evidence they gave);
* ``measure(window, span_seconds, self_inflicted) -> Reading``: what the rounds so far show,
  over the whole window (``span_seconds=None``) or its last ``span_seconds``; pure over what
  was observed for the pods provider, a few queries for Prometheus.

``pods.PodMetricsProvider`` scrapes each pod's ``/metrics`` through the API server's pod proxy
(the default, ``rollout.metrics_source = "pods"``); ``prometheus.PrometheusProvider`` asks a
Prometheus server (``metrics_source = "prometheus"``). A provider that cannot read a source
says so in ``Reading.problems``: the verdicts are then inconclusive, never a pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

from pipeline.verify.thresholds import Measurements


@dataclass(frozen=True)
class Window:
    pods: tuple[str, ...]
    started: float                 # the provider's clock at begin
    state: Any = field(default=None, compare=False)   # provider-specific (the pods' samples)


@dataclass(frozen=True)
class Reading:
    measurements: Measurements | None   # None: nothing could be measured yet
    sources: Mapping[str, str]          # verdict name -> where its value came from
    problems: tuple[str, ...] = ()      # stale or unreadable sources (the verdicts are then inconclusive)


class MetricsProvider(Protocol):
    name: str

    def begin(self, pods: Sequence[str]) -> Window: ...

    def observe(self, window: Window, pods: Sequence[str]) -> None: ...

    def measure(self, window: Window, span_seconds: float | None = None,
                self_inflicted: Mapping[str, Sequence[int]] | None = None) -> Reading: ...
