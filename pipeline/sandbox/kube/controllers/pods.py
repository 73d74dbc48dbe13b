"""Pod facts and the ReplicaSet controller's decisions, as pure functions (replica_set.go).

- a pod is *active* unless it is terminating or Succeeded/Failed;
- *ready* when its Ready condition is True, *available* when ready for longer than
  minReadySeconds (``lastTransitionTime + minReadySeconds`` before now);
- scaling down deletes the least useful pods first: unscheduled < scheduled, Pending <
  Unknown < Running, not ready < ready, ready more recently, more restarts, newer.
"""
from __future__ import annotations

from typing import Any

from pipeline.sandbox.kube.controllers.spec import Obj, parse_time

PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def status(pod: Obj) -> Obj:
    return pod.get("status") or {}


def is_active(pod: Obj) -> bool:
    return (not pod["metadata"].get("deletionTimestamp")
            and status(pod).get("phase") not in ("Succeeded", "Failed"))


def ready_condition(pod: Obj) -> Obj | None:
    for cond in status(pod).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond
    return None


def is_ready(pod: Obj) -> bool:
    cond = ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def ready_since(pod: Obj) -> float | None:
    cond = ready_condition(pod)
    if cond is None or cond.get("status") != "True":
        return None
    return parse_time(cond.get("lastTransitionTime"))


def is_available(pod: Obj, min_ready: int, now: float) -> bool:
    if not is_ready(pod):
        return False
    if min_ready <= 0:
        return True
    since = ready_since(pod)
    return since is not None and since + min_ready < now


def available_at(pod: Obj, min_ready: int) -> float | None:
    """When a ready-but-not-yet-available pod becomes available (for a timer)."""
    since = ready_since(pod)
    return None if since is None or min_ready <= 0 else since + min_ready


def restarts(pod: Obj) -> int:
    return sum(int(cs.get("restartCount") or 0) for cs in status(pod).get("containerStatuses") or [])


def labels_match(labels: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


def deletion_rank(pod: Obj) -> tuple[Any, ...]:
    """Sort key: pods to delete first come first (controller.ActivePods ordering)."""
    st = status(pod)
    since = ready_since(pod) or 0.0
    created = parse_time(pod["metadata"].get("creationTimestamp")) or 0.0
    return (1 if pod.get("spec", {}).get("nodeName") else 0,
            PHASE_RANK.get(st.get("phase", "Pending"), 0),
            1 if is_ready(pod) else 0,
            -since,
            -restarts(pod),
            -created,
            pod["metadata"]["name"])


def pods_to_delete(pods: list[Obj], count: int) -> list[Obj]:
    return sorted(pods, key=deletion_rank)[:max(0, count)]


def replica_set_status(rs: Obj, pods: list[Obj], now: float) -> Obj:
    """RS status: replicas always present, the other counts omitempty."""
    template_labels = ((rs.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
    min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
    active = [p for p in pods if is_active(p)]
    result: Obj = {"replicas": len(active)}
    counts = {
        "fullyLabeledReplicas": sum(1 for p in active if labels_match(p["metadata"].get("labels") or {}, template_labels)),
        "readyReplicas": sum(1 for p in active if is_ready(p)),
        "availableReplicas": sum(1 for p in active if is_available(p, min_ready, now)),
        "observedGeneration": int(rs["metadata"].get("generation") or 0),
    }
    result.update({k: v for k, v in counts.items() if v})
    conditions = (rs.get("status") or {}).get("conditions")
    if conditions:
        result["conditions"] = conditions
    return result


def next_availability(rs: Obj, pods: list[Obj], now: float) -> float | None:
    min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
    times = [t for p in pods if is_active(p) and not is_available(p, min_ready, now)
             for t in [available_at(p, min_ready)] if t is not None]
    return min(times) if times else None
