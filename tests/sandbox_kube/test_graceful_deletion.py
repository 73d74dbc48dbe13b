"""Graceful deletion, finalizers and propagation policies (issue 14 items 2 and 5), seen by real clients.

Before, the stand-in removed a deleted pod at once and always cascaded: a watch never saw a
Terminating pod and ``--cascade=orphan`` deleted the ReplicaSets anyway.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any

from kubernetes import client as k8s
from kubernetes import watch

from pipeline.sandbox.kube.resources import PODS, REPLICASETS
from tests.waiting import wait_for
from tests.sandbox_kube.conftest import Kube, deployment


def create(kube: Kube, replicas: int = 1, grace: int = 5, image: str = "nginx:1") -> k8s.AppsV1Api:
    body = deployment("web", replicas=replicas, image=image)
    body["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = grace
    apps = k8s.AppsV1Api(kube.api_client())
    apps.create_namespaced_deployment("default", body)
    kube.kubectl("rollout", "status", "deploy/web", "--timeout=30s")
    return apps


def pods(kube: Kube) -> list[dict[str, Any]]:
    return kube.sandbox.call(lambda: kube.cluster.list(PODS, "default"))  # type: ignore[return-value]


def ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def held_pod(kube: Kube, grace: int = 30) -> tuple[k8s.CoreV1Api, str]:
    """One pod whose container ignores SIGTERM: it stays Terminating for its whole grace period."""
    kube.images({"nginx:1": {"ignore_sigterm": True}})
    create(kube, grace=grace)
    return k8s.CoreV1Api(kube.api_client()), pods(kube)[0]["metadata"]["name"]


def test_a_deleted_pod_stays_terminating_and_ready_until_its_container_stops(kube_with_controllers: Kube) -> None:
    kube = kube_with_controllers
    kube.images({"nginx:1": {"stop_seconds": 1.0}})
    create(kube, grace=7)
    core = k8s.CoreV1Api(kube.api_client())
    name = pods(kube)[0]["metadata"]["name"]
    rv = core.read_namespaced_pod(name, "default").metadata.resource_version
    seen: list[tuple[str, bool, bool, str]] = []

    def follow() -> None:
        for event in watch.Watch().stream(core.list_namespaced_pod, "default", field_selector=f"metadata.name={name}",
                                          resource_version=rv, timeout_seconds=15):
            pod = event["object"]
            seen.append((event["type"], pod.metadata.deletion_timestamp is not None, ready(pod), pod.status.phase))
            if event["type"] == "DELETED":
                return
    watcher = threading.Thread(target=follow)
    watcher.start()
    time.sleep(0.2)
    started = time.monotonic()
    deleted = core.delete_namespaced_pod(name, "default")
    assert deleted.metadata.deletion_timestamp is not None and deleted.metadata.deletion_grace_period_seconds == 7
    assert kube.kubectl("get", "pod", name).stdout.split()[-3] == "Terminating"
    watcher.join(20)
    assert time.monotonic() - started >= 1.0           # the container took stop_seconds to exit
    assert seen[0] == ("MODIFIED", True, True, "Running")    # Terminating, still Ready
    assert seen[-2] == ("MODIFIED", True, False, "Succeeded")  # stopped: not Ready, terminal phase
    assert seen[-1][0] == "DELETED"


def test_a_container_ignoring_sigterm_is_killed_at_the_end_of_the_grace_period(kube_with_controllers: Kube) -> None:
    kube = kube_with_controllers
    kube.images({"nginx:1": {"ignore_sigterm": True}})
    create(kube, grace=2)
    name = pods(kube)[0]["metadata"]["name"]
    started = time.monotonic()
    done = kube.kubectl("delete", "pod", name)     # kubectl waits until the pod is gone
    assert done.stdout == f'pod "{name}" deleted\n'
    assert time.monotonic() - started >= 2.0
    statuses = [p for p in pods(kube) if p["metadata"]["name"] == name]
    assert statuses == []


def test_grace_period_zero_deletes_at_once(kube_with_controllers: Kube) -> None:
    core, name = held_pod(kube_with_controllers)
    kube = kube_with_controllers
    core.delete_namespaced_pod(name, "default", grace_period_seconds=0)
    assert name not in [p["metadata"]["name"] for p in pods(kube)]


def test_a_second_delete_may_shorten_the_grace_period(kube_with_controllers: Kube) -> None:
    core, name = held_pod(kube_with_controllers)
    kube = kube_with_controllers
    first = core.delete_namespaced_pod(name, "default")
    assert first.metadata.deletion_grace_period_seconds == 30
    longer = core.delete_namespaced_pod(name, "default", grace_period_seconds=60)
    assert longer.metadata.deletion_grace_period_seconds == 30
    core.delete_namespaced_pod(name, "default", grace_period_seconds=0)
    wait_for(lambda: name not in [p["metadata"]["name"] for p in pods(kube)])


def test_rollout_completes_while_old_pods_are_still_terminating(kube_with_controllers: Kube) -> None:
    kube = kube_with_controllers
    kube.images({"nginx:1": {"stop_seconds": 3.0}})
    create(kube, replicas=3, grace=10)
    kube.kubectl("set", "image", "deploy/web", "web=nginx:2")
    kube.kubectl("rollout", "status", "deploy/web", "--timeout=30s")
    table = kube.kubectl("get", "pods", "--no-headers").stdout.splitlines()
    assert sum(1 for line in table if line.split()[2] == "Terminating") == 3
    status = json.loads(kube.kubectl("get", "deploy/web", "-o", "json").stdout)["status"]
    assert (status["replicas"], status["updatedReplicas"], status["availableReplicas"]) == (3, 3, 3)
    wait_for(lambda: len(pods(kube)) == 3)


def test_recreate_waits_for_old_pods_to_be_gone(kube_with_controllers: Kube) -> None:
    kube = kube_with_controllers
    kube.images({"nginx:1": {"stop_seconds": 1.5}})
    body = deployment("web", replicas=2, image="nginx:1")
    body["spec"]["strategy"] = {"type": "Recreate"}
    body["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 10
    k8s.AppsV1Api(kube.api_client()).create_namespaced_deployment("default", body)
    kube.kubectl("rollout", "status", "deploy/web", "--timeout=30s")
    kube.kubectl("set", "image", "deploy/web", "web=nginx:2")
    wait_for(lambda: any(p["metadata"].get("deletionTimestamp") for p in pods(kube)))
    assert all(p["spec"]["containers"][0]["image"] == "nginx:1" for p in pods(kube))   # no new pod yet
    kube.kubectl("rollout", "status", "deploy/web", "--timeout=30s")
    assert {p["spec"]["containers"][0]["image"] for p in pods(kube)} == {"nginx:2"}


def test_orphan_keeps_replicasets_and_pods_without_their_owner(kube_with_controllers: Kube) -> None:
    kube = kube_with_controllers
    create(kube, replicas=2)
    assert kube.kubectl("delete", "deploy/web", "--cascade=orphan").stdout == 'deployment.apps "web" deleted\n'
    [rs] = kube.sandbox.call(lambda: kube.cluster.list(REPLICASETS, "default"))  # type: ignore[misc]
    assert "ownerReferences" not in rs["metadata"]
    assert len(pods(kube)) == 2 and not any(p["metadata"].get("deletionTimestamp") for p in pods(kube))
    assert kube.kubectl("get", "deploy", "-o", "name").stdout == ""


def test_orphan_through_the_python_client(kube_with_controllers: Kube) -> None:
    kube = kube_with_controllers
    apps = create(kube, replicas=1)
    apps.delete_namespaced_deployment("web", "default", propagation_policy="Orphan")
    assert len(apps.list_namespaced_replica_set("default").items) == 1


def test_background_deletes_replicasets_and_pods_gracefully(kube_with_controllers: Kube) -> None:
    kube = kube_with_controllers
    kube.images({"nginx:1": {"stop_seconds": 1.0}})
    create(kube, replicas=2)
    kube.kubectl("delete", "deploy/web", "--wait=false")
    assert kube.sandbox.call(lambda: kube.cluster.list(REPLICASETS, "default")) == []
    assert all(p["metadata"].get("deletionTimestamp") for p in pods(kube))
    wait_for(lambda: pods(kube) == [])


def test_foreground_keeps_the_owner_until_its_dependents_are_gone(kube_with_controllers: Kube) -> None:
    kube = kube_with_controllers
    kube.images({"nginx:1": {"stop_seconds": 1.0}})
    apps = create(kube, replicas=2)
    apps.delete_namespaced_deployment("web", "default", propagation_policy="Foreground")
    held = apps.read_namespaced_deployment("web", "default")
    assert held.metadata.deletion_timestamp is not None and held.metadata.finalizers == ["foregroundDeletion"]
    wait_for(lambda: not apps.list_namespaced_deployment("default").items)
    assert pods(kube) == [] and apps.list_namespaced_replica_set("default").items == []


def test_a_finalizer_holds_an_object_until_removed(kube: Kube) -> None:
    core = k8s.CoreV1Api(kube.api_client())
    core.create_namespaced_config_map("default", {"metadata": {"name": "held", "finalizers": ["example.com/x"]}})
    core.delete_namespaced_config_map("held", "default")
    held = core.read_namespaced_config_map("held", "default")
    assert held.metadata.deletion_timestamp is not None and held.metadata.finalizers == ["example.com/x"]
    core.patch_namespaced_config_map("held", "default", {"metadata": {"finalizers": None}},
                                     _content_type="application/merge-patch+json")
    assert [c.metadata.name for c in core.list_namespaced_config_map("default").items] == []


def test_a_namespace_is_terminating_until_its_pods_are_gone(kube_with_controllers: Kube) -> None:
    kube = kube_with_controllers
    kube.images({"nginx:1": {"stop_seconds": 1.0}})
    kube.kubectl("create", "namespace", "team")
    body = deployment("web", replicas=1, image="nginx:1")
    k8s.AppsV1Api(kube.api_client()).create_namespaced_deployment("team", body)
    kube.kubectl("rollout", "status", "deploy/web", "-n", "team", "--timeout=30s")
    kube.kubectl("delete", "namespace", "team", "--wait=false")
    assert "Terminating" in kube.kubectl("get", "namespace", "team").stdout
    refused = kube.kubectl("create", "configmap", "late", "-n", "team", check=False)
    assert "unable to create new content in namespace team because it is being terminated" in refused.stderr
    wait_for(lambda: kube.kubectl("get", "namespace", "team", check=False).returncode == 1)
