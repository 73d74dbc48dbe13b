"""Drive a Deployment's own rolling update from gate to gate, by watching, never sleeping.

The template is changed while the Deployment is paused, so no pod changes until the first
gate opens. For each gate but the last: resume, and pause again as soon as the controller has
created the gate's new pods (``updatedReplicas`` >= N), before any of them is available: a
paused Deployment still lets its ReplicaSets start their pods, but the controller takes no
old pod away for them. The gate is reached when N new pods are available; the caller
verifies them. A bad release is then undone by deleting its pods alone, with every old pod
still serving (nothing to restart), and no old pod ever made way for an unverified one. The
controller may still create more than N new pods in one step (up to maxSurge +
maxUnavailable; see ``pipeline.rollout.gates.overshoot_bound``): the outcome records that
overshoot. Held paused, the Deployment's own progress deadline does not run, so a held gate
is bounded by ``progress_deadline_seconds`` itself.
Stuck pods (crash loops, config errors) and the Deployment's own progress deadline end a
gate early with a failure kind the rollback policy understands.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from kubernetes import client

from pipeline.deploy.pod_problems import problems
from pipeline.kube import retry
from pipeline.kube.api import KubeApi
from pipeline.kube.informer import ClusterView, Snapshot
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
        self.apps = KubeApi(api_client)
        self.namespace, self.name = namespace, name

    def set_paused(self, paused: bool) -> None:
        """An intent (``spec.paused``), so safe to repeat: retried on conflict, throttling, 5xx, timeouts."""
        retry.call(lambda: self.apps.patch_namespaced_deployment(
            self.name, self.namespace, {"spec": {"paused": paused}}, field_manager="klaviyo-pipeline"))

    def advance(self, view: ClusterView, gate: int, is_last: bool, deadline_seconds: float,
                on_progress: ProgressCallback | None = None) -> GateOutcome:
        """Resume until ``gate`` new pods are available (pausing there unless ``is_last``).

        Judged only on synced snapshots of the shared informer: never on a cache that has not
        listed yet (a missing Deployment there means "not seen yet", not "deleted")."""
        start = time.monotonic()
        self.set_paused(False)
        margin = DEADLINE_MARGIN_SECONDS if is_last else 0      # held gates: no Deployment deadline to wait for
        judge = _GateJudge(self, gate, is_last, start, on_progress)
        outcome = view.wait_until(judge.see, start + deadline_seconds + margin)
        if outcome is None:
            held = f"; held paused at the gate ({judge.waiting})" if judge.held else f" (+{margin}s margin)"
            return GateOutcome(gate, False, f"gate {gate} not reached within {deadline_seconds:.0f}s{held}",
                               "rollout_stuck", seconds=time.monotonic() - start)
        return outcome


class _GateJudge:
    """Decides, snapshot by snapshot, whether a gate is reached, failed, or still to wait for.

    A gate but the last is held (the rollout paused) as soon as the controller shows the gate's
    new pods created. The ReplicaSet and Pod watches are separate streams: a ReplicaSet can count
    a pod as available before the Pod's own Ready condition has arrived, so once the ReplicaSet
    shows the gate reached the judge waits for the Pod cache to catch up: the pods handed to
    verification are the Ready ones the gate counted.
    """

    def __init__(self, rollout: Rollout, gate: int, is_last: bool, start: float,
                 on_progress: ProgressCallback | None) -> None:
        self.rollout, self.gate, self.is_last, self.start, self.on_progress = rollout, gate, is_last, start, on_progress
        self.reached: GateCheck | None = None
        self.held = False
        self.waiting = ""                 # the latest reason the gate is not reached yet

    def see(self, snapshot: Snapshot) -> GateOutcome | None:
        deployment = snapshot.deployment
        elapsed = time.monotonic() - self.start
        if deployment is None:
            return GateOutcome(self.gate, False, f"deployment {self.rollout.name} was deleted", "rollout_stuck",
                               seconds=elapsed)
        replica_set = new_replicaset(deployment, list(snapshot.replica_sets))
        hash_ = replica_set["metadata"]["labels"].get("pod-template-hash") if replica_set else None
        pods = [p for p in snapshot.pods if hash_ and p["metadata"].get("labels", {}).get("pod-template-hash") == hash_]
        progress = progress_from(deployment, replica_set)
        check = gate_reached(progress, self.gate)
        if self.on_progress is not None:
            self.on_progress(progress, check)
        self.waiting = check.detail
        if not self.is_last and not self.held and progress.observed and progress.updated >= self.gate:
            self.rollout.set_paused(True)           # hold: the gate's pods exist, no old pod goes for them
            self.held = True
        if check.reached and self.reached is None:
            self.reached = check
        if self.reached is not None:
            ready = sorted(p["metadata"]["name"] for p in pods if is_ready(p))
            if len(ready) >= min(self.gate, progress.updated_available or self.gate):
                return GateOutcome(self.gate, True, self.reached.detail, None, tuple(ready),
                                   self.reached.overshoot, elapsed)
            return None                   # paused; the Pod watch has not caught up yet
        stuck = problems(pods)
        if stuck:
            return GateOutcome(self.gate, False, "; ".join(stuck), "pods_unhealthy",
                               tuple(p["metadata"]["name"] for p in pods), seconds=elapsed)
        timed_out = deadline_exceeded(deployment)
        if timed_out:
            return GateOutcome(self.gate, False, timed_out, "rollout_stuck", seconds=elapsed)
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
