"""Bad requests get the Status a real API server sends; never a traceback."""
from __future__ import annotations

import json

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from tests.sandbox_kube.conftest import Kube, deployment, status_of

DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"


@pytest.fixture
def http(kube: Kube):
    with kube.http() as client:
        client.post(DEPLOYS, json=deployment("web"))
        yield client


def test_not_found_and_already_exists(http) -> None:
    missing = status_of(http.get(f"{DEPLOYS}/nope"))
    assert missing == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": 'deployments.apps "nope" not found', "reason": "NotFound",
                       "details": {"name": "nope", "group": "apps", "kind": "deployments"}, "code": 404}
    again = status_of(http.post(DEPLOYS, json=deployment("web")))
    assert again["reason"] == "AlreadyExists" and again["message"] == 'deployments.apps "web" already exists'


def test_unknown_resource_and_path(http) -> None:
    for path in ("/apis/apps/v1/namespaces/default/widgets", "/apis/nope.io/v1/things", "/api/v9/pods",
                 f"{DEPLOYS}/web/frobnicate"):
        body = status_of(http.get(path))
        assert body["code"] == 404 and body["reason"] == "NotFound", path
        assert body["message"] == "the server could not find the requested resource"


def test_method_not_allowed(http) -> None:
    body = status_of(http.post(f"{DEPLOYS}/web", json={}))
    assert body["reason"] == "MethodNotAllowed" and body["code"] == 405


def test_malformed_json_and_missing_content_type(http) -> None:
    bad = status_of(http.post(DEPLOYS, content=b"{not json", headers={"Content-Type": "application/json"}))
    assert bad["code"] == 400 and bad["reason"] == "BadRequest"
    # no Content-Type at all is JSON (python client 37 sends none)
    fine = http.post(DEPLOYS, content=json.dumps(deployment("second")).encode())
    assert fine.status_code == 201
    patch = status_of(http.patch(f"{DEPLOYS}/web", content=b"{oops",
                                 headers={"Content-Type": "application/merge-patch+json"}))
    assert patch["code"] == 400


def test_unsupported_patch_type(http) -> None:
    body = status_of(http.patch(f"{DEPLOYS}/web", content=b"{}", headers={"Content-Type": "text/plain"}))
    assert body["code"] == 415 and body["reason"] == "UnsupportedMediaType"
    assert "application/strategic-merge-patch+json" in body["message"]


def test_invalid_label_selector(http) -> None:
    body = status_of(http.get(DEPLOYS, params={"labelSelector": "app in (a"}))
    assert body["code"] == 400 and body["reason"] == "BadRequest"
    assert body["message"].startswith("unable to parse requirement: ")
    key = status_of(http.get(DEPLOYS, params={"labelSelector": "-bad=x"}))
    assert key["message"].startswith('unable to parse requirement: invalid label key "-bad": name part must')
    field = status_of(http.get(DEPLOYS, params={"fieldSelector": "spec.replicas=2"}))
    assert field["message"] == "field label not supported: spec.replicas"


def _invalid(response) -> dict:
    body = status_of(response)
    assert body["code"] == 422 and body["reason"] == "Invalid", body
    return body


def test_selector_must_match_template(http) -> None:
    bad = deployment("bad")
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    body = _invalid(http.post(DEPLOYS, json=bad))
    assert body["message"] == ('Deployment.apps "bad" is invalid: spec.template.metadata.labels: Invalid value: '
                               'map[string]string{"app":"other"}: `selector` does not match template `labels`')
    assert body["details"]["causes"] == [{"reason": "FieldValueInvalid", "field": "spec.template.metadata.labels",
                                          "message": 'Invalid value: map[string]string{"app":"other"}: `selector` '
                                                     'does not match template `labels`'}]
    assert body["details"]["kind"] == "Deployment" and body["details"]["name"] == "bad"


def test_selector_is_immutable(http) -> None:
    changed = {"spec": {"selector": {"matchLabels": {"app": "web", "v": "2"}},
                        "template": {"metadata": {"labels": {"app": "web", "v": "2"}}}}}
    body = _invalid(http.patch(f"{DEPLOYS}/web", json=changed,
                               headers={"Content-Type": "application/strategic-merge-patch+json"}))
    assert body["details"]["causes"][0]["field"] == "spec.selector"
    assert body["message"].endswith(": field is immutable")


def test_max_surge_and_unavailable_both_zero(http) -> None:
    bad = deployment("zero")
    bad["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}
    body = _invalid(http.post(DEPLOYS, json=bad))
    assert body["message"] == ('Deployment.apps "zero" is invalid: spec.strategy.rollingUpdate.maxUnavailable: '
                               'Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:""}: may not be 0 when '
                               '`maxSurge` is 0')


def test_negative_replicas_and_several_errors(http) -> None:
    bad = deployment("neg", replicas=-1)
    bad["spec"]["template"]["spec"]["containers"][0].pop("image")
    body = _invalid(http.post(DEPLOYS, json=bad))
    fields = [c["field"] for c in body["details"]["causes"]]
    assert fields == ["spec.replicas", "spec.template.spec.containers[0].image"]
    assert body["message"].startswith('Deployment.apps "neg" is invalid: [spec.replicas: Invalid value: -1: '
                                      'must be greater than or equal to 0, ')


def test_conflict_on_stale_resource_version(http) -> None:
    live = http.get(f"{DEPLOYS}/web").json()
    http.patch(f"{DEPLOYS}/web", json={"spec": {"replicas": 3}},
               headers={"Content-Type": "application/merge-patch+json"})
    live["spec"]["replicas"] = 4
    body = status_of(http.put(f"{DEPLOYS}/web", json=live))
    assert body["code"] == 409 and body["reason"] == "Conflict"
    stale_patch = status_of(http.patch(f"{DEPLOYS}/web", json={"metadata": {"resourceVersion": "1"}},
                                       headers={"Content-Type": "application/merge-patch+json"}))
    assert stale_patch["reason"] == "Conflict"


def test_namespace_must_exist_and_match(http) -> None:
    missing = status_of(http.post("/apis/apps/v1/namespaces/nowhere/deployments", json=deployment("x")))
    assert missing["code"] == 404 and missing["message"] == 'namespaces "nowhere" not found'
    other = deployment("x")
    other["metadata"]["namespace"] = "kube-system"
    mismatch = status_of(http.post(DEPLOYS, json=other))
    assert mismatch["code"] == 400


def test_python_client_sees_status_errors(kube: Kube) -> None:
    apps = k8s.AppsV1Api(kube.api_client())
    with pytest.raises(ApiException) as missing:
        apps.read_namespaced_deployment("ghost", "default")
    assert missing.value.status == 404
    with pytest.raises(ApiException) as bad:
        apps.list_namespaced_deployment("default", label_selector="a in (")
    assert bad.value.status == 400
