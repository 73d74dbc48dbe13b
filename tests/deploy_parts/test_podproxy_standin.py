"""Health and metrics through the kube stand-in's pod proxy, with the real python client.

The pod's "process" is an in-test HTTP server; the stand-in forwards to it through the
``sandbox.pipeline/ports`` annotation its simulated kubelet uses.
"""
from __future__ import annotations

import json

import pytest
from aiohttp import web

from pipeline.config import Thresholds
from pipeline.verify.health import check_health
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

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", scrape)
    with server(app) as pod_url, harness.Sandbox(["kube"]) as sandbox:
        api_client = kube_api_client(sandbox.urls["kube"])
        port = int(pod_url.rsplit(":", 1)[1])
        client.CoreV1Api(api_client).create_namespaced_pod("default", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "annotations": {"sandbox.pipeline/ports": json.dumps({"8080": port})}},
            "spec": {"containers": [{"name": "app", "image": "app:1", "ports": [{"containerPort": 8080}]}]}})
        proxy = PodProxy(api_client, "default")
        [verdict] = check_health(proxy, ["web-1"], 8080)
        assert not verdict.passed and "down (HTTP 503): 401: bad key" in verdict.detail
        provider = PodMetricsProvider(proxy, 8080, Thresholds())
        window = provider.begin(["web-1"])
        metrics.respond("401")
        verdicts = {v.name: v for v in provider.verdicts(window)}
        assert not verdicts["auth_errors"].passed and verdicts["auth_errors"].value == 1
