"""Discovery, OpenAPI, pod proxy, persistence and watch fan-out over real HTTP."""
from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from pipeline.sandbox.harness import Sandbox
from pipeline.sandbox.kube import resources as R
from pipeline.sandbox.kube import server
from tests.sandbox_kube.conftest import MANIFESTS, Kube, deployment, status_of

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"


def test_discovery_legacy_and_aggregated(kube: Kube) -> None:
    with kube.http() as http:
        assert http.get("/version").json()["minor"] == "32"
        assert http.get("/api").json()["versions"] == ["v1"]
        groups = http.get("/apis").json()
        assert {g["name"] for g in groups["groups"]} == {"apps", "coordination.k8s.io"}
        core = http.get("/api/v1").json()
        assert core["kind"] == "APIResourceList" and "pods" in [r["name"] for r in core["resources"]]
        agg = http.get("/apis", headers={"Accept": AGGREGATED})
        assert agg.headers["Content-Type"] == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        assert agg.json()["kind"] == "APIGroupDiscoveryList"
        assert http.get("/apis/apps").json()["preferredVersion"]["groupVersion"] == "apps/v1"
        root = http.get("/openapi/v3").json()["paths"]
        doc = http.get(root["apis/apps/v1"]["serverRelativeURL"]).json()
        patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
        assert patch["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
        assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
        assert http.get("/_sandbox/health").json()["ok"] is True


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps({"path": self.path, "status": "ok"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_port():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_pod_proxy_forwards_to_the_mapped_process(kube: Kube, echo_port: int) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "web-1", "annotations": {"sandbox.pipeline/ports": json.dumps({"8080": echo_port})}},
           "spec": {"containers": [{"name": "web", "image": "a:1", "ports": [{"containerPort": 8080, "name": "http"}]}]}}
    with kube.http() as http:
        assert http.post("/api/v1/namespaces/default/pods", json=pod).status_code == 201
        for name in ("web-1:8080", "web-1:http", "web-1"):
            answer = http.get(f"/api/v1/namespaces/default/pods/{name}/proxy/health", params={"deep": "1"})
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"path": "/health?deep=1", "status": "ok"}
        refused = status_of(http.get("/api/v1/namespaces/default/pods/web-1:9090/proxy/health"))
        assert refused["code"] == 503 and refused["reason"] == "ServiceUnavailable"
        missing = status_of(http.get("/api/v1/namespaces/default/pods/ghost:8080/proxy/health"))
        assert missing["code"] == 404 and missing["message"] == 'pods "ghost" not found'


def test_pod_proxy_through_the_python_client(kube: Kube, echo_port: int) -> None:
    from kubernetes import client as k8s
    core = k8s.CoreV1Api(kube.api_client())
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "web-2", "annotations": {"sandbox.pipeline/ports": json.dumps({"8080": echo_port})}},
           "spec": {"containers": [{"name": "web", "image": "a:1", "ports": [{"containerPort": 8080}]}]}}
    core.create_namespaced_pod("default", pod)
    text = core.connect_get_namespaced_pod_proxy_with_path("web-2:8080", "default", "health")
    assert "ok" in text


def test_state_survives_a_restart(tmp_path: Path, kubecache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "load_controllers", lambda: None)
    state = tmp_path / "state"
    with Sandbox(["kube"], state_dir=state) as first:
        with httpx.Client(base_url=first.urls["kube"]) as http:
            made = http.post("/apis/apps/v1/namespaces/default/deployments", json=deployment("web")).json()
    assert (state / "kube.json").exists()
    with Sandbox(["kube"], state_dir=state) as second:
        with httpx.Client(base_url=second.urls["kube"]) as http:
            live = http.get("/apis/apps/v1/namespaces/default/deployments/web").json()
            listing = http.get("/api/v1/namespaces").json()
    assert live["metadata"]["uid"] == made["metadata"]["uid"]
    assert int(listing["metadata"]["resourceVersion"]) >= int(made["metadata"]["resourceVersion"])
    assert [n["metadata"]["name"] for n in listing["items"]] == ["default", "kube-system"]


def test_hundred_watchers_all_get_every_event(kube: Kube) -> None:
    path = "/apis/apps/v1/namespaces/default/deployments"
    with kube.http() as http:
        rv = http.post(path, json=deployment("web")).json()["metadata"]["resourceVersion"]

    async def run() -> list[list[int]]:
        async with httpx.AsyncClient(base_url=kube.url, timeout=30,
                                     limits=httpx.Limits(max_connections=200)) as client:
            ready = asyncio.Event()
            opened = 0

            async def watcher() -> list[int]:
                nonlocal opened
                seen: list[int] = []
                async with client.stream("GET", path, params={"watch": "true", "resourceVersion": rv,
                                                              "timeoutSeconds": "20"}) as resp:
                    opened += 1
                    if opened == 100:
                        ready.set()
                    async for line in resp.aiter_lines():
                        event = json.loads(line)
                        seen.append(event["object"]["spec"]["replicas"])
                        if len(seen) == 10:
                            break
                return seen

            tasks = [asyncio.create_task(watcher()) for _ in range(100)]
            await asyncio.wait_for(ready.wait(), 20)
            while kube.sandbox.call(lambda: kube.sandbox.apps["kube"]["kube"].hub.count) < 100:
                await asyncio.sleep(0.01)
            for replicas in range(1, 11):
                await client.patch(f"{path}/web", json={"spec": {"replicas": replicas}},
                                   headers={"Content-Type": "application/merge-patch+json"})
            return await asyncio.wait_for(asyncio.gather(*tasks), 30)

    results = asyncio.run(run())
    assert len(results) == 100 and all(seen == list(range(1, 11)) for seen in results)


def test_watch_too_old_gets_410_error_event(kube: Kube) -> None:
    kube.sandbox.call(lambda: kube.cluster.store.set_history_limit(2))
    path = "/api/v1/namespaces/default/configmaps"
    with kube.http() as http:
        for i in range(5):
            http.post(path, json={"metadata": {"name": f"c{i}"}, "data": {}})
        lines = http.get(path, params={"watch": "1", "resourceVersion": "1"}).text.splitlines()
        table = http.get(path, params={"watch": "true", "timeoutSeconds": "1"},
                         headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}).text.splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"
    assert event["object"]["message"].startswith("too old resource version: 1 (")
    assert [json.loads(line)["object"]["kind"] for line in table] == ["Table"] * 5


def test_with_controllers_kubectl_sees_the_rollout_objects(kube_with_controllers: Kube) -> None:
    kube = kube_with_controllers
    kube.kubectl("apply", "-f", str(MANIFESTS))
    out = kube.kubectl("wait", "--for=jsonpath={.status.replicas}=2", "deploy/web", "--timeout=20s", check=False)
    assert out.returncode == 0, out.stderr
    text = kube.kubectl("get", "deploy,rs,pods").stdout
    assert "NAME                  READY   UP-TO-DATE   AVAILABLE   AGE" in text
    assert "DESIRED   CURRENT   READY   AGE" in text
    assert "READY   STATUS" in text
    assert len(kube.cluster.list(R.PODS, "default")) == 2


def test_request_log_counts_api_requests_by_verb_and_client():
    import httpx

    from pipeline.sandbox.harness import Sandbox

    with Sandbox(["kube"]) as sandbox:
        url = sandbox.urls["kube"]
        httpx.delete(f"{url}/_sandbox/requests")
        httpx.get(f"{url}/api/v1/namespaces/default/pods", headers={"User-Agent": "kubectl/v1.32.4"})
        httpx.get(f"{url}/apis/apps/v1/namespaces/default/deployments?watch=true&timeoutSeconds=1")
        counts = httpx.get(f"{url}/_sandbox/requests").json()
        assert counts["total"] == 2
        assert counts["by_verb"] == {"GET": 1, "WATCH": 1}
        assert counts["by_user_agent"]["kubectl"] == 1
        assert httpx.delete(f"{url}/_sandbox/requests").json()["total"] == 0
