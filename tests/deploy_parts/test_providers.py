"""Providers and health against in-test fakes: a pod-proxy API server and a Prometheus API.

The kubernetes python client really builds the pod-proxy requests here; the real
API-server-to-pod hop is exercised end to end by the deploy tests against the stand-in.
"""
from __future__ import annotations

import json
from urllib.parse import unquote

import pytest
from aiohttp import web

from pipeline.config import Thresholds
from pipeline.verify.health import check_health, judge_health
from pipeline.verify.judge import judge
from pipeline.verify.podproxy import PodProxy, ProxyResponse
from pipeline.verify.pods import new_pods, new_replicaset
from pipeline.verify.providers.pods import PodMetricsProvider
from pipeline.verify.providers.prometheus import (PrometheusProvider, counted, parse_vector, queries,
                                                   selector)

from .conftest import kube_api_client
from .metrics_fixtures import AppMetrics


class FakePods:
    """``/api/v1/namespaces/{ns}/pods/{pod}:{port}/proxy/{path}`` answering from per-pod state."""

    def __init__(self) -> None:
        self.metrics: dict[str, AppMetrics] = {}
        self.health: dict[str, tuple[int, str]] = {}
        self.seen: list[tuple[str, str, str]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/namespaces/{ns}/pods/{name}/proxy/{path:.*}", self.proxy)
        return app

    async def proxy(self, request: web.Request) -> web.Response:
        name, path = request.match_info["name"], unquote(request.match_info["path"])
        self.seen.append((request.match_info["ns"], name, path))
        pod, _, port = name.partition(":")
        if port != "8080" or pod not in self.metrics and pod not in self.health:
            return web.json_response({"kind": "Status", "code": 503, "message": "no endpoints"}, status=503)
        if path == "metrics" and pod in self.metrics:
            return web.Response(text=self.metrics[pod].text(), content_type="text/plain")
        if path == "health" and pod in self.health:
            status, body = self.health[pod]
            return web.Response(status=status, text=body, content_type="application/json")
        return web.Response(status=404, text="404 page not found")


@pytest.fixture
def pods(server):
    fake = FakePods()
    with server(fake.app()) as url:
        yield fake, PodProxy(kube_api_client(url), "klaviyo-sync", sleep=lambda seconds: None)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_pod_metrics_provider_scrapes_once_per_round(pods):
    fake, proxy = pods
    fake.metrics = {"web-a": AppMetrics().respond("500", times=100), "web-b": AppMetrics()}
    clock = Clock()
    provider = PodMetricsProvider(proxy, 8080, clock=clock)
    window = provider.begin(["web-a", "web-b"])
    assert len(fake.seen) == 2                                      # the baseline: one scrape per pod
    fake.metrics["web-a"].respond("500", times=8).respond("200", 0.2, times=50)
    fake.metrics["web-b"].respond("503", times=7).respond("429", times=3)
    clock.now += 60
    provider.observe(window, ["web-a", "web-b"])
    assert len(fake.seen) == 4
    reading = provider.measure(window)
    assert len(fake.seen) == 4                                      # measuring costs no request
    assert reading.problems == ()
    verdicts = {v.name: v for v in judge(reading.measurements, Thresholds(), reading.sources)}
    assert verdicts["server_errors"].value == 15 and verdicts["server_errors"].status == "fail"
    assert verdicts["server_errors"].detail.startswith("5xx 15.0/min > 10/min over 60s")
    assert verdicts["server_errors"].source == "pod web-a, web-b /metrics"
    assert verdicts["rate_limited"].passed and verdicts["auth_errors"].passed
    assert reading.measurements.requests == 68
    assert ("klaviyo-sync", "web-a:8080", "metrics") in fake.seen


def test_pod_metrics_provider_unreachable_pod_is_a_problem_not_a_pass(pods):
    fake, proxy = pods
    fake.metrics = {"web-a": AppMetrics()}
    clock = Clock()
    provider = PodMetricsProvider(proxy, 8080, clock=clock)
    window = provider.begin(["web-a", "web-gone"])
    clock.now += 30
    provider.observe(window, ["web-a", "web-gone"])
    reading = provider.measure(window)
    [problem] = reading.problems
    assert "web-gone" in problem and "HTTP 503" in problem and "after 3 attempts" in problem


def health_body(status, **klaviyo):
    return json.dumps({"status": status, "services": {"klaviyo": {"status": status, **klaviyo}},
                       "timestamp": "2026-11-22T17:30:31Z"})


def test_health_through_the_pod_proxy(pods):
    fake, proxy = pods
    fake.health = {"web-a": (200, health_body("healthy", latencyMs=42, accountId="AbC123")),
                   "web-b": (503, health_body("degraded", latencyMs=5, error="429: Request was throttled")),
                   "web-c": (503, health_body("down", error="401: Incorrect authentication credentials.")),
                   "web-d": (200, "<html>oops</html>")}
    verdicts = check_health(proxy, ["web-a", "web-b", "web-c", "web-d", "web-x"], 8080)
    a, b, c, d, x = verdicts
    assert a.passed and a.detail == "pod web-a: healthy (Klaviyo answered in 42 ms)" and a.data["accountId"] == "AbC123"
    assert b.status == "fail" and b.severity == "P2" and "429: Request was throttled" in b.detail
    assert c.status == "fail" and c.severity == "P1" and "401: Incorrect authentication" in c.detail
    assert c.data["http_status"] == 503 and c.data["attempts"] == 1           # the app's own 503: not retried
    assert d.status == "fail" and "not JSON" in d.detail
    assert x.status == "fail" and x.data["http_status"] == 503 and x.data["attempts"] == 3
    assert "did not answer through the pod proxy after 3 attempts: HTTP 503: no endpoints" in x.detail
    assert a.source == "pod web-a /health"


@pytest.mark.parametrize("response,status,expect", [
    (ProxyResponse(0, "", "ConnectTimeout", attempts=3), "fail",
     "did not answer through the pod proxy after 3 attempts: no answer (ConnectTimeout)"),
    (ProxyResponse(200, '{"status": "disabled", "services": {"klaviyo": {"error": "disabled by kill switch"}}}'),
     "inconclusive", "disabled by the kill switch; Klaviyo not probed"),
    (ProxyResponse(503, '{"kind": "Status", "status": "Failure", "reason": "ServiceUnavailable", "message": '
                        '"error trying to reach service: dial tcp 10.0.0.7:8080: connect: connection refused"}'),
     "fail", "HTTP 503 ServiceUnavailable: error trying to reach service"),
    (ProxyResponse(200, '{"status": "weird"}'), "fail", "unknown health status 'weird'"),
    (ProxyResponse(200, '["healthy"]'), "fail", "without a string"),
])
def test_judge_health_edges(response, status, expect):
    verdict = judge_health("web-a", response)
    assert verdict.status == status and expect in verdict.detail


def test_disabled_passes_only_when_the_operator_accepted_it():
    body = ProxyResponse(200, '{"status": "disabled"}')
    assert not judge_health("p", body).passed
    accepted = judge_health("p", body, kill_switch_off_accepted=True)
    assert accepted.passed and "Klaviyo was not verified" in accepted.detail
    assert accepted.data["klaviyo_verified"] is False


# ---------------------------------------------------------------- Prometheus

class FakePrometheus:
    def __init__(self, answers: dict[str, object]):
        self.answers, self.queries = answers, []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/query", self.query)
        return app

    async def query(self, request):
        promql = request.query["query"]
        self.queries.append((promql, request.query.get("time")))
        if "bad" in self.answers:
            return web.json_response({"status": "error", "errorType": "bad_data", "error": "parse error"}, status=400)
        for needle, value in self.answers.items():
            if needle in promql:
                result = [] if value is None else [{"metric": {}, "value": [1.8e9, str(value)]}]
                return web.json_response({"status": "success", "data": {"resultType": "vector", "result": result}})
        return web.json_response({"status": "success", "data": {"resultType": "vector", "result": []}})


def test_prometheus_provider_queries_and_verdicts(server):
    fake = FakePrometheus({'status=~"401|403"': 2, 'status=~"5..|error"': 3.5, 'status="429"': 6.2,
                           "histogram_quantile": "NaN", "signature": None, "_count": 40,
                           "sum((increase(klaviyo_api_responses_total{namespace": 60})
    clock = Clock()
    with server(fake.app()) as url:
        provider = PrometheusProvider(url, "klaviyo-sync", clock=clock)
        window = provider.begin(["web-a", "web-b.x"])
        clock.now += 120
        provider.observe(window, ["web-a", "web-b.x"])
        assert fake.queries == []                          # Prometheus scrapes; observing costs nothing
        reading = provider.measure(window)
    verdicts = {v.name: v for v in judge(reading.measurements, Thresholds(), reading.sources)}
    assert verdicts["auth_errors"].status == "fail" and verdicts["auth_errors"].value == 2
    assert verdicts["server_errors"].passed and verdicts["server_errors"].value == 3.5
    assert verdicts["rate_limited"].status == "fail"
    assert verdicts["rate_limited"].detail.startswith("429 6.2/min > 5/min over 120s")
    assert verdicts["p95_latency"].status == "inconclusive" and verdicts["p95_latency"].value is None
    assert verdicts["webhook_signatures"].status == "inconclusive" and "(no samples)" in verdicts["webhook_signatures"].detail
    assert reading.measurements.requests == 60 and reading.measurements.p95_latency.count == 40
    source = verdicts["rate_limited"].source
    series = 'klaviyo_api_responses_total{status="429",namespace="klaviyo-sync",pod=~"web-a|web-b\\\\.x"}'
    assert source == f"sum({counted(series, 120)}) * 60 / 120"
    assert counted(series, 120) == (f"(increase({series}[120s]) and resets({series}[120s]) > 0) or "
                                    f"(last_over_time({series}[120s]) - {series} offset 120s >= 0) or "
                                    f"last_over_time({series}[120s])")
    assert all(at == "1800000120.000" for _, at in fake.queries) and len(fake.queries) == 7
    assert provider.requests == 7


def test_prometheus_statuses_without_series_count_zero_only_when_responses_were_measured(server):
    """The app creates a status's series at its first response: no 401 series is no 401, as long
    as the responses themselves were measured; with no responses at all it is "no values"."""
    answers = {"sum((increase(klaviyo_api_responses_total{namespace": 30, "_count": 30,
               "histogram_quantile": 0.2, "signature": 0}
    for requests, expected in ((30, {"pass"}), (None, {"inconclusive"})):
        answers["sum((increase(klaviyo_api_responses_total{namespace"] = requests
        with server(FakePrometheus(dict(answers)).app()) as url:
            provider = PrometheusProvider(url, "ns")
            reading = provider.measure(provider.begin(["p"]))
        found = {v.name: v for v in judge(reading.measurements, Thresholds(), reading.sources)}
        assert {found[name].status for name in ("auth_errors", "server_errors", "rate_limited")} == expected
        assert found["auth_errors"].value == (0 if requests else None)


def test_prometheus_errors_are_problems_not_passes(server):
    with server(FakePrometheus({"bad": 1}).app()) as url:
        provider = PrometheusProvider(url, "ns")
        reading = provider.measure(provider.begin(["p"]))
    assert reading.measurements is None and "bad_data: parse error" in reading.problems[0]
    provider = PrometheusProvider("http://127.0.0.1:9", "ns")
    reading = provider.measure(provider.begin(["p"]))
    assert reading.measurements is None and "unreachable" in reading.problems[0]


def test_promql_text():
    sel = selector("ns", ["a"])
    buckets = 'klaviyo_api_request_duration_seconds_bucket{namespace="ns",pod=~"a"}'
    assert queries(sel, 60)["p95_latency"] == f"histogram_quantile(0.95, sum by (le) ({counted(buckets, 60)}))"
    assert parse_vector({"status": "success", "data": {"resultType": "scalar", "result": [1, "4"]}}) == 4


# ---------------------------------------------------------------- which pods are new

def rs(name, hash_, uid="d1", revision="1", image="app:1", created="2026-01-01T00:00:00Z"):
    return {"metadata": {"name": name, "labels": {"app": "web", "pod-template-hash": hash_},
                         "annotations": {"deployment.kubernetes.io/revision": revision},
                         "creationTimestamp": created,
                         "ownerReferences": [{"uid": uid, "controller": True, "kind": "Deployment"}]},
            "spec": {"selector": {"matchLabels": {"app": "web", "pod-template-hash": hash_}},
                     "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": hash_},
                                               "annotations": {}},
                                  "spec": {"containers": [{"name": "app", "image": image, "resources": {}}]}}}}


def deployment(image="app:2", revision="2"):
    return {"metadata": {"uid": "d1", "annotations": {"deployment.kubernetes.io/revision": revision}},
            "spec": {"template": {"metadata": {"labels": {"app": "web"}, "creationTimestamp": None},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}}}


def pod(name, hash_, deleting=False):
    metadata = {"name": name, "labels": {"app": "web", "pod-template-hash": hash_}}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": metadata}


def test_new_replicaset_and_pods():
    old, new, foreign = rs("web-old", "aaa"), rs("web-new", "bbb", revision="2", image="app:2"), \
        rs("other", "ccc", uid="d2", image="app:2")
    assert new_replicaset(deployment(), [old, foreign, new]) is new
    assert new_replicaset(deployment(image="app:3", revision="9"), [old, new]) is None
    assert new_replicaset(deployment(image="app:3", revision="2"), [old, new]) is new     # revision fallback
    pods_ = [pod("web-new-1", "bbb"), pod("web-old-1", "aaa"), pod("web-new-0", "bbb"), pod("web-new-2", "bbb", True)]
    assert new_pods(new, pods_) == ["web-new-0", "web-new-1"]
    assert new_pods({"metadata": {}}, pods_) == []
