"""Deployment status and conditions, as pure functions (sync.go calculateStatus, progress.go).

Statuses are the JSON dicts the API serves; integer fields are omitempty (zeros absent),
conditions carry type/status/lastUpdateTime/lastTransitionTime/reason/message. ``now`` is
epoch seconds passed in (written as RFC 3339 seconds), so every function here is deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.sandbox.kube.controllers.spec import format_time, parse_time
from pipeline.sandbox.kube.store import clone

Status = dict[str, Any]
INT_FIELDS = ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas",
              "availableReplicas", "unavailableReplicas")

AVAILABLE = "Available"
PROGRESSING = "Progressing"
MIN_AVAILABLE = ("MinimumReplicasAvailable", "Deployment has minimum availability.")
MIN_UNAVAILABLE = ("MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
RS_CREATE_ERROR = "ReplicaSetCreateError"


@dataclass(frozen=True)
class Counts:
    """Sums over the deployment's ReplicaSets."""
    replicas: int        # Σ status.replicas
    updated: int         # new RS status.replicas
    ready: int           # Σ status.readyReplicas
    available: int       # Σ status.availableReplicas
    spec_total: int      # Σ spec.replicas


def condition(type_: str, status: str, reason: str, message: str, now: float) -> dict[str, str]:
    stamp = format_time(now)
    return {"type": type_, "status": status, "lastUpdateTime": stamp, "lastTransitionTime": stamp,
            "reason": reason, "message": message}


def get_condition(status: Status, type_: str) -> dict[str, str] | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == type_:
            return cond
    return None


def set_condition(status: Status, cond: dict[str, str]) -> None:
    """SetDeploymentCondition: same status+reason is a no-op; same status keeps lastTransitionTime."""
    current = get_condition(status, cond["type"])
    if current and current.get("status") == cond["status"] and current.get("reason") == cond["reason"]:
        return
    cond = dict(cond)
    if current and current.get("status") == cond["status"]:
        cond["lastTransitionTime"] = current.get("lastTransitionTime", cond["lastTransitionTime"])
    remove_condition(status, cond["type"])
    status.setdefault("conditions", []).append(cond)


def remove_condition(status: Status, type_: str) -> None:
    kept = [c for c in status.get("conditions") or [] if c.get("type") != type_]
    if kept:
        status["conditions"] = kept
    else:
        status.pop("conditions", None)


def omit_empty(status: Status) -> Status:
    return {k: v for k, v in status.items() if not (k in INT_FIELDS and not v) and v is not None}


def calculate_status(old: Status, counts: Counts, generation: int, replicas: int,
                     max_unavailable: int, now: float) -> Status:
    status: Status = {
        "observedGeneration": generation,
        "replicas": counts.replicas,
        "updatedReplicas": counts.updated,
        "readyReplicas": counts.ready,
        "availableReplicas": counts.available,
        "unavailableReplicas": max(0, counts.spec_total - counts.available),
    }
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if old.get("conditions"):
        status["conditions"] = clone(old["conditions"])
    if counts.available >= replicas - max_unavailable:
        set_condition(status, condition(AVAILABLE, "True", *MIN_AVAILABLE, now))
    else:
        set_condition(status, condition(AVAILABLE, "False", *MIN_UNAVAILABLE, now))
    return omit_empty(status)


def complete(status: Status, replicas: int, generation: int) -> bool:
    """DeploymentComplete."""
    return (status.get("updatedReplicas", 0) == replicas and status.get("replicas", 0) == replicas
            and status.get("availableReplicas", 0) == replicas
            and status.get("observedGeneration", 0) >= generation)


def progressing(old: Status, new: Status) -> bool:
    """DeploymentProgressing: updated up, old replicas down, ready up or available up."""
    def old_replicas(s: Status) -> int:
        return s.get("replicas", 0) - s.get("updatedReplicas", 0)
    return (new.get("updatedReplicas", 0) > old.get("updatedReplicas", 0)
            or old_replicas(new) < old_replicas(old)
            or new.get("readyReplicas", 0) > old.get("readyReplicas", 0)
            or new.get("availableReplicas", 0) > old.get("availableReplicas", 0))


def timed_out(status: Status, deadline: int | None, now: float) -> bool:
    """DeploymentTimedOut: lastUpdateTime + progressDeadlineSeconds is before now."""
    if deadline is None:
        return False
    cond = get_condition(status, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = parse_time(cond.get("lastUpdateTime"))
    return since is not None and since + deadline < now


def rollout_status(old: Status, new: Status, new_rs_name: str | None, deploy_name: str,
                   replicas: int, generation: int, deadline: int | None, now: float) -> Status:
    """syncRolloutStatus's condition logic, applied to the freshly calculated ``new``."""
    new = clone(new)
    if deadline is None:
        remove_condition(new, PROGRESSING)
        return new
    current = get_condition(old, PROGRESSING)
    finished = (new.get("replicas", 0) == new.get("updatedReplicas", 0) and current is not None
                and current.get("reason") == NEW_RS_AVAILABLE)
    if finished:
        return new
    subject = f'ReplicaSet "{new_rs_name}"' if new_rs_name else f'Deployment "{deploy_name}"'
    if complete(new, replicas, generation):
        set_condition(new, condition(PROGRESSING, "True", NEW_RS_AVAILABLE,
                                     f"{subject} has successfully progressed.", now))
    elif progressing(old, new):
        cond = condition(PROGRESSING, "True", RS_UPDATED, f"{subject} is progressing.", now)
        if current is not None:
            if current.get("status") == "True":
                cond["lastTransitionTime"] = current.get("lastTransitionTime", cond["lastTransitionTime"])
            remove_condition(new, PROGRESSING)
        set_condition(new, cond)
    elif timed_out(new, deadline, now):
        set_condition(new, condition(PROGRESSING, "False", TIMED_OUT,
                                     f"{subject} has timed out progressing.", now))
    return new


def deadline_epoch(status: Status, deadline: int | None) -> float | None:
    """When a not-yet-complete rollout would time out (requeueStuckDeployment), as epoch seconds."""
    if deadline is None:
        return None
    cond = get_condition(status, PROGRESSING)
    if cond is None or cond.get("reason") in (NEW_RS_AVAILABLE, TIMED_OUT):
        return None
    since = parse_time(cond.get("lastUpdateTime"))
    return None if since is None else since + deadline


def paused_condition(status: Status, paused: bool, deadline: int | None, now: float) -> bool:
    """checkPausedConditions (mutates ``status``); True if it changed."""
    if deadline is None:
        return False
    cond = get_condition(status, PROGRESSING)
    if cond is not None and cond.get("reason") == TIMED_OUT:
        return False
    paused_exists = cond is not None and cond.get("reason") == PAUSED
    if paused and not paused_exists:
        set_condition(status, condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused", now))
        return True
    if not paused and paused_exists:
        set_condition(status, condition(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed", now))
        return True
    return False
