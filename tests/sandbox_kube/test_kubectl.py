"""Real kubectl (1.32, via the dispatcher) against the API stand-in."""
from __future__ import annotations

import json
import re
import subprocess
import os

import yaml

from pipeline.sandbox.kube import resources as R
from tests.sandbox_kube.conftest import MANIFESTS, Kube, deployment


def test_version_selects_kubectl_132(kube: Kube) -> None:
    out = kube.kubectl("version").stdout
    assert "Server Version: v1.32.4" in out


def test_apply_client_side_creates_then_is_unchanged(kube: Kube) -> None:
    first = kube.kubectl("apply", "-f", str(MANIFESTS)).stdout
    assert "deployment.apps/web created" in first
    assert "service/web created" in first
    assert "secret/web-credentials created" in first
    second = kube.kubectl("apply", "-f", str(MANIFESTS)).stdout
    assert "deployment.apps/web unchanged" in second
    assert "service/web unchanged" in second
    live = kube.cluster.get(R.DEPLOYMENTS, "default", "web")
    assert "kubectl.kubernetes.io/last-applied-configuration" in live["metadata"]["annotations"]
    assert live["spec"]["strategy"] == {"type": "RollingUpdate",
                                        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}


def test_apply_client_side_configures_a_change(kube: Kube, tmp_path) -> None:
    kube.kubectl("apply", "-f", str(MANIFESTS / "deployment.yaml"))
    changed = (MANIFESTS / "deployment.yaml").read_text().replace("replicas: 2", "replicas: 4")
    (tmp_path / "d.yaml").write_text(changed)
    assert "deployment.apps/web configured" in kube.kubectl("apply", "-f", str(tmp_path / "d.yaml")).stdout
    live = kube.cluster.get(R.DEPLOYMENTS, "default", "web")
    assert live["spec"]["replicas"] == 4
    assert live["metadata"]["generation"] == 2


def test_apply_server_side_creates_and_updates(kube: Kube, tmp_path) -> None:
    out = kube.kubectl("apply", "--server-side", "-f", str(MANIFESTS)).stdout
    assert "deployment.apps/web serverside-applied" in out
    assert "service/web serverside-applied" in out
    changed = (MANIFESTS / "deployment.yaml").read_text().replace("1.0.0", "1.1.0")
    (tmp_path / "d.yaml").write_text(changed)
    kube.kubectl("apply", "--server-side", "-f", str(tmp_path / "d.yaml"))
    live = kube.cluster.get(R.DEPLOYMENTS, "default", "web")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.1.0")
    assert live["metadata"]["generation"] == 2
    secret = kube.cluster.get(R.SECRETS, "default", "web-credentials")
    assert "stringData" not in secret and "KLAVIYO_PRIVATE_KEY" in secret["data"]


def _set_rolled_out(kube: Kube, name: str = "web") -> None:
    def write() -> None:
        obj = kube.cluster.get(R.DEPLOYMENTS, "default", name)
        replicas = obj["spec"]["replicas"]
        obj["status"] = {"observedGeneration": obj["metadata"]["generation"], "replicas": replicas,
                         "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas}
        kube.cluster.update_status(R.DEPLOYMENTS, obj)
    kube.sandbox.call(write)


def _rows(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in text.strip().splitlines() if line.strip()]


def test_get_tables_match_a_real_cluster(kube: Kube) -> None:
    kube.kubectl("apply", "-f", str(MANIFESTS))
    _set_rolled_out(kube)
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "web-abc-x1", "labels": {"app": "web"}},
           "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}
    kube.kubectl("apply", "-f", "-", input=json.dumps(pod))

    def run() -> None:
        obj = kube.cluster.get(R.PODS, "default", "web-abc-x1")
        obj["status"] = {"phase": "Running", "podIP": "10.244.0.7",
                         "containerStatuses": [{"name": "web", "ready": True, "restartCount": 2}]}
        kube.cluster.update_status(R.PODS, obj)
    kube.sandbox.call(run)
    out = kube.kubectl("get", "deploy,pods,svc,secret").stdout
    blocks = [b for b in out.strip().split("\n\n")]
    deploy, pods, svc, secret = (_rows(b) for b in blocks)
    assert deploy[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert deploy[1][:4] == ["deployment.apps/web", "2/2", "2", "2"]
    assert re.fullmatch(r"\d+s", deploy[1][4])
    assert pods[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert pods[1][:4] == ["pod/web-abc-x1", "1/1", "Running", "2"]
    assert svc[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert svc[1][:5] == ["service/web", "ClusterIP", svc[1][2], "<none>", "80/TCP"]
    assert re.fullmatch(r"10\.96\.\d+\.\d+", svc[1][2])
    assert secret[0] == ["NAME", "TYPE", "DATA", "AGE"]
    assert secret[1][:3] == ["secret/web-credentials", "Opaque", "1"]
    wide = _rows(kube.kubectl("get", "deploy", "-o", "wide").stdout)
    assert wide[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert wide[1][5:] == ["web", "registry.local/klaviyo-sync:1.0.0", "app=web"]


def test_get_replicasets_table(kube: Kube) -> None:
    rs = deployment("web-5d9f7c", replicas=3)
    rs["kind"] = "ReplicaSet"
    kube.kubectl("create", "-f", "-", input=json.dumps(rs))
    rows = _rows(kube.kubectl("get", "rs").stdout)
    assert rows[0] == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    assert rows[1][:4] == ["web-5d9f7c", "3", "0", "0"]


def test_get_json_and_yaml_lists(kube: Kube) -> None:
    kube.kubectl("apply", "-f", str(MANIFESTS))
    listing = json.loads(kube.kubectl("get", "deploy,svc", "-o", "json").stdout)
    assert listing["kind"] == "List"
    assert sorted(i["kind"] for i in listing["items"]) == ["Deployment", "Service"]
    one = yaml.safe_load(kube.kubectl("get", "deploy", "web", "-o", "yaml").stdout)
    assert one["kind"] == "Deployment" and one["metadata"]["name"] == "web"
    assert one["spec"]["template"]["spec"]["containers"][0]["name"] == "web"


def test_annotate_bumps_generation(kube: Kube) -> None:
    kube.kubectl("apply", "-f", str(MANIFESTS / "deployment.yaml"))
    assert "deployment.apps/web annotated" in kube.kubectl("annotate", "deploy", "web", "team=sync").stdout
    live = kube.cluster.get(R.DEPLOYMENTS, "default", "web")
    assert live["metadata"]["annotations"]["team"] == "sync"
    assert live["metadata"]["generation"] == 2


def test_scale_through_the_scale_subresource(kube: Kube) -> None:
    kube.kubectl("apply", "-f", str(MANIFESTS / "deployment.yaml"))
    assert "deployment.apps/web scaled" in kube.kubectl("scale", "deploy/web", "--replicas=5").stdout
    assert kube.cluster.get(R.DEPLOYMENTS, "default", "web")["spec"]["replicas"] == 5
    failed = kube.kubectl("scale", "deploy/web", "--replicas=3", "--current-replicas=4", check=False)
    assert failed.returncode != 0


def test_delete(kube: Kube) -> None:
    kube.kubectl("apply", "-f", str(MANIFESTS))
    out = kube.kubectl("delete", "deploy", "web").stdout
    assert 'deployment.apps "web" deleted' in out
    missing = kube.kubectl("get", "deploy", "web", check=False)
    assert missing.returncode == 1
    assert 'Error from server (NotFound): deployments.apps "web" not found' in missing.stderr
    out = kube.kubectl("delete", "-f", str(MANIFESTS), "--ignore-not-found").stdout
    assert 'service "web" deleted' in out


def test_get_with_label_selectors(kube: Kube) -> None:
    for name, labels in [("a", {"app": "web", "tier": "front"}), ("b", {"app": "web"}),
                         ("c", {"app": "worker", "tier": "back"})]:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
               "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}
        kube.kubectl("create", "-f", "-", input=json.dumps(pod))

    def names(selector: str) -> list[str]:
        return kube.kubectl("get", "pods", "-l", selector, "-o", "name").stdout.split()

    assert names("app=web") == ["pod/a", "pod/b"]
    assert names("app==web,tier") == ["pod/a"]
    assert names("app!=web") == ["pod/c"]
    assert names("tier in (front,back)") == ["pod/a", "pod/c"]
    assert names("tier notin (front)") == ["pod/b", "pod/c"]
    assert names("!tier") == ["pod/b"]
    bad = kube.kubectl("get", "pods", "-l", "app===web", check=False)
    assert bad.returncode == 1
    assert "Error from server (BadRequest)" in bad.stderr and "unable to parse requirement" in bad.stderr


def test_unknown_resource_and_invalid_deployment(kube: Kube) -> None:
    unknown = kube.kubectl("get", "widgets", check=False)
    assert unknown.returncode == 1
    assert 'the server doesn\'t have a resource type "widgets"' in unknown.stderr
    bad = deployment("bad")
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    out = kube.kubectl("apply", "-f", "-", input=json.dumps(bad), check=False)
    assert out.returncode == 1
    assert 'The Deployment "bad" is invalid: spec.template.metadata.labels: Invalid value: ' \
           'map[string]string{"app":"other"}: `selector` does not match template `labels`' in out.stderr


def test_set_image_and_pause_resume_patches(kube: Kube) -> None:
    kube.kubectl("apply", "-f", str(MANIFESTS / "deployment.yaml"))
    assert "image updated" in kube.kubectl("set", "image", "deploy/web",
                                           "web=registry.local/klaviyo-sync:1.2.0").stdout
    live = kube.cluster.get(R.DEPLOYMENTS, "default", "web")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.2.0")
    assert live["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "LOG_LEVEL", "value": "info"}]
    assert "deployment.apps/web paused" in kube.kubectl("rollout", "pause", "deploy/web").stdout
    assert kube.cluster.get(R.DEPLOYMENTS, "default", "web")["spec"]["paused"] is True
    again = kube.kubectl("rollout", "pause", "deploy/web", check=False)
    assert 'deployments.apps "web" is already paused' in again.stderr
    assert "deployment.apps/web resumed" in kube.kubectl("rollout", "resume", "deploy/web").stdout
    assert "paused" not in kube.cluster.get(R.DEPLOYMENTS, "default", "web")["spec"]


def test_rollout_status_follows_the_watch(kube: Kube) -> None:
    """rollout status = GET, LIST with fieldSelector metadata.name, then WATCH from the list's RV."""
    kube.kubectl("apply", "-f", str(MANIFESTS / "deployment.yaml"))
    env = dict(os.environ, KUBECONFIG=str(kube.kubeconfig))
    proc = subprocess.Popen(["kubectl", "rollout", "status", "deploy/web", "--timeout=30s"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline()
        assert "Waiting for deployment" in first
        _set_rolled_out(kube)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert 'deployment "web" successfully rolled out' in out, (out, err)
    assert proc.returncode == 0


def test_typed_create_commands_send_protobuf(kube: Kube) -> None:
    assert "namespace/team created" in kube.kubectl("create", "namespace", "team").stdout
    kube.kubectl("create", "configmap", "cfg", "--from-literal=a=b", "-n", "team")
    kube.kubectl("create", "secret", "generic", "s1", "--from-literal=k=v", "-n", "team")
    assert kube.cluster.get(R.CONFIGMAPS, "team", "cfg")["data"] == {"a": "b"}
    assert kube.cluster.get(R.SECRETS, "team", "s1")["data"] == {"k": "dg=="}
    assert 'namespace "team" deleted' in kube.kubectl("delete", "namespace", "team").stdout
    assert kube.cluster.list(R.SECRETS, "team") == []
