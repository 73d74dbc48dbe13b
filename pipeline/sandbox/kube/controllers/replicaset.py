"""The ReplicaSet controller: keeps spec.replicas pods alive and reports RS status.

Pods are named ``<rs>-<5 chars>`` (the API server's generateName alphabet), carry the
template's labels and annotations and a controller ownerReference to the RS. Decisions
(which pods to delete, the status) come from ``pods.py``; this module only reads and writes.
"""
from __future__ import annotations

import random
from typing import Callable

from pipeline.sandbox.kube.controllers import pods as podlib
from pipeline.sandbox.kube.controllers.events import EventRecorder
from pipeline.sandbox.kube.controllers.runtime import Clock, WorkQueue
from pipeline.sandbox.kube.controllers.spec import Obj, controller_ref, controller_uid, replicas
from pipeline.sandbox.kube.controllers.templates import random_suffix
from pipeline.sandbox.kube.objects import ApiError, Cluster
from pipeline.sandbox.kube.resources import PODS, REPLICASETS
from pipeline.sandbox.kube.store import clone

NODE_NAME = "sandbox-node"
Key = tuple[str, str]


def owned_pods(cluster: Cluster, rs: Obj) -> list[Obj]:
    """The RS's pods (controller ownerReference), as read-only views from the owner index."""
    uid = rs["metadata"]["uid"]
    return [p for p in cluster.owned(PODS, uid) if controller_uid(p) == uid]


def new_pod(rs: Obj, name: str) -> Obj:
    template = clone((rs.get("spec") or {}).get("template") or {})
    tmeta = template.get("metadata") or {}
    meta: Obj = {"name": name, "generateName": rs["metadata"]["name"] + "-",
                 "namespace": rs["metadata"].get("namespace", ""),
                 "labels": dict(tmeta.get("labels") or {}),
                 "ownerReferences": [controller_ref(rs)]}
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    pod_spec = template.get("spec") or {}
    pod_spec.setdefault("nodeName", NODE_NAME)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec}


class ReplicaSetController:
    def __init__(self, cluster: Cluster, queue_factory: Callable[[Callable[[Key], None], str], WorkQueue[Key]],
                 clock: Clock, rng: random.Random, events: EventRecorder | None = None) -> None:
        self.cluster, self.clock, self.rng = cluster, clock, rng
        self.events = events or EventRecorder(cluster, clock)
        self.queue = queue_factory(self.sync, "replicaset")

    def enqueue_for_pod(self, pod: Obj) -> None:
        for ref in pod["metadata"].get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") == "ReplicaSet":
                self.queue.add((pod["metadata"].get("namespace", ""), ref["name"]))

    def sync(self, key: Key) -> None:
        namespace, name = key
        rs = self.cluster.store.get(REPLICASETS, namespace, name)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return
        pods = owned_pods(self.cluster, rs)
        active = [p for p in pods if podlib.is_active(p)]
        diff = len(active) - replicas(rs)
        if diff < 0:
            for _ in range(-diff):
                self._create_pod(rs)
        elif diff > 0:
            for pod in podlib.pods_to_delete(active, diff):
                self._delete_pod(rs, pod)
        if diff != 0:
            pods = owned_pods(self.cluster, rs)
        self._write_status(rs, pods)

    def _create_pod(self, rs: Obj) -> None:
        for _ in range(10):
            name = f"{rs['metadata']['name']}-{random_suffix(self.rng)}"
            try:
                self.cluster.create(PODS, new_pod(rs, name))
                self.events.record(rs, "Normal", "SuccessfulCreate", f"Created pod: {name}", "replicaset-controller")
                return
            except ApiError as exc:
                if exc.reason != "AlreadyExists":
                    raise

    def _delete_pod(self, rs: Obj, pod: Obj) -> None:
        meta = pod["metadata"]
        try:
            self.cluster.delete(PODS, meta.get("namespace", ""), meta["name"])
        except ApiError as exc:
            if exc.code != 404:
                raise
            return
        self.events.record(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {meta['name']}", "replicaset-controller")

    def _write_status(self, rs: Obj, pods: list[Obj]) -> None:
        now = self.clock()
        new_status = podlib.replica_set_status(rs, pods, now)
        if new_status != (rs.get("status") or {}):
            current = self.cluster.get(REPLICASETS, rs["metadata"].get("namespace", ""), rs["metadata"]["name"])
            current["status"] = new_status
            current["metadata"].pop("resourceVersion", None)
            self.cluster.update_status(REPLICASETS, current)
        when = podlib.next_availability(rs, pods, now)
        if when is not None:
            self.queue.add_at((rs["metadata"].get("namespace", ""), rs["metadata"]["name"]), when + 0.05)
