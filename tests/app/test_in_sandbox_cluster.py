"""End to end in the sandbox cluster, with the real kubectl: k8s/ applied, the kubelet runs the
app as local processes, /health and /metrics read through the API server's pod proxy."""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess

import pytest

from app.support import REPO, metric

pytestmark = [pytest.mark.kubectl, pytest.mark.slow]


def kubectl(config, *args: str, input: str | None = None, timeout: float = 90) -> str:
    done = subprocess.run(["kubectl", "--kubeconfig", str(config), *args], input=input,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout


@pytest.fixture
def cluster(tmp_path, kubecache):
    if shutil.which("kubectl") is None or importlib.util.find_spec(
            "pipeline.sandbox.kube.controllers.processes") is None:
        pytest.skip("kubectl or the kubelet's process runner is not available")
    from pipeline.sandbox.harness import Sandbox
    from pipeline.sandbox.supervisor import kubeconfig
    with Sandbox(["kube", "klaviyo", "launchdarkly"]) as sb:
        config = tmp_path / "kubeconfig"
        config.write_text(kubeconfig(sb.urls["kube"]))
        yield sb, config


def test_manifests_deploy_and_pods_answer_through_the_pod_proxy(cluster):
    sb, config = cluster
    creds = sb.credentials
    kubectl(config, "create", "secret", "generic", "klaviyo-sync-secrets",
            f"--from-literal=KLAVIYO_PRIVATE_KEY={creds.klaviyo_private_key}",
            f"--from-literal=KLAVIYO_WEBHOOK_SIGNING_SECRET={creds.klaviyo_webhook_secret}",
            f"--from-literal=LAUNCHDARKLY_SDK_KEY={creds.launchdarkly_sdk_key}")
    kubectl(config, "apply", "-f", str(REPO / "k8s"))
    kubectl(config, "rollout", "status", "deployment/klaviyo-sync", "--timeout=80s", timeout=100)

    pods = json.loads(kubectl(config, "get", "pods", "-l", "app=klaviyo-sync", "-o", "json"))["items"]
    assert len(pods) == 4
    name = pods[0]["metadata"]["name"]
    base = f"/api/v1/namespaces/default/pods/{name}:8080/proxy"
    health = json.loads(kubectl(config, "get", "--raw", f"{base}/health"))
    assert health["status"] == "healthy" and health["version"] == "1.0.0"
    assert health["killSwitch"]["source"] == "launchdarkly flag klaviyo-enabled"
    text = kubectl(config, "get", "--raw", f"{base}/metrics")
    assert metric(text, "app_info", version="1.0.0") == 1
    assert metric(text, "klaviyo_kill_switch_enabled") == 1

    # A never-ready release: maxSurge 25% / maxUnavailable 0 = one new pod, all 4 old ones serving.
    kubectl(config, "set", "image", "deployment/klaviyo-sync", "app=klaviyo-sync:1.1.0-never-ready")
    stalled = subprocess.run(["kubectl", "--kubeconfig", str(config), "rollout", "status",
                              "deployment/klaviyo-sync", "--timeout=4s"], capture_output=True, text=True, timeout=60)
    assert stalled.returncode != 0
    status = json.loads(kubectl(config, "get", "deployment", "klaviyo-sync", "-o", "json"))["status"]
    assert status["updatedReplicas"] == 1 and status["availableReplicas"] == 4
    assert status.get("unavailableReplicas", 0) == 1           # the surge pod, never Ready
