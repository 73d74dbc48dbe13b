"""Health, metrics and a POST with a body through the kube stand-in's pod proxy, with the real
python client.

The pod's "process" is an in-test HTTP server; the stand-in forwards to it through the
``sandbox.pipeline/ports`` annotation its simulated kubelet uses.
"""
from __future__ import annotations

import json

import pytest
from aiohttp import web

from pipeline.config import Thresholds
from pipeline.verify.health import check_health
from pipeline.verify.judge import judge
from pipeline.verify.podproxy import PodProxy
from pipeline.verify.providers.pods import PodMetricsProvider

from .conftest import kube_api_client
from .metrics_fixtures import AppMetrics

harness = pytest.importorskip("pipeline.sandbox.harness")
pytest.importorskip("pipeline.sandbox.kube.server")


def test_health_and_metrics_via_the_stand_in_proxy(server):
    from kubernetes import client

    metrics = AppMetrics()

    async def health(request):
        return web.json_response({"status": "down", "services": {"klaviyo": {"error": "401: bad key"}}}, status=503)

    async def scrape(request):
        return web.Response(text=metrics.text(), content_type="text/plain")

    received = []

    async def webhook(request):
        received.append((await request.read(), request.headers.get("Klaviyo-Signature"),
                         request.headers.get("Content-Type")))
        return web.json_response({"result": "accepted"})

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", scrape)
    app.router.add_post("/webhooks/klaviyo", webhook)
    with server(app) as pod_url, harness.Sandbox(["kube"]) as sandbox:
        api_client = kube_api_client(sandbox.urls["kube"])
        port = int(pod_url.rsplit(":", 1)[1])
        client.CoreV1Api(api_client).create_namespaced_pod("default", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "annotations": {"sandbox.pipeline/ports": json.dumps({"8080": port})}},
            "spec": {"containers": [{"name": "app", "image": "app:1", "ports": [{"containerPort": 8080}]}]}})
        proxy = PodProxy(api_client, "default")
        [verdict] = check_health(proxy, ["web-1"], 8080)
        assert verdict.status == "fail" and "down (HTTP 503): 401: bad key" in verdict.detail
        assert verdict.data["attempts"] == 1                          # the pod's own answer: no retry
        provider = PodMetricsProvider(proxy, 8080)
        window = provider.begin(["web-1"])
        metrics.respond("401")
        provider.observe(window, ["web-1"])
        reading = provider.measure(window)
        verdicts = {v.name: v for v in judge(reading.measurements, Thresholds(), reading.sources)}
        assert verdicts["auth_errors"].status == "fail" and verdicts["auth_errors"].value == 1

        body = b'{"data":[],"meta":{"x":"  spaced  "}}'
        answer = proxy.post("web-1", 8080, "/webhooks/klaviyo", body,
                            {"Content-Type": "application/json", "Klaviyo-Signature": "abc"})
        assert answer.status == 200 and received == [(body, "abc", "application/json")]
        assert proxy.requests == 4

        # A pod with no process behind its port: the stand-in answers as an API server does.
        client.CoreV1Api(api_client).create_namespaced_pod("default", {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-2"},
            "spec": {"containers": [{"name": "app", "image": "app:1", "ports": [{"containerPort": 8080}]}]}})
        quick = PodProxy(api_client, "default", sleep=lambda seconds: None)
        gone = quick.get("web-2", 8080, "/health")
        assert gone.status == 503 and gone.attempts == 3 and '"kind":"Status"' in gone.body.replace(" ", "")
