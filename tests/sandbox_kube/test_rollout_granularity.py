"""Pods become ready one by one (issue 14 item 4): a watch sees every intermediate rollout state.

A real kubelet starts pods seconds apart while the controllers react in milliseconds, so the
Deployment controller reacts to each pod becoming ready. For 10 replicas, maxSurge and
maxUnavailable 25 % (3 and 2) and instantly-ready pods, the Go controller's arithmetic then
gives 16 scaling steps (old,new): 10,0 → 10,3 → 8,3 → 8,5 → 7,5 → 7,6 → 6,6 → 6,7 → 5,7 →
5,8 → 4,8 → 4,9 → 3,9 → 3,10 → 2,10 → 1,10 → 0,10. The stand-in used to batch readiness and
took 4 to 7 steps.
"""
from __future__ import annotations

import threading
import time

from kubernetes import client as k8s
from kubernetes import watch

from tests.sandbox_kube.conftest import Kube, deployment

ONE_BY_ONE = [(10, 0), (10, 3), (8, 3), (8, 5), (7, 5), (7, 6), (6, 6), (6, 7), (5, 7), (5, 8), (4, 8), (4, 9),
              (3, 9), (3, 10), (2, 10), (1, 10), (0, 10)]


def test_ten_replica_rollout_scales_in_sixteen_steps(kube_with_controllers: Kube) -> None:
    kube = kube_with_controllers
    apps = k8s.AppsV1Api(kube.api_client())
    body = deployment("web", replicas=10, image="nginx:1")
    body["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 0
    apps.create_namespaced_deployment("default", body)
    kube.kubectl("rollout", "status", "deploy/web", "--timeout=60s")
    listed = apps.list_namespaced_replica_set("default")
    old_name = listed.items[0].metadata.name
    specs: dict[str, int] = {old_name: 10}
    states: list[tuple[int, int]] = [(10, 0)]
    new_ready: list[int] = []

    def follow() -> None:
        for event in watch.Watch().stream(apps.list_namespaced_replica_set, "default",
                                          resource_version=listed.metadata.resource_version, timeout_seconds=30):
            rs = event["object"]
            specs[rs.metadata.name] = rs.spec.replicas
            new = next((n for n in specs if n != old_name), None)
            if new is None:
                continue
            ready = rs.status.ready_replicas if rs.status else None
            if rs.metadata.name == new and ready not in (None, *new_ready[-1:]):
                new_ready.append(ready)
            state = (specs[old_name], specs[new])
            if state != states[-1]:
                states.append(state)
            if state == (0, 10) and new_ready[-1:] == [10]:
                return
    watcher = threading.Thread(target=follow)
    watcher.start()
    time.sleep(0.2)
    kube.kubectl("set", "image", "deploy/web", "web=nginx:2")
    watcher.join(40)
    assert states == ONE_BY_ONE
    assert new_ready == list(range(1, 11))      # the new ReplicaSet's pods became ready one at a time
    scaled = kube.kubectl("get", "events", "--field-selector", "reason=ScalingReplicaSet", "-o",
                          "jsonpath={range .items[*]}{.message}{'\\n'}{end}").stdout.splitlines()
    assert len(scaled) == 1 + 16        # the first rollout's "Scaled up ... from 0 to 10", then 16 steps
