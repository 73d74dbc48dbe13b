"""Real-process mode of the simulated kubelet, with a throwaway HTTP server as the "image"."""
from __future__ import annotations

import base64
import json
import os
import sys
import textwrap

import aiohttp

from pipeline.sandbox.kube.controllers import controller_state
from pipeline.sandbox.kube.controllers.images import ProcessSpec
from pipeline.sandbox.kube.controllers.processes import PORTS_ANNOTATION, build_env, resolve_env
from pipeline.sandbox.kube.resources import DEPLOYMENTS, PODS, SECRETS

from tests.sandbox_kube.test_controllers_harness import deployment, run_cluster  # noqa: F401

SERVER = textwrap.dedent('''
    import json, os, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer
    print("starting version", os.environ.get("APP_VERSION"), flush=True)
    if os.environ.get("EXIT_AT_START"):
        sys.exit(3)
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(dict(os.environ)).encode() if self.path == "/env" else b"ok"
            self.send_response(500 if self.path == "/fail" else 200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, fmt, *args):
            print("GET", self.path, flush=True)
    HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
''')


def _spec(tmp_path, replicas=1, env=None, image="example.test/tiny:2.0"):
    body = deployment(replicas=replicas, image=image)
    container = body["spec"]["template"]["spec"]["containers"][0]
    container["ports"] = [{"containerPort": 8080, "name": "http"}]
    container["readinessProbe"] = {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1}
    container["env"] = env or []
    body["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 2
    return body


def _extra(tmp_path):
    script = tmp_path / "tiny_server.py"
    script.write_text(SERVER)
    return {"kube_processes": {"tiny": {"command": [sys.executable, str(script)]}}}


def _pods(h):
    return h.cluster.list(PODS, "default")


def _ready_pod(h):
    pods = _pods(h)
    return pods and all(c["status"] == "True" for c in pods[0].get("status", {}).get("conditions", [])
                        if c["type"] == "Ready") and pods[0].get("status", {}).get("conditions") and pods[0]


def test_env_resolution_pure():
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u"}, "spec": {}}
    secret = {"data": {"key": base64.b64encode(b"s3cret").decode()}}
    store = {("ns", "creds"): secret}
    container = {"env": [{"name": "A", "value": "1"},
                         {"name": "K", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "key"}}},
                         {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}
    env = resolve_env(container, pod, lambda r, ns, name: store.get((ns, name)))
    assert env == {"A": "1", "K": "s3cret", "N": "p"}
    full = build_env(env, ProcessSpec(["x"], {"PYTHONPATH": "/p"}), "ghcr.io/a/app:1.2.0-bad-auth", 4321,
                     {"klaviyo": "http://k", "launchdarkly": "http://l"}, {"PATH": "/bin", "SECRET_HOST_VAR": "x"})
    assert full["PORT"] == "4321" and full["APP_VERSION"] == "1.2.0-bad-auth" and full["PYTHONPATH"] == "/p"
    assert full["KLAVIYO_BASE_URL"] == "http://k" and full["LAUNCHDARKLY_STREAM_URI"] == "http://l"
    assert "SECRET_HOST_VAR" not in full and full["PATH"] == "/bin"
    overridden = build_env({"KLAVIYO_BASE_URL": "http://mine"}, ProcessSpec(["x"]), "a:1", None, {"klaviyo": "http://k"}, {})
    assert overridden["KLAVIYO_BASE_URL"] == "http://mine"


def test_process_pod_runs_probes_env_logs_and_is_killed_on_delete(run_cluster, tmp_path):
    async def scenario(h):
        h.cluster.create(SECRETS, {"metadata": {"name": "creds", "namespace": "default"},
                                   "data": {"token": base64.b64encode(b"tok-123").decode()}})
        env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}]
        h.cluster.create(DEPLOYMENTS, _spec(tmp_path, env=env))
        pod = await h.wait_for(lambda: _ready_pod(h), timeout=20)
        ports = json.loads(pod["metadata"]["annotations"][PORTS_ANNOTATION])
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{ports['8080']}/env") as response:
                seen = await response.json(content_type=None)
        assert seen["APP_VERSION"] == "2.0" and seen["TOKEN"] == "tok-123" and seen["PORT"] == str(ports["8080"])
        cs = pod["status"]["containerStatuses"][0]
        assert cs["ready"] and "running" in cs["state"] and cs["restartCount"] == 0
        state = controller_state(h.cluster)
        log = state.log_dir / f"default_{pod['metadata']['name']}_web.log"
        await h.wait_for(lambda: "GET /ready" in log.read_text(), timeout=5)
        assert "starting version 2.0" in log.read_text()
        pid = int(cs["containerID"].rsplit("/", 1)[1])
        h.cluster.delete(DEPLOYMENTS, "default", "web")

        def gone():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            return False
        await h.wait_for(gone, timeout=10)
    run_cluster(scenario, extra=_extra(tmp_path))


def test_missing_secret_waits_in_create_container_config_error(run_cluster, tmp_path):
    async def scenario(h):
        env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "late", "key": "token"}}}]
        h.cluster.create(DEPLOYMENTS, _spec(tmp_path, env=env))

        def waiting():
            pods = _pods(h)
            statuses = pods[0].get("status", {}).get("containerStatuses") if pods else None
            state = statuses and statuses[0]["state"].get("waiting")
            return state and state["reason"] != "ContainerCreating" and state
        state = await h.wait_for(waiting, timeout=10)
        assert state == {"reason": "CreateContainerConfigError", "message": 'secret "late" not found'}
        assert _pods(h)[0]["status"]["phase"] == "Pending"
        h.cluster.create(SECRETS, {"metadata": {"name": "late", "namespace": "default"},
                                   "data": {"token": base64.b64encode(b"x").decode()}})
        await h.wait_for(lambda: _ready_pod(h), timeout=20)
    run_cluster(scenario, extra=_extra(tmp_path))


def test_exiting_process_goes_to_crash_loop(run_cluster, tmp_path):
    async def scenario(h):
        h.cluster.create(DEPLOYMENTS, _spec(tmp_path, env=[{"name": "EXIT_AT_START", "value": "1"}]))

        def crashed():
            pods = _pods(h)
            statuses = pods[0].get("status", {}).get("containerStatuses") if pods else None
            return statuses and statuses[0]["restartCount"] >= 1 and statuses[0]
        cs = await h.wait_for(crashed, timeout=15)
        assert cs["lastState"]["terminated"]["exitCode"] == 3
        assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff" and cs["ready"] is False
    run_cluster(scenario, extra=_extra(tmp_path))


def test_restarted_sandbox_restarts_process_pods(run_cluster, tmp_path):
    async def first(h):
        h.cluster.create(DEPLOYMENTS, _spec(tmp_path))
        await h.wait_for(lambda: _ready_pod(h), timeout=20)
    cluster = run_cluster(first, extra=_extra(tmp_path))
    old = _pods_of(cluster)[0]
    old_pid = int(old["status"]["containerStatuses"][0]["containerID"].rsplit("/", 1)[1])
    try:   # stopping the controllers killed the process (SIGTERM, and it was reaped)
        os.kill(old_pid, 0)
        raise AssertionError("process survived the controllers' stop")
    except ProcessLookupError:
        pass
    old_port = json.loads(old["metadata"]["annotations"][PORTS_ANNOTATION])["8080"]

    async def second(h):
        async def answers():
            pod = _pods(h)[0]
            port = json.loads(pod["metadata"]["annotations"][PORTS_ANNOTATION])["8080"]
            try:
                async with aiohttp.ClientSession() as session:
                    async with session.get(f"http://127.0.0.1:{port}/ready") as response:
                        return response.status == 200
            except aiohttp.ClientError:
                return False
        # the old process died with the previous controllers; the kubelet starts a new one
        # and publishes its new port (a store event), then readiness flips (another event)
        await h.wait_for(lambda: _ready_pod(h) and json.loads(
            _pods(h)[0]["metadata"]["annotations"][PORTS_ANNOTATION])["8080"] != old_port, timeout=20)
        assert await answers()
        assert _pods(h)[0]["metadata"]["name"] == old["metadata"]["name"]
    run_cluster(second, extra=_extra(tmp_path), cluster=cluster)
    assert old_port


def _pods_of(cluster):
    return cluster.list(PODS, "default")


def test_sandbox_restart_from_disk_restarts_process_pods_behind_the_pod_proxy(tmp_path, kubecache):
    """Through the real server: state and the process map persist; the new process answers the proxy."""
    import httpx

    from pipeline.sandbox.harness import Sandbox

    state_dir = tmp_path / "state"
    script = tmp_path / "tiny_server.py"
    script.write_text(SERVER)
    body = _spec(tmp_path)
    del body["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["periodSeconds"]

    def proxied(url: str) -> tuple[int, str]:
        with httpx.Client(base_url=url, timeout=10) as http:
            pod = http.get("/api/v1/namespaces/default/pods").json()["items"][0]
            response = http.get(f"/api/v1/namespaces/default/pods/{pod['metadata']['name']}:8080/proxy/env")
            return response.status_code, pod["metadata"]["annotations"][PORTS_ANNOTATION]

    def wait_ready(sb: Sandbox, old_ports: str | None = None) -> None:
        cluster = sb.apps["kube"]["state"]
        import time
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:   # polled from the test thread; the stand-in itself never polls
            pods = sb.call(lambda: cluster.list(PODS, "default"))
            if pods and pods[0].get("status", {}).get("containerStatuses", [{}])[0].get("ready") \
                    and pods[0]["metadata"].get("annotations", {}).get(PORTS_ANNOTATION) not in (None, old_ports):
                return
            time.sleep(0.05)
        raise AssertionError("pod never became ready")

    with Sandbox(["kube"], state_dir=state_dir) as sb:
        url = sb.urls["kube"]
        assert httpx.put(url + "/_sandbox/processes", json={"tiny": [sys.executable, str(script)]}).status_code == 200
        assert httpx.post(url + "/apis/apps/v1/namespaces/default/deployments", json=body).status_code == 201
        wait_ready(sb)
        code, first_ports = proxied(url)
        assert code == 200
    with Sandbox(["kube"], state_dir=state_dir) as sb:
        wait_ready(sb, old_ports=first_ports)
        code, second_ports = proxied(sb.urls["kube"])
        assert code == 200 and second_ports != first_ports


def test_failing_liveness_probe_restarts_the_process(run_cluster, tmp_path):
    async def scenario(h):
        body = _spec(tmp_path)
        body["spec"]["template"]["spec"]["containers"][0]["livenessProbe"] = {
            "httpGet": {"path": "/fail", "port": 8080}, "periodSeconds": 0.1, "failureThreshold": 2}
        h.cluster.create(DEPLOYMENTS, body)

        def restarted():
            pods = _pods(h)
            statuses = pods[0].get("status", {}).get("containerStatuses") if pods else None
            return statuses and statuses[0]["restartCount"] >= 1 and statuses[0]
        cs = await h.wait_for(restarted, timeout=15)
        assert cs["lastState"]["terminated"]["exitCode"] == 143       # SIGTERM
        assert cs["lastState"]["terminated"]["reason"] == "Error"
    run_cluster(scenario, extra=_extra(tmp_path))
