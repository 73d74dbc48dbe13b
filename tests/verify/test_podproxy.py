"""Bounded retries of transient pod-proxy answers, through the real kubernetes client and HTTP.

An in-test API server answers the pod-proxy path from a script of answers per pod and path."""
from __future__ import annotations

import contextlib
import json
import threading

import pytest
from aiohttp import web

from pipeline.verify.health import check_health
from pipeline.verify.podproxy import PodProxy, RetryPolicy

from deploy_parts.conftest import kube_api_client, serve

STATUS_503 = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "ServiceUnavailable",
              "message": "error trying to reach service: dial tcp 10.0.0.7:8080: connect: connection refused",
              "code": 503}
HEALTHY = {"status": "healthy", "services": {"klaviyo": {"status": "healthy", "latencyMs": 9}}}
DOWN = {"status": "down", "services": {"klaviyo": {"status": "down", "error": "401: bad key"}}}


class ScriptedApiServer:
    def __init__(self, script: dict[tuple[str, str], list[tuple[int, object]]]) -> None:
        self.script, self.seen = script, []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/v1/namespaces/{ns}/pods/{name}/proxy/{path:.*}", self.answer)
        return app

    async def answer(self, request: web.Request) -> web.Response:
        name, path = request.match_info["name"], request.match_info["path"]
        self.seen.append((request.method, name, path, await request.read()))
        answers = self.script.get((name, path)) or [(200, HEALTHY)]
        status, body = answers.pop(0) if len(answers) > 1 else answers[0]
        return web.Response(status=status, text=json.dumps(body) if not isinstance(body, str) else body,
                            content_type="application/json")


@pytest.fixture
def api():
    """``api(script)`` -> (the scripted server, a kubernetes ApiClient pointed at it)."""
    with contextlib.ExitStack() as stack:
        def start(script):
            fake = ScriptedApiServer(script)
            return fake, kube_api_client(stack.enter_context(serve(fake.app())))
        yield start


def test_one_proxy_503_then_200_passes_after_a_retry(api):
    fake, client = api({("web-1:8080", "health"): [(503, STATUS_503), (200, HEALTHY)]})
    sleeps: list[float] = []
    proxy = PodProxy(client, "ns", sleep=sleeps.append)
    [verdict] = check_health(proxy, ["web-1"], 8080)
    assert verdict.passed and verdict.data["attempts"] == 2
    assert proxy.requests == 2 and len(sleeps) == 1 and 0.25 <= sleeps[0] <= 0.5


def test_a_persistent_proxy_503_fails_with_that_reason_after_the_bounded_retries(api):
    fake, client = api({("web-1:8080", "health"): [(503, STATUS_503)]})
    sleeps: list[float] = []
    proxy = PodProxy(client, "ns", retry=RetryPolicy(attempts=4, initial_seconds=0.5, max_seconds=1.5), sleep=sleeps.append)
    [verdict] = check_health(proxy, ["web-1"], 8080)
    assert verdict.status == "fail" and verdict.data["attempts"] == 4 and proxy.requests == 4
    assert ("pod web-1: the pod did not answer through the pod proxy after 4 attempts: HTTP 503 "
            "ServiceUnavailable: error trying to reach service") in verdict.detail
    assert len(sleeps) == 3 and all(0.5 <= s <= 1.75 for s in sleeps)     # backoff grows, capped, with jitter


def test_a_pods_own_503_down_is_not_retried(api):
    fake, client = api({("web-1:8080", "health"): [(503, DOWN)]})
    proxy = PodProxy(client, "ns", sleep=lambda s: pytest.fail("slept"))
    [verdict] = check_health(proxy, ["web-1"], 8080)
    assert verdict.status == "fail" and "down (HTTP 503): 401: bad key" in verdict.detail
    assert proxy.requests == 1 and verdict.data["attempts"] == 1


def test_gateway_errors_without_a_status_body_are_transient_too(api):
    fake, client = api({("web-1:8080", "metrics"): [(502, "<html>Bad Gateway</html>"), (504, "timeout"),
                                                    (200, "up 1\n")]})
    proxy = PodProxy(client, "ns", sleep=lambda s: None)
    response = proxy.get("web-1", 8080, "/metrics")
    assert response.status == 200 and response.attempts == 3


def test_no_answer_at_all_is_retried_then_reported():
    proxy = PodProxy(kube_api_client("http://127.0.0.1:9"), "ns", timeout=2, sleep=lambda s: None)
    response = proxy.get("web-1", 8080, "/health")
    assert response.status == 0 and response.attempts == 3 and response.error


def test_a_stop_request_ends_the_retries(api):
    fake, client = api({("web-1:8080", "health"): [(503, STATUS_503)]})
    stop = threading.Event()
    stop.set()
    proxy = PodProxy(client, "ns", stop=stop)
    assert proxy.get("web-1", 8080, "/health").attempts == 1


def test_post_sends_the_exact_bytes_and_headers(api):
    fake, client = api({("web-1:8080", "webhooks/klaviyo"): [(200, {"result": "accepted"})]})
    body = b'{"data":[],  "meta":{"a":"\\u00e9"}}'
    proxy = PodProxy(client, "ns")
    response = proxy.post("web-1", 8080, "/webhooks/klaviyo", body, {"Content-Type": "application/json"})
    assert response.status == 200
    assert fake.seen == [("POST", "web-1:8080", "webhooks/klaviyo", body)]
