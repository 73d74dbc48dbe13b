"""In-memory pods for pure verifier tests: the pod proxy's answers, the app's metrics, traffic
that grows with a fake clock, and the app's own webhook receiver (examples/klaviyo-sync).

Nothing here sleeps: ``FakeClock.sleep`` advances time and lets the pods' traffic happen."""
from __future__ import annotations

import json
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Mapping

from pipeline.verify.podproxy import ProxyResponse
from pipeline.verify.prometheus_text import parse, series

from deploy_parts.metrics_fixtures import AppMetrics

APP_SOURCE = Path(__file__).resolve().parents[2] / "examples" / "klaviyo-sync"
if str(APP_SOURCE) not in sys.path:
    sys.path.insert(0, str(APP_SOURCE))

from klaviyo_sync.webhooks import Result, WebhookReceiver  # noqa: E402

SECRET = "whsec_test_signing_secret_0123456789"
PROXY_503 = ProxyResponse(503, json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                           "message": "error trying to reach service: dial tcp 10.0.0.9:8080: "
                                                      "connect: connection refused",
                                           "reason": "ServiceUnavailable", "code": 503}))
Traffic = Callable[[AppMetrics, float], None]


def steady(status: str = "200", per_second: float = 2.0, seconds: float = 0.1) -> Traffic:
    """Klaviyo responses at a steady rate (the sync loop's profile-import and events calls)."""
    carry = {"due": 0.0}

    def run(metrics: AppMetrics, elapsed: float) -> None:
        carry["due"] += per_second * elapsed
        whole = int(carry["due"])
        carry["due"] -= whole
        if whole:
            metrics.respond(status, seconds, times=whole)
    return run


def quiet(metrics: AppMetrics, elapsed: float) -> None:
    """No Klaviyo calls (the kill switch is off, or nothing to sync)."""


@dataclass
class FakePod:
    metrics: AppMetrics = field(default_factory=AppMetrics)
    health: str = "healthy"
    traffic: Traffic = field(default_factory=steady)
    webhook_secret: str = SECRET
    queued: dict[str, deque] = field(default_factory=dict)     # path -> answers served before the real one

    def answer_health(self) -> ProxyResponse:
        code = 200 if self.health in ("healthy", "disabled") else 503
        klaviyo = {"status": self.health, "latencyMs": 12}
        if self.health == "down":
            klaviyo["error"] = "401: Incorrect authentication credentials."
        if self.health == "disabled":
            klaviyo["error"] = "disabled by kill switch"
        return ProxyResponse(code, json.dumps({"status": self.health, "services": {"klaviyo": klaviyo}}))

    def signature_failures(self) -> float:
        return parse(self.metrics.text())[series("klaviyo_webhook_signature_failures_total")]

    def answer_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProxyResponse:
        receiver = WebhookReceiver(self.webhook_secret)
        outcome = receiver.receive(body, dict(headers))
        if outcome.verdict.result is Result.INVALID_SIGNATURE:
            self.metrics.signature_failures.inc()
        return ProxyResponse(outcome.verdict.status, json.dumps(outcome.body()))


class FakePods:
    """A pod proxy in memory (``get``/``post``/``requests``), one FakePod per name."""

    def __init__(self, **pods: FakePod) -> None:
        self.pods = dict(pods)
        self.requests = 0
        self.log: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()

    def _count(self, method: str, pod: str, path: str) -> FakePod | None:
        with self._lock:
            self.requests += 1
            self.log.append((method, pod, path))
        return self.pods.get(pod)

    def _queued(self, pod: FakePod, path: str) -> ProxyResponse | None:
        queue = pod.queued.get(path)
        return queue.popleft() if queue else None

    def get(self, pod: str, port: int, path: str) -> ProxyResponse:
        found = self._count("GET", pod, path)
        if found is None:
            return PROXY_503
        queued = self._queued(found, path)
        if queued is not None:
            return queued
        if path == "/health":
            return found.answer_health()
        if path == "/metrics":
            return ProxyResponse(200, found.metrics.text())
        return ProxyResponse(404, "404 page not found")

    def post(self, pod: str, port: int, path: str, body: bytes, headers: Mapping[str, str]) -> ProxyResponse:
        found = self._count("POST", pod, path)
        if found is None:
            return PROXY_503
        return self._queued(found, path) or found.answer_webhook(body, headers)

    def advance(self, seconds: float) -> None:
        for pod in self.pods.values():
            pod.traffic(pod.metrics, seconds)

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, _, p in self.log if m == method and p == path)


class FakeClock:
    """Monotonic seconds that only move when the verifier waits; waiting lets traffic happen."""

    def __init__(self, pods: FakePods, stop: threading.Event | None = None,
                 on_sleep: Callable[[float], None] | None = None) -> None:
        self.now, self.pods, self.stop, self.on_sleep = 1000.0, pods, stop or threading.Event(), on_sleep
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> bool:
        self.sleeps.append(seconds)
        if self.on_sleep is not None:
            self.on_sleep(self.now)
        if self.stop.is_set():
            return True
        self.now += seconds
        self.pods.advance(seconds)
        return False


def utc(text: str = "2026-11-24T19:15:06+00:00") -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc)
