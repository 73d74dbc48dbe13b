"""Small API-server semantics a client can tell apart (issue 14 items 3 and 5), through real clients.

Each test failed on the stand-in before: a no-op PUT bumped resourceVersion and sent
MODIFIED; ``app: y`` was stored; Leases had a generation; ``+00:00`` times were stored as
sent; ``tailLines`` was ignored.
"""
from __future__ import annotations

import datetime as dt
import json
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.rest import ApiException

from pipeline.sandbox.kube.resources import PODS
from tests.sandbox_kube.conftest import Kube, deployment



def test_a_put_that_changes_nothing_keeps_the_version_and_sends_no_event(kube: Kube, apps: k8s.AppsV1Api) -> None:
    current = apps.read_namespaced_deployment("web", "default")
    stale_rv = current.metadata.resource_version
    events: list[str] = []

    def follow() -> None:
        for event in watch.Watch().stream(apps.list_namespaced_deployment, "default", resource_version=stale_rv,
                                          timeout_seconds=2):
            events.append(event["type"])
    watcher = threading.Thread(target=follow)
    watcher.start()
    time.sleep(0.2)
    same = apps.replace_namespaced_deployment("web", "default", current)
    assert same.metadata.resource_version == stale_rv
    again = apps.replace_namespaced_deployment("web", "default", current)   # carries the same (not stale) version
    assert again.metadata.resource_version == stale_rv
    watcher.join(5)
    assert events == []
    current.spec.replicas = 3
    changed = apps.replace_namespaced_deployment("web", "default", current)
    assert changed.metadata.resource_version != stale_rv and changed.metadata.generation == 2


def test_a_patch_or_annotate_that_changes_nothing_is_a_no_op(kube: Kube, apps: k8s.AppsV1Api) -> None:
    kube.kubectl("annotate", "deploy/web", "team=sync")
    before = apps.read_namespaced_deployment("web", "default").metadata.resource_version
    kube.kubectl("annotate", "deploy/web", "team=sync", "--overwrite")
    apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 2}})
    assert apps.read_namespaced_deployment("web", "default").metadata.resource_version == before


def test_a_boolean_label_value_is_a_400(kube: Kube, tmp_path: Path) -> None:
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flags\n  labels:\n    app: y\n")
    refused = kube.kubectl("apply", "-f", str(manifest), check=False)   # kubectl decodes first: same Go decoder
    decoder_says = "json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels of type string"
    assert refused.returncode == 1 and refused.stderr.endswith(decoder_says + "\n")
    with httpx.Client(base_url=kube.url) as http:   # a client that sends YAML's bool as JSON true
        failed = http.post("/api/v1/namespaces/default/configmaps",
                           json={"metadata": {"name": "flags", "labels": {"app": True}}})
    assert failed.status_code == 400
    assert failed.json()["message"] == f'ConfigMap in version "v1" cannot be handled as a ConfigMap: {decoder_says}'
    with httpx.Client(base_url=kube.url) as http:
        body = deployment("bad")
        body["spec"]["template"]["metadata"]["labels"]["canary"] = True
        response = http.post("/apis/apps/v1/namespaces/default/deployments", json=body)
    assert response.status_code == 400 and response.json()["reason"] == "BadRequest"
    assert response.json()["message"] == ('Deployment in version "v1" cannot be handled as a Deployment: json: cannot '
                                          'unmarshal bool into Go struct field ObjectMeta.spec.template.metadata.labels '
                                          'of type string')


def test_leases_have_no_generation_and_times_come_back_in_utc_with_z(kube: Kube) -> None:
    leases = k8s.CoordinationV1Api(kube.api_client())
    renew = dt.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    body = k8s.V1Lease(metadata=k8s.V1ObjectMeta(name="deploy-lock"),
                       spec=k8s.V1LeaseSpec(holder_identity="me", lease_duration_seconds=15,
                                            acquire_time=renew, renew_time=renew))
    created = leases.create_namespaced_lease("default", body)
    assert created.metadata.generation is None
    raw = json.loads(kube.kubectl("get", "lease", "deploy-lock", "-o", "json").stdout)
    assert raw["spec"]["renewTime"] == "2026-03-01T10:00:00.123456Z"
    assert raw["spec"]["acquireTime"] == "2026-03-01T10:00:00.123456Z"
    assert "generation" not in raw["metadata"]
    utc = dt.datetime(2026, 3, 1, 10, 0, 1, 5, tzinfo=dt.timezone.utc)
    created.spec.renew_time = utc
    replaced = leases.replace_namespaced_lease("deploy-lock", "default", created)
    assert replaced.metadata.generation is None
    assert json.loads(kube.kubectl("get", "lease", "deploy-lock", "-o", "json").stdout)["spec"]["renewTime"] \
        == "2026-03-01T10:00:01.000005Z"


def test_status_condition_times_are_normalised(kube: Kube, apps: k8s.AppsV1Api) -> None:
    with httpx.Client(base_url=kube.url) as http:
        path = "/apis/apps/v1/namespaces/default/deployments/web/status"
        patch = {"status": {"conditions": [{"type": "Available", "status": "True",
                                             "lastTransitionTime": "2026-03-01T12:00:00+02:00",
                                             "lastUpdateTime": "2026-03-01T10:00:00.5+00:00"}]}}
        response = http.patch(path, json=patch, headers={"Content-Type": "application/merge-patch+json"})
    condition = response.json()["status"]["conditions"][0]
    assert (condition["lastTransitionTime"], condition["lastUpdateTime"]) == ("2026-03-01T10:00:00Z",
                                                                              "2026-03-01T10:00:00Z")


def test_pods_and_configmaps_and_services_have_no_generation(kube: Kube) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    pod = core.create_namespaced_pod("default", {"metadata": {"name": "p"},
                                                 "spec": {"containers": [{"name": "c", "image": "i"}]}})
    cm = core.create_namespaced_config_map("default", {"metadata": {"name": "c"}, "data": {"a": "b"}})
    assert pod.metadata.generation is None and cm.metadata.generation is None


LOGGER = textwrap.dedent('''
    import os, time
    from http.server import BaseHTTPRequestHandler, HTTPServer
    for n in range(1, 6):
        print("line", n, flush=True)
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
        def log_message(self, *args):
            pass
    HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
''')


def test_logs_tail_lines(kube_with_controllers: Kube, tmp_path: Path) -> None:
    kube = kube_with_controllers
    script = tmp_path / "logger.py"
    script.write_text(LOGGER)
    assert httpx.put(kube.url + "/_sandbox/processes", json={"logger": [sys.executable, str(script)]}).status_code == 200
    body = deployment("web", replicas=1, image="example.test/logger:1")
    body["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 1
    k8s.AppsV1Api(kube.api_client()).create_namespaced_deployment("default", body)
    kube.kubectl("rollout", "status", "deploy/web", "--timeout=30s")
    name = kube.sandbox.call(lambda: kube.cluster.list(PODS, "default"))[0]["metadata"]["name"]  # type: ignore[index]
    deadline = time.monotonic() + 10
    while "line 5" not in kube.kubectl("logs", name).stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kube.kubectl("logs", name, "--tail=2").stdout == "line 4\nline 5\n"
    core = k8s.CoreV1Api(kube.api_client())
    assert core.read_namespaced_pod_log(name, "default", tail_lines=1) == "line 5\n"
    assert core.read_namespaced_pod_log(name, "default", tail_lines=0) == ""
    with pytest.raises(ApiException) as refused:
        core.read_namespaced_pod_log(name, "default", tail_lines=-1)
    assert refused.value.status == 422
