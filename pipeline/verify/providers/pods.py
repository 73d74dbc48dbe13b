"""Metrics from each pod's /metrics through the API server's pod proxy: one scrape per pod per round."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Mapping, Protocol, Sequence

from pipeline.verify.podproxy import ProxyResponse
from pipeline.verify.prometheus_text import MetricsParseError, Scrape, parse
from pipeline.verify.providers import Reading, Window
from pipeline.verify.samples import SampleStore, increases
from pipeline.verify.thresholds import VERDICT_NAMES, measure
from pipeline.verify.transient import describe


class Getter(Protocol):
    def get(self, pod: str, port: int, path: str) -> ProxyResponse: ...


class PodMetricsProvider:
    """Scrapes each pod once per round (the proxy retries transient answers) and keeps the
    samples in the window; ``measure`` is pure over them, so judging costs no request."""
    name = "pods"

    def __init__(self, proxy: Getter, port: int, path: str = "/metrics",
                 clock: Callable[[], float] = time.monotonic):
        self.proxy, self.port, self.path, self.clock = proxy, port, path, clock

    def scrape(self, pod: str) -> Scrape | str:
        """The pod's samples, or an error sentence."""
        response = self.proxy.get(pod, self.port, self.path)
        source = f"pod {pod} {self.path}"
        if response.status != 200:
            tries = f" after {response.attempts} attempts" if response.attempts > 1 else ""
            return f"{source}: {describe(response.status, response.body, response.error)}{tries}"
        try:
            return parse(response.body, source)
        except MetricsParseError as exc:
            return str(exc)

    def _round(self, store: SampleStore, pods: Sequence[str]) -> None:
        at = self.clock()
        if pods:
            with ThreadPoolExecutor(max_workers=min(8, len(pods))) as pool:
                results = dict(zip(pods, pool.map(self.scrape, pods)))
        else:
            results = {}
        store.record(at, results)

    def begin(self, pods: Sequence[str]) -> Window:
        store = SampleStore(self.clock())
        self._round(store, pods)
        return Window(tuple(pods), store.started, store)

    def observe(self, window: Window, pods: Sequence[str]) -> None:
        self._round(window.state, pods)

    def measure(self, window: Window, span_seconds: float | None = None,
                self_inflicted: Mapping[str, Sequence[int]] | None = None) -> Reading:
        store: SampleStore = window.state
        latest = store.latest()
        since = store.started if span_seconds is None else max(store.started, latest - span_seconds)
        pods = increases(store, since, self_inflicted or {})
        source = f"pod {', '.join(store.current)} {self.path}" if store.current else f"no pods {self.path}"
        sources = {name: source for name in VERDICT_NAMES}
        problems = tuple(store.problems()) if store.current else (f"no pods to measure ({self.path})",)
        if not pods or latest <= since:
            return Reading(None, sources, problems or ("no scrape round after the baseline yet",))
        return Reading(measure(pods, latest - since), sources, problems)
