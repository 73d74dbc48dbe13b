"""Each pod's /metrics samples, kept across scrape rounds, and the increases over a span (pure).

One scrape per pod per round. Round 0 is the window's baseline; a pod first scraped later (a
pod that appeared during the bake, or whose baseline scrape failed) is counted from its process
start, as Prometheus counts a series that begins inside the range. Increases are summed between
consecutive samples, so a counter reset between two rounds loses nothing but the counts made
between the last scrape and the restart.

Probes the verifier itself sent are tagged with the round after which they were sent; a probe
tagged ``r`` shows in the samples of rounds ``> r``. Scrape rounds and probes never overlap (the
verifier runs them one after the other), so this is exact.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from pipeline.verify.prometheus_text import Scrape
from pipeline.verify.thresholds import PodIncrease, accumulate


@dataclass(frozen=True)
class Sample:
    round: int
    at: float                      # the provider's clock when the round started
    scrape: Scrape


@dataclass
class PodHistory:
    pod: str
    baseline: bool                 # samples[0] is the window's baseline; False: counted from the process start
    samples: list[Sample] = field(default_factory=list)
    error: str = ""                # the latest round's scrape error ("" when it succeeded)


@dataclass
class SampleStore:
    """Everything scraped in one window; ``rounds`` is the index the next round will get."""
    started: float
    pods: dict[str, PodHistory] = field(default_factory=dict)
    current: tuple[str, ...] = ()
    rounds: int = 0
    times: list[float] = field(default_factory=list)

    def record(self, at: float, results: Mapping[str, Scrape | str]) -> None:
        """One scrape round: ``results[pod]`` is its samples or an error sentence."""
        first = self.rounds == 0
        for pod, result in results.items():
            history = self.pods.setdefault(pod, PodHistory(pod, baseline=first and not isinstance(result, str)))
            if isinstance(result, str):
                history.error = result
            else:
                history.samples.append(Sample(self.rounds, at, result))
                history.error = ""
        self.current = tuple(results)
        self.times.append(at)
        self.rounds += 1

    def latest(self) -> float:
        return self.times[-1] if self.times else self.started

    def problems(self) -> list[str]:
        """Pods of the latest round without fresh samples (stale or never scraped)."""
        out = []
        for pod in self.current:
            history = self.pods.get(pod)
            if history is None or history.error:
                out.append(history.error if history and history.error else f"pod {pod}: not scraped yet")
            elif not history.samples:
                out.append(f"pod {pod}: never scraped")
        return out


def span_increase(history: PodHistory, since: float, self_inflicted: Sequence[int] = ()) -> PodIncrease | None:
    """The pod's increase from the last sample at or before ``since`` (or the baseline, or the
    process start) to its latest sample; None when it has no sample at all."""
    if not history.samples:
        return None
    at_or_before = [i for i, sample in enumerate(history.samples) if sample.at <= since]
    if at_or_before:
        start = at_or_before[-1]
    elif history.baseline:
        start = 0
    else:
        start = -1                                  # from the process start
    scrapes: list[Scrape | None] = [s.scrape for s in history.samples[max(start, 0):]]
    if start < 0:
        scrapes.insert(0, None)
    deltas, reset = accumulate(scrapes)
    first_round = history.samples[start].round if start >= 0 else None
    last_round = history.samples[-1].round
    caused = sum(1 for tag in self_inflicted if (first_round is None or tag >= first_round) and tag < last_round)
    return PodIncrease(history.pod, deltas, reset, caused)


def increases(store: SampleStore, since: float, self_inflicted: Mapping[str, Sequence[int]]) -> list[PodIncrease]:
    """Every pod seen in the window (gone ones keep the evidence they gave)."""
    found = (span_increase(h, since, self_inflicted.get(h.pod, ())) for h in store.pods.values())
    return [pod for pod in found if pod is not None]
