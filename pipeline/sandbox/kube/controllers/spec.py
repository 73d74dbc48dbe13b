"""Reading Deployment / ReplicaSet / Pod objects with the apps/v1 defaults applied.

The API server defaults these fields on write, but the controllers never rely on it: every
accessor falls back to the documented default (replicas 1, RollingUpdate 25%/25%,
revisionHistoryLimit 10, progressDeadlineSeconds 600, minReadySeconds 0).

No ``from __future__ import annotations`` here: it would bind the module name
``annotations`` and shadow the ``annotations()`` accessor below (the annotations used
here all evaluate on Python 3.11).
"""
from datetime import datetime, timezone
from typing import Any

Obj = dict[str, Any]

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
CHANGE_CAUSE = "kubernetes.io/change-cause"
MAX_INT32 = 2**31 - 1


def spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def replicas(obj: Obj) -> int:
    value = spec(obj).get("replicas")
    return 1 if value is None else int(value)


def strategy_type(deploy: Obj) -> str:
    return (spec(deploy).get("strategy") or {}).get("type") or "RollingUpdate"


def rolling_params(deploy: Obj) -> tuple[int | str, int | str]:
    rolling = (spec(deploy).get("strategy") or {}).get("rollingUpdate") or {}
    surge = rolling.get("maxSurge", "25%")
    unavailable = rolling.get("maxUnavailable", "25%")
    return ("25%" if surge is None else surge), ("25%" if unavailable is None else unavailable)


def min_ready_seconds(obj: Obj) -> int:
    return int(spec(obj).get("minReadySeconds") or 0)


def progress_deadline(deploy: Obj) -> int | None:
    """progressDeadlineSeconds, or None when the deployment has no deadline (MaxInt32)."""
    value = spec(deploy).get("progressDeadlineSeconds", 600)
    value = 600 if value is None else int(value)
    return None if value == MAX_INT32 else value


def revision_history_limit(deploy: Obj) -> int:
    value = spec(deploy).get("revisionHistoryLimit", 10)
    return 10 if value is None else int(value)


def paused(deploy: Obj) -> bool:
    return bool(spec(deploy).get("paused"))


def annotations(obj: Obj) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def status_int(obj: Obj, field: str) -> int:
    return int((obj.get("status") or {}).get(field) or 0)


def generation(obj: Obj) -> int:
    return int(obj["metadata"].get("generation") or 0)


def revision_of(obj: Obj) -> int:
    try:
        return int(annotations(obj).get(REVISION, "0") or 0)
    except ValueError:
        return 0


def controller_uid(obj: Obj) -> str | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def controller_ref(owner: Obj) -> Obj:
    return {"apiVersion": owner.get("apiVersion", ""), "kind": owner.get("kind", ""),
            "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}


def creation_key(obj: Obj) -> tuple[str, str]:
    """ReplicaSetsByCreationTimestamp: creationTimestamp, then name."""
    meta = obj["metadata"]
    return (meta.get("creationTimestamp") or "", meta["name"])


def parse_time(value: str | None) -> float | None:
    if not value:
        return None
    text = value.replace("Z", "+00:00")
    return datetime.fromisoformat(text).astimezone(timezone.utc).timestamp()


def format_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
