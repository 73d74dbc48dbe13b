"""Metrics from each new pod's /metrics through the API server's pod proxy."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

from pipeline.config import Thresholds
from pipeline.verify.podproxy import PodProxy
from pipeline.verify.prometheus_text import MetricsParseError, Scrape, parse
from pipeline.verify.providers import VERDICT_NAMES, Window, unavailable
from pipeline.verify.thresholds import PodScrapes, evaluate, measure_pods
from pipeline.verify.verdict import Verdict


class PodMetricsProvider:
    """Two scrapes per pod (window start and end); counters are differenced per series.

    A pod that could not be scraped at the start is measured from its process start
    (every count it has counts: conservative); one that cannot be scraped at the end makes
    a failing ``metrics_unavailable`` verdict.
    """
    name = "pods"

    def __init__(self, proxy: PodProxy, port: int, thresholds: Thresholds, path: str = "/metrics",
                 clock: Callable[[], float] = time.time):
        self.proxy, self.port, self.thresholds, self.path, self.clock = proxy, port, thresholds, path, clock

    def scrape(self, pod: str) -> Scrape | str:
        """The pod's samples, or an error sentence."""
        response = self.proxy.get(pod, self.port, self.path)
        source = f"pod {pod} {self.path}"
        if response.status != 200:
            why = response.error or f"HTTP {response.status} {response.body.strip()[:120]}"
            return f"{source}: {why}"
        try:
            return parse(response.body, source)
        except MetricsParseError as exc:
            return str(exc)

    def _scrape_all(self, pods: Sequence[str]) -> list[Scrape | str]:
        if not pods:
            return []
        with ThreadPoolExecutor(max_workers=min(8, len(pods))) as pool:
            return list(pool.map(self.scrape, pods))

    def begin(self, pods: Sequence[str]) -> Window:
        started = self.clock()
        scrapes = self._scrape_all(pods)
        start = {pod: s for pod, s in zip(pods, scrapes) if not isinstance(s, str)}
        return Window(tuple(pods), started, start)

    def verdicts(self, window: Window) -> list[Verdict]:
        seconds = max(self.clock() - window.started, 1e-3)
        source = f"pod {', '.join(window.pods)} {self.path}" if window.pods else f"no pods {self.path}"
        if not window.pods:
            return [unavailable(source, "no new pods to measure", seconds)]
        ends = self._scrape_all(window.pods)
        errors = [e for e in ends if isinstance(e, str)]
        if errors:
            return [unavailable(source, "; ".join(errors), seconds)]
        pods = [PodScrapes(pod, window.state.get(pod), end) for pod, end in zip(window.pods, ends)]
        measured = measure_pods(pods, seconds)
        return evaluate(measured, self.thresholds, {name: source for name in VERDICT_NAMES})
