"""Metrics text as the sample app renders it: a real prometheus_client registry."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0, float("inf"))


class AppMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.responses = Counter("klaviyo_api_responses", "r", ["endpoint", "status"], registry=self.registry)
        self.duration = Histogram("klaviyo_api_request_duration_seconds", "d", ["endpoint"],
                                  buckets=BUCKETS, registry=self.registry)
        self.signature_failures = Counter("klaviyo_webhook_signature_failures", "s", registry=self.registry)

    def respond(self, status: str, seconds: float = 0.1, times: int = 1, endpoint: str = "accounts") -> "AppMetrics":
        for _ in range(times):
            self.responses.labels(endpoint=endpoint, status=status).inc()
            self.duration.labels(endpoint=endpoint).observe(seconds)
        return self

    def text(self) -> str:
        return generate_latest(self.registry).decode()
