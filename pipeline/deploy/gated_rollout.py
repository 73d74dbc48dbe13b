"""Drive a Deployment's own rolling update from gate to gate, by watching, never sleeping.

The template is changed while the Deployment is paused, so no pod changes until the first
gate opens. For each gate: resume, follow the watch until the gate is reached (at least N
new pods updated and available), pause at once, hand back to the caller to verify. A rolling
update can step past a gate before the pause lands (by up to maxSurge pods; see
``pipeline.rollout.gates.overshoot_bound``): the outcome records that overshoot.
Stuck pods (crash loops, config errors) and the Deployment's own progress deadline end a
gate early with a failure kind the rollback policy understands.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from kubernetes import client

from pipeline.deploy.observe import RolloutObserver, Snapshot
from pipeline.deploy.pod_problems import problems
from pipeline.rollout.gates import GateCheck, RolloutProgress, gate_reached, progress_from
from pipeline.verify.pods import new_replicaset

DEADLINE_MARGIN_SECONDS = 30      # beyond progressDeadlineSeconds, in case the condition never comes


@dataclass(frozen=True)
class GateOutcome:
    gate: int
    reached: bool
    detail: str
    failure_kind: str | None = None       # rollout_stuck | pods_unhealthy (policy failure kinds)
    new_pods: tuple[str, ...] = ()
    overshoot: int = 0
    seconds: float = 0.0


ProgressCallback = Callable[[RolloutProgress, GateCheck], None]


class Rollout:
    def __init__(self, api_client: client.ApiClient, namespace: str, name: str) -> None:
        self.apps = client.AppsV1Api(api_client)
        self.namespace, self.name = namespace, name

    def set_paused(self, paused: bool) -> None:
        self.apps.patch_namespaced_deployment(self.name, self.namespace, {"spec": {"paused": paused}},
                                              field_manager="klaviyo-pipeline")

    def advance(self, observer: RolloutObserver, gate: int, is_last: bool, deadline_seconds: float,
                on_progress: ProgressCallback | None = None) -> GateOutcome:
        """Resume until ``gate`` new pods are available (pausing there unless ``is_last``)."""
        start = time.monotonic()
        self.set_paused(False)
        deadline = start + deadline_seconds + DEADLINE_MARGIN_SECONDS
        snapshot: Snapshot | None = observer.snapshot()
        while True:
            if snapshot is not None:
                outcome = self._judge(snapshot, gate, is_last, start, on_progress)
                if outcome is not None:
                    return outcome
            snapshot = observer.next(deadline)
            if snapshot is None:
                return GateOutcome(gate, False, f"gate {gate} not reached within {deadline_seconds:.0f}s "
                                   f"(+{DEADLINE_MARGIN_SECONDS}s margin)", "rollout_stuck",
                                   seconds=time.monotonic() - start)

    def _judge(self, snapshot: Snapshot, gate: int, is_last: bool, start: float,
               on_progress: ProgressCallback | None) -> GateOutcome | None:
        deployment = snapshot.deployment
        elapsed = time.monotonic() - start
        if deployment is None:
            return GateOutcome(gate, False, f"deployment {self.name} was deleted", "rollout_stuck", seconds=elapsed)
        replica_set = new_replicaset(deployment, list(snapshot.replica_sets))
        pods = [p for p in snapshot.pods if replica_set is not None
                and p["metadata"].get("labels", {}).get("pod-template-hash")
                == replica_set["metadata"]["labels"].get("pod-template-hash")]
        progress = progress_from(deployment, replica_set)
        check = gate_reached(progress, gate)
        if on_progress is not None:
            on_progress(progress, check)
        if check.reached:
            if not is_last:
                self.set_paused(True)
            ready = [p for p in pods if is_ready(p)]
            return GateOutcome(gate, True, check.detail, None, tuple(sorted(p["metadata"]["name"] for p in ready)),
                               check.overshoot, elapsed)
        stuck = problems(pods)
        if stuck:
            return GateOutcome(gate, False, "; ".join(stuck), "pods_unhealthy",
                               tuple(p["metadata"]["name"] for p in pods), seconds=elapsed)
        timed_out = deadline_exceeded(deployment)
        if timed_out:
            return GateOutcome(gate, False, timed_out, "rollout_stuck", seconds=elapsed)
        return None


def is_ready(pod: dict[str, Any]) -> bool:
    """Condition Ready=True and not being deleted: a pod that can be verified now."""
    if pod["metadata"].get("deletionTimestamp"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def deadline_exceeded(deployment: dict[str, Any]) -> str | None:
    """The Deployment's own verdict, as ``kubectl rollout status`` reads it."""
    for condition in (deployment.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return (f'deployment "{deployment["metadata"]["name"]}" exceeded its progress deadline: '
                    f'{condition.get("message", "")}')
    return None
