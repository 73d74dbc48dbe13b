"""Reach a pod's HTTP port through the API server's pod proxy (thin adapter), with bounded retries.

``{GET,POST} /api/v1/namespaces/{ns}/pods/{pod}:{port}/proxy/{path}``. The request is built by
the kubernetes client itself (``ApiClient.param_serialize``: the configured host, the bearer
token, the namespace and ``<pod>:<port>`` encoded as path parameters) and sent on the client's
own connection pool (its TLS and client-certificate settings). The path inside the pod keeps
its ``/`` literal, as ``kubectl get --raw`` sends it (the generated methods would send
``%2F``, which the sandbox's proxy forwards undecoded). Not through the generated methods: ``connect_post_namespaced_pod_proxy_with_path`` takes no body (the OpenAPI
spec declares none) and the client's REST layer JSON-encodes any body sent with a JSON content
type, so the exact bytes a webhook signature covers could not be sent.

Transient answers (:mod:`pipeline.verify.transient`: no answer, or a 502/503/504 that is the
API server's or a gateway's rather than the pod's) are retried with exponential backoff and
jitter, at most ``RetryPolicy.attempts`` attempts, through tenacity; the stop event ends the
retries at once. Every attempt counts in ``requests`` (the deploy prints requests per deploy).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping
from urllib.parse import quote

import urllib3
from tenacity import (Retrying, retry_if_result, stop_after_attempt, stop_when_event_set, wait_exponential,
                      wait_random)

from pipeline.verify.transient import is_transient

PROXY_PREFIX = "/api/v1/namespaces/{namespace}/pods/{name}/proxy/"


@dataclass(frozen=True)
class ProxyResponse:
    status: int                    # HTTP status from the pod (or the API server); 0: no answer
    body: str
    error: str = ""                # transport error, when status is 0
    attempts: int = 1              # how many tries it took (retries of transient answers)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries of transient answers: ``attempts`` tries in all, backoff doubling from
    ``initial_seconds`` up to ``max_seconds``, plus up to ``jitter_seconds`` of random jitter."""
    attempts: int = 3
    initial_seconds: float = 0.25
    max_seconds: float = 2.0
    jitter_seconds: float = 0.25

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be at least 1, got {self.attempts}")


class PodProxy:
    def __init__(self, api_client: Any, namespace: str, timeout: float = 10.0,
                 retry: RetryPolicy = RetryPolicy(), stop: threading.Event | None = None,
                 sleep: Callable[[float], Any] | None = None):
        self.api_client, self.namespace, self.timeout, self.retry = api_client, namespace, timeout, retry
        self.stop = stop or threading.Event()
        self.sleep: Callable[[float], Any] = sleep or self.stop.wait
        self._lock = threading.Lock()
        self._requests = 0

    @property
    def requests(self) -> int:
        """HTTP requests sent so far (every attempt)."""
        return self._requests

    def get(self, pod: str, port: int, path: str) -> ProxyResponse:
        return self._with_retries(lambda: self._send("GET", pod, port, path, None, {}))

    def post(self, pod: str, port: int, path: str, body: bytes, headers: Mapping[str, str]) -> ProxyResponse:
        """POST exactly ``body`` (its bytes are what a signature covers) with ``headers``."""
        return self._with_retries(lambda: self._send("POST", pod, port, path, body, headers))

    def _with_retries(self, once: Callable[[], ProxyResponse]) -> ProxyResponse:
        attempts = 0

        def attempt() -> ProxyResponse:
            nonlocal attempts
            attempts += 1
            return once()

        retrying = Retrying(
            stop=stop_after_attempt(self.retry.attempts) | stop_when_event_set(self.stop),
            wait=(wait_exponential(multiplier=self.retry.initial_seconds, max=self.retry.max_seconds)
                  + wait_random(0, self.retry.jitter_seconds)),
            retry=retry_if_result(lambda response: is_transient(response.status, response.body)),
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
            sleep=self._pause)
        response: ProxyResponse = retrying(attempt)
        return replace(response, attempts=attempts)

    def _pause(self, seconds: float) -> None:
        self.sleep(seconds)                 # stop.wait by default: a stop request cuts the backoff short

    def _send(self, method: str, pod: str, port: int, path: str, body: bytes | None,
              headers: Mapping[str, str]) -> ProxyResponse:
        with self._lock:
            self._requests += 1
        try:
            _, url, header_params, _, _ = self.api_client.param_serialize(
                method=method, resource_path=PROXY_PREFIX + quote(path.lstrip("/"), safe="/"),
                path_params={"namespace": self.namespace, "name": f"{pod}:{port}"},
                header_params={"Accept": "*/*", **headers}, auth_settings=["BearerToken"])
            response = self.api_client.rest_client.pool_manager.request(
                method, url, body=body, headers=header_params, timeout=urllib3.Timeout(total=self.timeout),
                retries=False, preload_content=True)
            return ProxyResponse(response.status, response.data.decode("utf-8", errors="replace"))
        except Exception as exc:  # noqa: BLE001 - urllib3 connection errors and timeouts: no answer
            return ProxyResponse(0, "", f"{type(exc).__name__}: {exc}")
