"""Deploys verified by a real Prometheus server (``rollout.metrics_source = "prometheus"``).

Debian's ``prometheus`` scrapes the sandbox's pods (real app processes) through the Kubernetes
stand-in's pod proxy, every second, with the relabeling a server with Kubernetes service
discovery would use (``pod_targets.py``: Debian's build has no Kubernetes SD, so the test writes
the targets that discovery would find to a ``file_sd_configs`` file, watching the pods).

The pipeline itself then reads no pod's /metrics: a counting fault on the stand-in
(``:8080/proxy/metrics``, the port number the pipeline uses; Prometheus scrapes the named port
``:http``) proves it. Fail closed: a Prometheus whose relabeling names the label
``kubernetes_pod_name`` instead of ``pod`` holds the pods' samples but none the pipeline can
select, and the release must not be deployed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.config import EnvConfig, load_config
from pipeline.deploy.engine import Deploy, DeployRequest
from pipeline.deploy.result import DeployOutcome, DeployResult
from pipeline.kube.client import api_client
from pipeline.sandbox.kube import faults_client
from pipeline.sandbox.pipeline_toml import sandbox_toml
from tests.prometheus_server import BINARY, SKIP_REASON, FileTargets, PrometheusServer
from tests.waiting import wait_for

from .conftest import ROOT
from .helpers import complete, deployment, image_of
from .pod_targets import PodTargets, scrape_through_api_server

pytestmark = [pytest.mark.slow, pytest.mark.skipif(BINARY is None, reason=SKIP_REASON)]
GOOD, BAD, UNSEEN = "klaviyo-sync:3.0.0", "klaviyo-sync:3.1.0-slow", "klaviyo-sync:3.2.0"
METRICS = {"auth_errors", "server_errors", "rate_limited", "p95_latency", "webhook_signatures"}
# gate_verify_seconds is the longest wait for evidence (not a sleep): room for Prometheus to
# discover a new pod (its discovery and scrape managers apply updates every 5 s) and scrape it.
ROLLOUT = {"gates": ["1", "50%", "100%"], "gate_verify_seconds": 30, "bake_seconds": 4,
           "progress_deadline_seconds": 20, "lock_seconds": 4, "scrape_interval_seconds": 1,
           "metrics_source": "prometheus"}


class Stack:
    def __init__(self, world: Any, directory: Path, prometheus: PrometheusServer, mislabeled: PrometheusServer):
        self.world, self.prometheus, self.mislabeled = world, prometheus, mislabeled
        self.directory = directory

    def config(self, prometheus_url: str, **rollout: Any) -> EnvConfig:
        path = self.directory / f"pipeline-{len(list(self.directory.glob('pipeline-*.toml')))}.toml"
        path.write_text(sandbox_toml(ROOT, {**ROLLOUT, "prometheus_url": prometheus_url, **rollout}, ["flag", "undo"],
                                     {"git_repo": str(self.world.repo.working_tree_dir)}))
        return load_config("local", path, self.world.environ)

    def deploy(self, config: EnvConfig, image: str) -> DeployResult:
        self.world.release_commit(image)
        return Deploy(config, DeployRequest(image), environ=self.world.environ).run()


def job(name: str, targets: FileTargets, token: str, api_server: str, pod_label: str) -> dict[str, Any]:
    return {"job_name": name, "scheme": "http", "authorization": {"credentials": token},
            "file_sd_configs": [{"files": [str(targets.path)], "refresh_interval": "1s"}],
            "relabel_configs": scrape_through_api_server(api_server, pod_label)}


@pytest.fixture(scope="module")
def stack(world, tmp_path_factory):
    directory = tmp_path_factory.mktemp("prometheus-source")
    kubeconfig = yaml.safe_load(Path(world.environ["KUBECONFIG"]).read_text())
    token = kubeconfig["users"][0]["user"]["token"]
    api_server = world.sandbox.urls["kube"].removeprefix("http://")
    config = load_config("local", world.config_path, world.environ)
    watcher = api_client(config.kube)
    watcher.user_agent = "pod-targets-test/1"
    (directory / "ok").mkdir()
    (directory / "mislabeled").mkdir()
    good, bad = FileTargets(directory / "ok" / "pods.json"), FileTargets(directory / "mislabeled" / "pods.json")
    with PodTargets(watcher, config.kube.namespace, [good, bad]), \
            PrometheusServer([job("kubernetes-pods", good, token, api_server, "pod")], directory / "ok") as ok, \
            PrometheusServer([job("kubernetes-pods", bad, token, api_server, "kubernetes_pod_name")],
                             directory / "mislabeled") as mislabeled:
        yield Stack(world, directory, ok, mislabeled)


def counting(kube_url: str, path: str) -> str:
    """A fault that only counts the requests it matches (a 1 ms delay)."""
    return faults_client.inject(kube_url, method="GET", path=path, action="delay", delay_seconds=0.001, times=None)


def hits(kube_url: str, fault_id: str) -> int:
    return next(f["hits"] for f in faults_client.listing(kube_url) if f["id"] == fault_id)


def metric_verdicts(result: DeployResult) -> list[dict[str, Any]]:
    return [v for v in result.verdicts if v["name"] in METRICS]


def test_a_good_release_is_verified_from_prometheus_without_scraping_a_pod(stack):
    kube = stack.world.sandbox.urls["kube"]
    scrapes = counting(kube, r"/pods/[^/]+:8080/proxy/metrics")
    health = counting(kube, r"/pods/[^/]+:8080/proxy/health")
    try:
        result = stack.deploy(stack.config(stack.prometheus.url), GOOD)
        pipeline_scrapes, health_checks = hits(kube, scrapes), hits(kube, health)
    finally:
        faults_client.clear(kube, scrapes)
        faults_client.clear(kube, health)
    assert result.outcome is DeployOutcome.DEPLOYED, result.reason
    verdicts = metric_verdicts(result)
    assert {v["stage"] for v in verdicts} >= {"verify gate 1/3", "bake"}
    assert verdicts and all(v["passed"] for v in verdicts), [v for v in verdicts if not v["passed"]]
    assert all("namespace=\"default\",pod=~\"klaviyo-sync-" in v["source"] for v in verdicts)
    assert {v["source"].split("(")[0] for v in verdicts} >= {"sum", "histogram_quantile"}   # PromQL
    assert pipeline_scrapes == 0                      # Prometheus scraped; the pipeline only asked it
    assert health_checks > 0                          # health still goes through the pod proxy
    live = deployment(stack.world)
    assert image_of(live) == GOOD and complete(live)
    scraped = {t["labels"]["pod"]: t["scrapeUrl"] for t in stack.prometheus.targets() if t["health"] == "up"}
    assert all(f"/pods/{pod}:http/proxy/metrics" in url for pod, url in scraped.items()) and scraped


def test_a_bad_release_is_rolled_back_on_prometheus_verdicts(stack):
    """A release that is only slow: its pods answer /health (slowly), so only the metrics see it."""
    if image_of(deployment(stack.world)) != GOOD:
        assert stack.deploy(stack.config(stack.prometheus.url), GOOD).outcome is DeployOutcome.DEPLOYED
    result = stack.deploy(stack.config(stack.prometheus.url), BAD)
    assert result.outcome is DeployOutcome.ROLLED_BACK, result.reason
    assert "automatic: latency at verify gate 1/3" in result.reason, result.reason
    failed = [v for v in metric_verdicts(result) if v["status"] == "fail"]
    assert [v["name"] for v in failed] == ["p95_latency"], failed
    assert failed[0]["value"] > 5 and failed[0]["source"].startswith(
        "histogram_quantile(0.95, sum by (le) ((increase(klaviyo_api_request_duration_seconds_bucket{")
    live = deployment(stack.world)
    assert image_of(live) == GOOD and complete(live)


def test_prometheus_without_samples_the_pipeline_can_select_never_passes(stack):
    """The mislabeled server scrapes the same pods (their samples are there, under
    ``kubernetes_pod_name``), but the pipeline selects ``pod``: inconclusive, then not deployed."""
    if image_of(deployment(stack.world)) != GOOD:
        assert stack.deploy(stack.config(stack.prometheus.url), GOOD).outcome is DeployOutcome.DEPLOYED
    wait_for(lambda: stack.mislabeled.query('klaviyo_api_responses_total{kubernetes_pod_name=~"klaviyo-sync-.+"}'),
             "the mislabeled Prometheus to hold the pods' samples", 30)
    result = stack.deploy(stack.config(stack.mislabeled.url, gate_verify_seconds=6), UNSEEN)
    assert result.outcome is not DeployOutcome.DEPLOYED, result.reason
    assert result.outcome is DeployOutcome.ROLLED_BACK, result.reason
    assert "automatic: verification_error at verify gate 1/3: inconclusive after 6s" in result.reason, result.reason
    assert not any(v["passed"] for v in metric_verdicts(result))
    assert any(v["name"] == "inconclusive" and v["status"] == "fail" for v in result.verdicts)
    live = deployment(stack.world)
    assert image_of(live) == GOOD and complete(live)
