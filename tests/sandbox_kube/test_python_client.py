"""The official ``kubernetes`` python client (37.x) against the API stand-in."""
from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.rest import ApiException

from pipeline.sandbox.kube import resources as R
from tests.sandbox_kube.conftest import Kube, deployment



def test_list_and_read(kube: Kube, apps: k8s.AppsV1Api) -> None:
    listed = apps.list_namespaced_deployment("default")
    assert [d.metadata.name for d in listed.items] == ["web"]
    assert listed.metadata.resource_version
    read = apps.read_namespaced_deployment("web", "default")
    assert read.spec.replicas == 2
    assert read.spec.strategy.rolling_update.max_surge == "25%"
    assert read.spec.revision_history_limit == 10 and read.spec.progress_deadline_seconds == 600
    assert read.metadata.generation == 1
    everywhere = apps.list_deployment_for_all_namespaces(label_selector="app=web")
    assert len(everywhere.items) == 1
    assert k8s.CoreV1Api(kube.api_client()).read_namespace("default").status.phase == "Active"


def test_patch_strategic_merge_dict(apps: k8s.AppsV1Api) -> None:
    body = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "registry.local/k:2"}]}}}}
    patched = apps.patch_namespaced_deployment("web", "default", body)
    container = patched.spec.template.spec.containers[0]
    assert container.image == "registry.local/k:2"
    assert container.ports[0].container_port == 8080          # merged by name, not replaced
    assert patched.metadata.generation == 2


def test_patch_json_patch_list(apps: k8s.AppsV1Api) -> None:
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 4},
           {"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}}]
    patched = apps.patch_namespaced_deployment("web", "default", ops)
    assert patched.spec.replicas == 4 and patched.metadata.annotations == {"a": "b"}
    with pytest.raises(ApiException) as failed:
        apps.patch_namespaced_deployment("web", "default", [{"op": "remove", "path": "/spec/nothing"}])
    assert failed.value.status == 422


def test_patch_merge_patch_and_apply(apps: k8s.AppsV1Api) -> None:
    merged = apps.patch_namespaced_deployment(
        "web", "default", {"metadata": {"labels": {"app": None, "team": "sync"}}},
        _content_type="application/merge-patch+json")
    assert merged.metadata.labels == {"team": "sync"}
    config = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 3}}
    with pytest.raises(ApiException) as refused:   # the creator ("OpenAPI-Generator") owns spec.replicas
        apps.patch_namespaced_deployment("web", "default", config, field_manager="pipeline",
                                         _content_type="application/apply-patch+yaml")
    assert refused.value.status == 409
    assert json.loads(refused.value.body)["message"] == ('Apply failed with 1 conflict: conflict with '
                                                         '"OpenAPI-Generator" using apps/v1: .spec.replicas')
    applied = apps.patch_namespaced_deployment("web", "default", config, field_manager="pipeline", force=True,
                                               _content_type="application/apply-patch+yaml")
    assert applied.spec.replicas == 3
    created = apps.patch_namespaced_deployment(
        "fresh", "default", deployment("fresh"), field_manager="pipeline", force=True,
        _content_type="application/apply-patch+yaml")
    assert created.metadata.name == "fresh" and created.metadata.generation == 1


def test_scale_subresource(apps: k8s.AppsV1Api) -> None:
    scale = apps.read_namespaced_deployment_scale("web", "default")
    assert scale.spec.replicas == 2 and scale.status.selector == "app=web"
    scaled = apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 6}})
    assert scaled.spec.replicas == 6
    assert apps.read_namespaced_deployment("web", "default").spec.replicas == 6


def _lease(holder: str) -> k8s.V1Lease:
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=123456)
    return k8s.V1Lease(metadata=k8s.V1ObjectMeta(name="deploy-lock"),
                       spec=k8s.V1LeaseSpec(holder_identity=holder, lease_duration_seconds=30,
                                            acquire_time=now, renew_time=now, lease_transitions=0))


def test_lease_create_replace_and_conflicts(kube: Kube) -> None:
    leases = k8s.CoordinationV1Api(kube.api_client())
    created = leases.create_namespaced_lease("default", _lease("alice"))
    with pytest.raises(ApiException) as exists:
        leases.create_namespaced_lease("default", _lease("bob"))
    assert exists.value.status == 409 and json.loads(exists.value.body)["reason"] == "AlreadyExists"
    stale = leases.read_namespaced_lease("deploy-lock", "default")
    stale.spec.holder_identity = "carol"
    created.spec.holder_identity = "bob"
    created.spec.lease_transitions = 1
    replaced = leases.replace_namespaced_lease("deploy-lock", "default", created)
    assert replaced.spec.holder_identity == "bob"
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    with pytest.raises(ApiException) as conflict:
        leases.replace_namespaced_lease("deploy-lock", "default", stale)
    body = json.loads(conflict.value.body)
    assert conflict.value.status == 409 and body["reason"] == "Conflict"
    assert body["message"] == ('Operation cannot be fulfilled on leases.coordination.k8s.io "deploy-lock": the object '
                               "has been modified; please apply your changes to the latest version and try again")
    assert leases.read_namespaced_lease("deploy-lock", "default").spec.holder_identity == "bob"


def test_lease_microtime_needs_six_fraction_digits(kube: Kube) -> None:
    with kube.http() as http:
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
                "spec": {"holderIdentity": "a", "renewTime": "2026-11-22T17:30:31Z"}}
        answer = http.post("/apis/coordination.k8s.io/v1/namespaces/default/leases", json=body)
    assert answer.status_code == 400 and answer.json()["reason"] == "BadRequest"


def test_watch_stream_with_timeout(kube: Kube, apps: k8s.AppsV1Api) -> None:
    seen: list[tuple[str, str, int]] = []

    def modify() -> None:
        apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 5}})
        apps.delete_namespaced_deployment("web", "default")

    timer = threading.Timer(0.3, modify)
    timer.start()
    w = watch.Watch()
    for event in w.stream(apps.list_namespaced_deployment, "default", timeout_seconds=2):
        seen.append((event["type"], event["object"].metadata.name, event["object"].spec.replicas))
        if event["type"] == "DELETED":
            w.stop()
    timer.join()
    assert seen == [("ADDED", "web", 2), ("MODIFIED", "web", 5), ("DELETED", "web", 5)]


def test_watch_from_resource_version_and_bookmark(kube: Kube, apps: k8s.AppsV1Api) -> None:
    rv = apps.list_namespaced_deployment("default").metadata.resource_version
    apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 3}})
    events = list(watch.Watch().stream(apps.list_namespaced_deployment, "default", resource_version=rv,
                                       timeout_seconds=1, allow_watch_bookmarks=True))
    assert [e["type"] for e in events] == ["MODIFIED", "BOOKMARK"]
    assert events[0]["object"].spec.replicas == 3
    assert events[1]["raw_object"]["kind"] == "Deployment"


def test_watch_across_410_relists_and_resumes(kube: Kube, apps: k8s.AppsV1Api) -> None:
    kube.sandbox.call(lambda: kube.cluster.store.set_history_limit(3))
    old = apps.list_namespaced_deployment("default").metadata.resource_version
    for replicas in range(3, 8):
        apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": replicas}})
    with pytest.raises(ApiException) as gone:
        for _ in watch.Watch().stream(apps.list_namespaced_deployment, "default", resource_version=old):
            pass
    assert gone.value.status == 410 and "Expired" in gone.value.reason
    fresh = apps.list_namespaced_deployment("default")          # recover: re-list, watch from there
    assert fresh.items[0].spec.replicas == 7
    timer = threading.Timer(0.2, lambda: apps.patch_namespaced_deployment(
        "web", "default", {"spec": {"replicas": 1}}))
    timer.start()
    w = watch.Watch()
    got = []
    for event in w.stream(apps.list_namespaced_deployment, "default",
                          resource_version=fresh.metadata.resource_version, timeout_seconds=3):
        got.append((event["type"], event["object"].spec.replicas))
        w.stop()
    timer.join()
    assert got == [("MODIFIED", 1)]


def test_field_selector_watch_as_rollout_status_does(kube: Kube, apps: k8s.AppsV1Api) -> None:
    apps.create_namespaced_deployment("default", deployment("other"))
    listed = apps.list_namespaced_deployment("default", field_selector="metadata.name=web", limit=500,
                                             resource_version="0")
    assert [d.metadata.name for d in listed.items] == ["web"]

    def touch() -> None:
        apps.patch_namespaced_deployment("other", "default", {"spec": {"replicas": 9}})
        apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 8}},
                                         field_manager="kubectl-rollout")
    timer = threading.Timer(0.2, touch)
    timer.start()
    w = watch.Watch()
    got = []
    for event in w.stream(apps.list_namespaced_deployment, "default", field_selector="metadata.name=web",
                          resource_version=listed.metadata.resource_version, timeout_seconds=3,
                          allow_watch_bookmarks=True):
        got.append((event["type"], event["raw_object"]["metadata"]["name"]))
        w.stop()
    timer.join()
    assert got == [("MODIFIED", "web")]


def test_dry_run_does_not_persist(kube: Kube, apps: k8s.AppsV1Api) -> None:
    made = apps.create_namespaced_deployment("default", deployment("dry"), dry_run="All")
    assert made.metadata.name == "dry"
    patched = apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 9}}, dry_run="All")
    assert patched.spec.replicas == 9
    assert [d.metadata.name for d in apps.list_namespaced_deployment("default").items] == ["web"]
    assert kube.cluster.get(R.DEPLOYMENTS, "default", "web")["spec"]["replicas"] == 2
    apps.delete_namespaced_deployment("web", "default", dry_run="All")
    assert apps.read_namespaced_deployment("web", "default")
