"""Verify pods at a gate and during the bake: fail closed, judge continuously.

* ``health(stage, pods)``: each pod's ``/health`` now (the proxy retries transient answers).
* ``gate(stage, pods, max_seconds)``: a metrics baseline (one scrape per pod), health, the
  synthetic webhooks, then one scrape round per ``scrape_interval_seconds``, judged after each
  round. Returns at the first breach (fail), or as soon as every verdict has its evidence
  (pass). ``max_seconds`` is the longest wait for that evidence, not a sleep: still
  inconclusive then, the gate fails with a verdict ``inconclusive`` saying why.
* ``bake(stage, pods, seconds)``: the same rounds for the whole bake (the bake *is* a
  duration), with the pods re-read each round; fails at once on a breach, fails as
  inconclusive if the evidence floor was never met, health again at the end.

Rates and p95 are judged over the whole window and, once it is longer than a minute, over its
last minute too (the checklist's "per minute"), so a late burst is not diluted by a long bake.
The stop event ends a wait at once: the result then holds a failed ``interrupted`` verdict
(``Verification.interrupted`` is true; its status is ``fail``).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from pipeline.config import EnvConfig, Thresholds
from pipeline.deploy.failure import failure_kind
from pipeline.secrets import SecretSource
from pipeline.verify.health import check_health
from pipeline.verify.judge import Evidence, judge, worst
from pipeline.verify.podproxy import PodProxy
from pipeline.verify.providers import MetricsProvider, Reading, Window
from pipeline.verify.providers.pods import PodMetricsProvider
from pipeline.verify.providers.prometheus import PrometheusProvider
from pipeline.verify.synthetic import SyntheticWebhooks, self_inflicted, synthetic_checker
from pipeline.verify.verdict import FAIL, INCONCLUSIVE, P1, PASS, Verdict, breaches, failed, overall

KILL_SWITCH_WAIVER = ("the kill switch is OFF (accepted by the operator), so the app makes no Klaviyo calls: "
                      "Klaviyo was not verified")


@dataclass(frozen=True)
class VerifySettings:
    port: int = 8080
    health_path: str = "/health"
    thresholds: Thresholds = field(default_factory=Thresholds)
    min_requests: int = 5                    # rollout.min_requests
    scrape_interval_seconds: float = 5.0     # rollout.scrape_interval_seconds
    recent_seconds: float = 60.0             # rates and p95 are also judged over this last span
    kill_switch_off_accepted: bool = False   # the operator explicitly allowed deploying with the switch OFF

    @classmethod
    def from_config(cls, config: EnvConfig, kill_switch_off_accepted: bool = False) -> "VerifySettings":
        return cls(config.kube.health_port, config.kube.health_path, config.thresholds,
                   config.rollout.min_requests, config.rollout.scrape_interval_seconds,
                   kill_switch_off_accepted=kill_switch_off_accepted)


@dataclass
class Verification:
    stage: str
    verdicts: list[Verdict] = field(default_factory=list)
    seconds: float = 0.0
    requests: int = 0              # pod-proxy requests this verification made (health, scrapes, webhooks)
    rounds: int = 0                # scrape rounds after the baseline

    @property
    def status(self) -> str:
        return overall(self.verdicts)

    @property
    def passed(self) -> bool:
        return self.status == PASS

    @property
    def interrupted(self) -> bool:
        return any(v.name == "interrupted" for v in self.verdicts)

    @property
    def failure_kind(self) -> str | None:
        return None if self.passed else failure_kind(self.verdicts)

    @property
    def detail(self) -> str:
        """The breaches (or, with none, the inconclusive verdicts), most severe first."""
        bad = breaches(self.verdicts) or failed(self.verdicts)
        if bad:
            return "; ".join(v.detail for v in bad[:3]) + (f" (+{len(bad) - 3} more)" if len(bad) > 3 else "")
        return f"{len(self.verdicts)} verdicts passed"

    def to_json(self) -> dict[str, Any]:
        return {"stage": self.stage, "status": self.status, "passed": self.passed, "detail": self.detail,
                "failure_kind": self.failure_kind, "seconds": round(self.seconds, 3), "requests": self.requests,
                "rounds": self.rounds, "verdicts": [v.to_json() for v in self.verdicts]}


# --------------------------------------------------------------------------- pure decisions

def no_pods(stage: str) -> Verdict:
    return Verdict("health", P1, "deployment", None, None, 0, FAIL, f"{stage}: no pods to verify")


def interrupted(seconds: float) -> Verdict:
    return Verdict("interrupted", P1, "pipeline", None, None, seconds, FAIL,
                   f"verification interrupted after {seconds:.1f}s (stop requested)")


def inconclusive_failure(verdicts: Sequence[Verdict], seconds: float) -> Verdict:
    """What an inconclusive gate or bake becomes when its time is up: a failure saying why."""
    reasons = [f"{v.name}: {v.detail}" for v in verdicts if v.status == INCONCLUSIVE]
    return Verdict("inconclusive", P1, "verification", None, None, seconds, FAIL,
                   f"inconclusive after {seconds:.0f}s: " + "; ".join(reasons))


def metric_verdicts(total: Reading, recent: Reading | None, thresholds: Thresholds, evidence: Evidence) -> list[Verdict]:
    """The threshold verdicts of a reading (and of its last span), plus an inconclusive
    ``metrics_unavailable`` when a source was stale, unreadable or not measured yet."""
    verdicts: list[Verdict] = []
    if total.measurements is not None:
        verdicts = judge(total.measurements, thresholds, total.sources, evidence)
        if recent is not None and recent.measurements is not None:
            verdicts = worst(verdicts, judge(recent.measurements, thresholds, recent.sources, evidence))
    problems = total.problems or (() if total.measurements is not None else ("nothing measured yet",))
    if problems:
        source = next(iter(total.sources.values()), "metrics")
        verdicts.append(Verdict("metrics_unavailable", P1, source, None, None, 0, INCONCLUSIVE,
                                "metrics not readable: " + "; ".join(problems)))
    return verdicts


def waiver(health: Iterable[Verdict], accepted: bool) -> str:
    """The operator's explicit acceptance applies only when every pod reports the switch OFF."""
    statuses = [v.data.get("status") for v in health if v.name == "health"]
    return KILL_SWITCH_WAIVER if accepted and statuses and all(s == "disabled" for s in statuses) else ""


# --------------------------------------------------------------------------- the verifier

class Verifier:
    def __init__(self, proxy: PodProxy, provider: MetricsProvider, settings: VerifySettings,
                 stop: threading.Event, synthetic: SyntheticWebhooks | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], bool] | None = None) -> None:
        self.proxy, self.provider, self.settings, self.stop = proxy, provider, settings, stop
        self.synthetic, self.clock = synthetic, clock
        self.sleep = sleep or stop.wait       # True when the stop event was set

    @property
    def requests(self) -> int:
        """Requests made so far through the Kubernetes API server's pod proxy (health, scrapes,
        webhooks). A Prometheus provider's queries go to Prometheus, not to Kubernetes: not counted."""
        candidates = (self.proxy, getattr(self.provider, "proxy", None), getattr(self.synthetic, "proxy", None))
        counters: dict[int, int] = {id(c): getattr(c, "requests") for c in candidates
                                    if c is not None and isinstance(getattr(c, "requests", None), int)}
        return sum(counters.values())

    def health(self, stage: str, pods: Sequence[str], kill_switch_off_accepted: bool | None = None) -> Verification:
        """Each pod's /health now. ``kill_switch_off_accepted`` overrides the setting for this call
        (e.g. after an automatic rollback that turned the kill switch off itself)."""
        start, before = self.clock(), self.requests
        s = self.settings
        accepted = s.kill_switch_off_accepted if kill_switch_off_accepted is None else kill_switch_off_accepted
        verdicts = check_health(self.proxy, pods, s.port, s.health_path, accepted) if pods else [no_pods(stage)]
        return Verification(stage, verdicts, self.clock() - start, self.requests - before)

    def gate(self, stage: str, pods: Sequence[str], max_seconds: float) -> Verification:
        fixed = list(pods)
        return _Run(self, stage, lambda: fixed, max_seconds, bake=False).run()

    def bake(self, stage: str, pods: Callable[[], Sequence[str]], seconds: float) -> Verification:
        return _Run(self, stage, pods, seconds, bake=True).run()


class _Run:
    """One gate or bake: baseline, health, synthetic checks, then judged scrape rounds."""

    def __init__(self, verifier: Verifier, stage: str, pods: Callable[[], Sequence[str]], seconds: float,
                 bake: bool) -> None:
        self.v, self.stage, self.pods, self.seconds, self.bake = verifier, stage, pods, seconds, bake
        self.start, self.requests_before = verifier.clock(), verifier.requests
        self.health: list[Verdict] = []
        self.synthetic: list[Verdict] = []
        self.metrics: list[Verdict] = []
        self.probes: dict[str, list[int]] = {}
        self.rounds = 0

    def run(self) -> Verification:
        current = list(self.pods())
        if not current:
            return self._result([no_pods(self.stage)])
        if self.v.stop.is_set():
            return self._result([interrupted(0.0)])
        window = self.v.provider.begin(current)   # the baseline first: the time health takes is evidence too
        baseline_at = self.v.clock()
        self.health = self.v.health(self.stage, current).verdicts
        if overall(self.health) == FAIL:
            return self._result(self.health)
        if not self.bake and self.v.synthetic is not None:
            self._synthetic(current)
            if overall(self.synthetic) == FAIL:
                return self._result(self.health + self.synthetic)
        return self._rounds(window, baseline_at)

    def _synthetic(self, pods: Sequence[str]) -> None:
        assert self.v.synthetic is not None
        self.synthetic = self.v.synthetic.check(pods)
        for verdict in self.synthetic:
            for _ in range(self_inflicted(verdict)):
                self.probes.setdefault(str(verdict.data["pod"]), []).append(self.rounds)

    def _rounds(self, window: Window, last_scrape: float) -> Verification:
        """Scrape rounds one interval after the previous scrape (the baseline first), each judged at
        once: the time health and the synthetic checks took already counts toward the next round."""
        deadline = self.start + self.seconds
        interval = self.v.settings.scrape_interval_seconds
        while True:
            wait = round_wait(self.v.clock(), last_scrape, interval, deadline)
            if self.v.sleep(wait) or self.v.stop.is_set():
                return self._result(self._verdicts() + [interrupted(self.v.clock() - self.start)])
            last_scrape = self.v.clock()
            self.v.provider.observe(window, list(self.pods()))
            self.rounds += 1
            self._recheck_inconclusive_health()
            self.metrics = self._judge(window)
            status = overall(self._verdicts())
            if status == FAIL or (status == PASS and not self.bake):
                return self._result(self._verdicts())
            if self.v.clock() >= deadline:
                return self._finish()
            interval = next_interval(interval, status, self.v.settings.scrape_interval_seconds)

    def _finish(self) -> Verification:
        if self.bake and overall(self._verdicts()) != FAIL:
            self.health = self.v.health(self.stage, list(self.pods())).verdicts      # the bake ends healthy
        verdicts = self._verdicts()
        if overall(verdicts) == INCONCLUSIVE:
            verdicts = verdicts + [inconclusive_failure(verdicts, self.v.clock() - self.start)]
        return self._result(verdicts)

    def _recheck_inconclusive_health(self) -> None:
        """A pod whose health was inconclusive (kill switch OFF) is asked again each round."""
        pending = [str(v.data["pod"]) for v in self.health if v.status == INCONCLUSIVE and "pod" in v.data]
        if not pending:
            return
        fresh = {str(v.data["pod"]): v for v in self.v.health(self.stage, pending).verdicts}
        self.health = [fresh.get(str(v.data.get("pod")), v) for v in self.health]

    def _judge(self, window: Window) -> list[Verdict]:
        s = self.v.settings
        evidence = Evidence(s.min_requests, waiver(self.health, s.kill_switch_off_accepted))
        total = self.v.provider.measure(window, None, self.probes)
        recent = None
        if total.measurements is not None and total.measurements.window_seconds > s.recent_seconds:
            recent = self.v.provider.measure(window, s.recent_seconds, self.probes)
        return metric_verdicts(total, recent, s.thresholds, evidence)

    def _verdicts(self) -> list[Verdict]:
        return self.health + self.synthetic + self.metrics

    def _result(self, verdicts: list[Verdict]) -> Verification:
        return Verification(self.stage, verdicts, self.v.clock() - self.start,
                            self.v.requests - self.requests_before, self.rounds)


BAKE_MAX_INTERVAL_SECONDS = 30.0
BAKE_GROWTH = 4.0                 # the bake's interval grows by this while everything passes


def round_wait(now: float, last_scrape: float, interval: float, deadline: float) -> float:
    """Seconds until the next scrape round (pure): one interval after the last scrape, never past
    the deadline, at once when that moment has passed (e.g. a health check that took longer)."""
    return max(0.0, min(last_scrape + interval, deadline) - now)


def next_interval(interval: float, status: str, base: float) -> float:
    """The bake's next scrape interval (pure). While every verdict passes, the counters are
    cumulative, so sparser scrapes lose no evidence: the interval quadruples, up to 30 s, which
    bounds how late a breach is seen. Anything but a pass goes back to ``base``. A 40 s bake then
    costs one round more than a 10 s one (rounds at 1, 5, 21, 40 s against 1, 5, 10 s), not four
    times as many (issue 12: O(gates))."""
    if status != PASS:
        return base
    return max(base, min(interval * BAKE_GROWTH, BAKE_MAX_INTERVAL_SECONDS))


# --------------------------------------------------------------------------- wiring

def verifier_for(config: EnvConfig, api_client: Any, stop: threading.Event, secrets: SecretSource,
                 kill_switch_off_accepted: bool = False) -> Verifier:
    """The verifier an environment's settings describe: pod proxy (with retries), metrics provider
    (``rollout.metrics_source``), synthetic webhooks (``rollout.synthetic_webhooks``; raises
    ConfigError when on and the signing secret is missing from ``secrets``)."""
    kube, rollout = config.kube, config.rollout
    proxy = PodProxy(api_client, kube.namespace, stop=stop)
    provider: MetricsProvider = (PrometheusProvider(rollout.prometheus_url, kube.namespace)
                                 if rollout.metrics_source == "prometheus"
                                 else PodMetricsProvider(proxy, kube.health_port, kube.metrics_path))
    return Verifier(proxy, provider, VerifySettings.from_config(config, kill_switch_off_accepted), stop,
                    synthetic_checker(config, secrets, proxy))
