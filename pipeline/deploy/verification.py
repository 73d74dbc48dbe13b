"""Verify new pods at a gate and during the bake: health first, then metrics over a window.

Health is point-in-time and fails fast (a release whose pods cannot reach Klaviyo is judged
the moment they are ready). Metrics need a window: the provider marks its start, the window
passes (an interruptible wait: metric windows are time by nature), and the provider judges
the increase against the checklist's thresholds. The bake repeats windows until it has run
its length, stopping at the first failed verdict.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from pipeline.deploy.failure import failure_kind
from pipeline.verify.health import check_health
from pipeline.verify.podproxy import PodProxy
from pipeline.verify.providers import MetricsProvider
from pipeline.verify.verdict import Verdict, failed


@dataclass
class Verification:
    stage: str
    verdicts: list[Verdict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.verdicts) and not failed(self.verdicts)

    @property
    def failure_kind(self) -> str | None:
        return None if self.passed else failure_kind(self.verdicts)

    @property
    def detail(self) -> str:
        bad = failed(self.verdicts)
        if bad:
            return "; ".join(v.detail for v in bad[:3]) + (f" (+{len(bad) - 3} more)" if len(bad) > 3 else "")
        return f"{len(self.verdicts)} verdicts passed"


class Verifier:
    def __init__(self, proxy: PodProxy, provider: MetricsProvider, port: int, health_path: str,
                 stop: threading.Event | None = None, disabled_ok: bool = True) -> None:
        self.proxy, self.provider, self.port, self.health_path = proxy, provider, port, health_path
        self.stop = stop or threading.Event()
        self.disabled_ok = disabled_ok

    def health(self, stage: str, pods: Sequence[str]) -> Verification:
        start = time.monotonic()
        verdicts = check_health(self.proxy, pods, self.port, self.health_path, self.disabled_ok)
        if not pods:
            verdicts = [Verdict("health", "P1", "deployment", None, None, 0, False, "no new pods to verify")]
        return Verification(stage, verdicts, time.monotonic() - start)

    def window(self, stage: str, pods: Sequence[str], seconds: float) -> Verification:
        """Health now; if healthy, metrics over ``seconds``; then health again."""
        start = time.monotonic()
        result = self.health(stage, pods)
        if not result.passed:
            return result
        window = self.provider.begin(pods)
        if self.stop.wait(seconds):
            result.verdicts.append(Verdict("interrupted", "P1", "pipeline", None, None, seconds, False,
                                           "verification interrupted"))
            return result
        result.verdicts += self.provider.verdicts(window)
        if not failed(result.verdicts):
            result.verdicts += self.health(stage, pods).verdicts
        result.seconds = time.monotonic() - start
        return result

    def bake(self, stage: str, pods: Callable[[], Sequence[str]], total_seconds: float,
             window_seconds: float) -> Verification:
        """Windows of ``window_seconds`` until ``total_seconds`` have passed; stops at the first failure."""
        start = time.monotonic()
        result = Verification(stage)
        while True:
            remaining = total_seconds - (time.monotonic() - start)
            step = self.window(stage, pods(), max(0.5, min(window_seconds, remaining)))
            result.verdicts += step.verdicts
            if not step.passed or time.monotonic() - start >= total_seconds:
                break
        result.seconds = time.monotonic() - start
        return result
