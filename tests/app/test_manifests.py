"""k8s/: plain YAML that the deploy stage renders; the contract the pipeline relies on."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess

import pytest
import yaml

from app.support import REPO

K8S = REPO / "k8s"
SECRET_NAMES = {"KLAVIYO_PRIVATE_KEY", "KLAVIYO_WEBHOOK_SIGNING_SECRET", "LAUNCHDARKLY_SDK_KEY"}


def objects() -> dict[str, dict]:
    docs = [d for f in sorted(K8S.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]
    return {d["kind"]: d for d in docs}


def app_container(deployment: dict) -> dict:
    return next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "app")


def test_only_a_deployment_and_a_service_no_secret():
    assert sorted(objects()) == ["Deployment", "Service"]


def test_deployment_contract():
    d = objects()["Deployment"]
    assert d["metadata"]["name"] == "klaviyo-sync" and d["metadata"]["namespace"] == "default"
    spec = d["spec"]
    assert spec["replicas"] == 4 and spec["revisionHistoryLimit"] >= 2 and spec["progressDeadlineSeconds"] > 0
    assert spec["selector"]["matchLabels"] == {"app": "klaviyo-sync"}
    assert spec["template"]["metadata"]["labels"]["app"] == "klaviyo-sync"
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}
    annotations = spec["template"]["metadata"]["annotations"]
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": "8080",
                           "prometheus.io/path": "/metrics"}
    c = app_container(d)
    assert c["image"] == "klaviyo-sync:1.0.0"
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert c["readinessProbe"]["periodSeconds"] <= 2 and c["readinessProbe"]["failureThreshold"] >= 1
    assert c["livenessProbe"]["httpGet"] == {"path": "/live", "port": "http"}
    assert set(c["resources"]) == {"requests", "limits"}


def test_secrets_only_from_the_secret():
    env = {e["name"]: e for e in app_container(objects()["Deployment"])["env"]}
    assert SECRET_NAMES <= set(env)
    for name in SECRET_NAMES:
        assert "value" not in env[name]
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "klaviyo-sync-secrets", "key": name}
    text = "".join(f.read_text() for f in K8S.glob("*.yaml"))
    assert "pk_" not in text and "sdk-" not in text


def test_service_selects_the_pods():
    svc, d = objects()["Service"], objects()["Deployment"]
    labels = d["spec"]["template"]["metadata"]["labels"]
    assert svc["metadata"]["name"] == "klaviyo-sync"
    assert all(labels.get(k) == v for k, v in svc["spec"]["selector"].items())
    assert svc["spec"]["ports"][0]["targetPort"] == "http"


def test_the_deploy_stage_renders_them():
    render_mod = pytest.importorskip("pipeline.deploy.render")
    from pipeline.config import EnvConfig, KubeSettings
    config = EnvConfig(name="staging", kube=KubeSettings(namespace="klaviyo-sync"))
    rendered = render_mod.render(render_mod.load_manifests(K8S), config, "klaviyo-sync:1.4.0", "test")
    assert app_container(rendered.deployment)["image"] == "klaviyo-sync:1.4.0"
    assert {o["metadata"]["namespace"] for o in rendered.objects} == {"klaviyo-sync"}


@pytest.mark.kubectl
def test_kubectl_client_dry_run_parses_them(kubecache, tmp_path):
    if shutil.which("kubectl") is None or importlib.util.find_spec("pipeline.sandbox.kube.server") is None:
        pytest.skip("kubectl or the kube stand-in is not available")
    from pipeline.sandbox.harness import Sandbox
    from pipeline.sandbox.supervisor import kubeconfig
    with Sandbox(["kube"]) as sb:
        config = tmp_path / "kubeconfig"
        config.write_text(kubeconfig(sb.urls["kube"]))
        done = subprocess.run(["kubectl", "--kubeconfig", str(config), "apply", "--dry-run=client",
                               "--validate=false", "-f", str(K8S), "-o", "name"],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.split()) == ["deployment.apps/klaviyo-sync", "service/klaviyo-sync"]
