"""Fault injection (``/_sandbox/faults``) as real clients see it: kubectl, the python client, httpx."""
from __future__ import annotations

import json

import httpx
import pytest
import urllib3
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.rest import ApiException

from pipeline.sandbox.kube import faults_client
from tests.sandbox_kube.conftest import Kube, deployment



def no_retries(kube: Kube) -> k8s.ApiClient:
    """The python client without urllib3's own retries, so a dropped GET is seen, not retried."""
    config = k8s.Configuration(host=kube.url)
    config.retries = False
    return k8s.ApiClient(config)


def test_a_409_on_patch_is_what_kubectl_reports(kube: Kube, apps: k8s.AppsV1Api) -> None:
    faults_client.inject(kube.url, method="PATCH", path=r"/deployments/web$", action="status", status=409, times=1)
    failed = kube.kubectl("annotate", "deploy/web", "a=b", check=False)
    assert failed.returncode == 1
    assert ('Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply '
            'your changes to the latest version and try again') in failed.stderr
    kube.kubectl("annotate", "deploy/web", "a=b")   # times=1: the next PATCH goes through
    assert apps.read_namespaced_deployment("web", "default").metadata.annotations == {"a": "b"}
    [listed] = faults_client.listing(kube.url)
    assert listed["hits"] == 1 and listed["remaining"] == 0


def test_the_python_client_gets_a_real_status(kube: Kube, apps: k8s.AppsV1Api) -> None:
    faults_client.inject(kube.url, method="GET", path=r"/deployments/web$", action="status", status=429,
                         retry_after=2, times=1)
    with pytest.raises(ApiException) as failed:
        k8s.AppsV1Api(no_retries(kube)).read_namespaced_deployment("web", "default")
    assert failed.value.status == 429
    assert failed.value.headers["Retry-After"] == "2"
    body = json.loads(failed.value.body)
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "TooManyRequests", 429)
    assert body["details"] == {"name": "web", "group": "apps", "kind": "deployments", "retryAfterSeconds": 2}
    assert apps.read_namespaced_deployment("web", "default").metadata.name == "web"


def test_urllib3_waits_out_a_429_with_retry_after(kube: Kube, apps: k8s.AppsV1Api) -> None:
    """The python client's default urllib3 Retry honours Retry-After on 429/503, as against a real server."""
    faults_client.inject(kube.url, method="GET", path=r"/deployments/web$", action="status", status=429,
                         retry_after=1, times=1)
    assert apps.read_namespaced_deployment("web", "default").metadata.name == "web"
    assert faults_client.listing(kube.url)[0]["hits"] == 1


@pytest.mark.parametrize("code,reason", [(500, "InternalError"), (503, "ServiceUnavailable"), (504, "Timeout"),
                                         (404, "NotFound")])
def test_reasons_follow_the_code(kube: Kube, apps: k8s.AppsV1Api, code: int, reason: str) -> None:
    faults_client.inject(kube.url, method="*", path="/deployments", action="status", status=code)
    with pytest.raises(ApiException) as failed:
        apps.list_namespaced_deployment("default")
    assert failed.value.status == code and json.loads(failed.value.body)["reason"] == reason


def test_kubectl_waits_out_a_503_with_retry_after(kube: Kube, apps: k8s.AppsV1Api) -> None:
    """client-go retries a 429/5xx carrying Retry-After: the fault is hit, the command still succeeds."""
    faults_client.inject(kube.url, method="GET", path=r"/deployments/web$", action="status", status=503,
                         retry_after=1, times=1)
    done = kube.kubectl("get", "deploy/web", "-o", "name")
    assert done.stdout.strip() == "deployment.apps/web"
    assert faults_client.listing(kube.url)[0]["hits"] == 1


def test_a_503_without_retry_after_fails_kubectl(kube: Kube, apps: k8s.AppsV1Api) -> None:
    faults_client.inject(kube.url, method="GET", path=r"/deployments/web$", action="status", status=503)
    failed = kube.kubectl("get", "deploy/web", check=False)
    assert failed.returncode == 1
    assert "the server is currently unable to handle the request" in failed.stderr


def test_a_dropped_watch_raises_protocol_error(kube: Kube, apps: k8s.AppsV1Api) -> None:
    apps.create_namespaced_deployment("default", deployment("api"))
    faults_client.inject(kube.url, path="/deployments", watch=True, action="drop", after_events=1, times=1)
    seen = []
    with pytest.raises(urllib3.exceptions.ProtocolError, match="Response ended prematurely"):
        for event in watch.Watch().stream(apps.list_namespaced_deployment, "default", timeout_seconds=5):
            seen.append(event["object"].metadata.name)
    assert seen == ["api"]   # exactly one event, then the stream was cut (urllib3 does not retry a body)


def test_a_dropped_watch_cuts_after_later_events(kube: Kube, apps: k8s.AppsV1Api) -> None:
    """after_events counts every event sent, the live ones after the initial list too."""
    faults_client.inject(kube.url, path="/deployments", watch=True, action="drop", after_events=2, times=1)
    rv = apps.list_namespaced_deployment("default").metadata.resource_version
    with httpx.Client(base_url=kube.url, timeout=5) as http:
        with http.stream("GET", "/apis/apps/v1/namespaces/default/deployments",
                         params={"watch": "true", "resourceVersion": rv}) as stream:
            apps.patch_namespaced_deployment("web", "default", {"metadata": {"labels": {"x": "1"}}})
            apps.patch_namespaced_deployment("web", "default", {"metadata": {"labels": {"x": "2"}}})
            apps.patch_namespaced_deployment("web", "default", {"metadata": {"labels": {"x": "3"}}})
            lines = []
            with pytest.raises(httpx.RemoteProtocolError):
                for line in stream.iter_lines():
                    lines.append(json.loads(line)["object"]["metadata"]["labels"]["x"])
    assert lines == ["1", "2"]


def test_a_dropped_plain_request_gets_no_response(kube: Kube, apps: k8s.AppsV1Api) -> None:
    faults_client.inject(kube.url, method="GET", path=r"/deployments/web$", watch=False, action="drop", times=1)
    with pytest.raises(urllib3.exceptions.ProtocolError, match="Remote end closed connection without response"):
        k8s.AppsV1Api(no_retries(kube)).read_namespaced_deployment("web", "default")
    faults_client.inject(kube.url, method="GET", path=r"/deployments/web$", action="drop", times=1)
    # the client's default urllib3 retries absorb one dropped GET, as they would on a real cluster
    assert apps.read_namespaced_deployment("web", "default").metadata.name == "web"


def test_delay_then_serve(kube: Kube, apps: k8s.AppsV1Api) -> None:
    faults_client.inject(kube.url, method="GET", path=r"/deployments/web$", action="delay", delay_seconds=0.5,
                         times=1)
    with httpx.Client(base_url=kube.url, timeout=0.2) as http:
        with pytest.raises(httpx.ReadTimeout):
            http.get("/apis/apps/v1/namespaces/default/deployments/web")
    assert faults_client.listing(kube.url)[0]["remaining"] == 0


def test_watch_filter_and_method_filter(kube: Kube, apps: k8s.AppsV1Api) -> None:
    faults_client.inject(kube.url, method="GET", path="/deployments", watch=True, action="status", status=500)
    assert apps.list_namespaced_deployment("default").items    # a list is not a watch
    apps.patch_namespaced_deployment("web", "default", {"metadata": {"labels": {"x": "1"}}})  # nor a PATCH
    with pytest.raises(ApiException) as failed:
        next(iter(watch.Watch().stream(apps.list_namespaced_deployment, "default", timeout_seconds=2)))
    assert failed.value.status == 500


def test_faults_apply_to_the_pod_proxy(kube: Kube) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    core.create_namespaced_pod("default", {"metadata": {"name": "p"},
                                           "spec": {"containers": [{"name": "c", "image": "i"}]}})
    faults_client.inject(kube.url, path=r"/pods/p/proxy/health$", action="status", status=503, retry_after=1)
    with pytest.raises(ApiException) as failed:
        k8s.CoreV1Api(no_retries(kube)).connect_get_namespaced_pod_proxy_with_path("p", "default", "health")
    assert failed.value.status == 503 and failed.value.headers["Retry-After"] == "1"
    assert json.loads(failed.value.body)["details"] == {"name": "p", "kind": "pods", "group": "",
                                                        "retryAfterSeconds": 1}


def test_listing_and_clearing(kube: Kube, apps: k8s.AppsV1Api) -> None:
    first = faults_client.inject(kube.url, path="/deployments", action="status", status=500)
    second = faults_client.inject(kube.url, path="/pods", action="delay", delay_seconds=1)
    assert [f["id"] for f in faults_client.listing(kube.url)] == [first, second]
    assert faults_client.listing(kube.url)[0]["remaining"] is None
    faults_client.clear(kube.url, first)
    assert [f["id"] for f in faults_client.listing(kube.url)] == [second]
    with pytest.raises(KeyError):
        faults_client.clear(kube.url, first)
    faults_client.clear(kube.url)
    assert faults_client.listing(kube.url) == []
    with faults_client.injected(kube.url, path="/deployments", action="status", status=500):
        with pytest.raises(ApiException):
            apps.list_namespaced_deployment("default")
    assert apps.list_namespaced_deployment("default").items


@pytest.mark.parametrize("body,named", [
    ({"action": "explode"}, "action"), ({"action": "status"}, "status"),
    ({"action": "status", "status": 200}, "status"), ({"action": "drop", "path": "("}, "path"),
    ({"action": "drop", "method": "FETCH"}, "method"), ({"action": "drop", "times": 0}, "times"),
    ({"action": "delay"}, "delay_seconds"), ({"action": "drop", "watch": "yes"}, "watch"),
    ({"action": "drop", "colour": 1}, "colour")])
def test_a_bad_fault_is_a_400_naming_the_field(kube: Kube, body: dict, named: str) -> None:
    with pytest.raises(ValueError, match=f"^{named}:"):
        faults_client.inject(kube.url, **body)
    assert faults_client.listing(kube.url) == []


def test_admin_routes_are_never_faulted(kube: Kube) -> None:
    faults_client.inject(kube.url, path="", action="status", status=500)
    with httpx.Client(base_url=kube.url) as http:
        assert http.get("/_sandbox/health").status_code == 200
    assert faults_client.listing(kube.url)[0]["hits"] == 0
