"""Which pods are "the new pods" of a Deployment (pure, over API JSON).

The new ReplicaSet is, as the Deployment controller decides (``FindNewReplicaSet``), the
oldest ReplicaSet controlled by the Deployment whose pod template equals the Deployment's
ignoring the ``pod-template-hash`` label (nulls and empty maps/lists count as absent);
failing that, the one whose ``deployment.kubernetes.io/revision`` equals the Deployment's.
New pods carry that ReplicaSet's ``pod-template-hash`` and are not being deleted.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from pipeline.kube.history import HASH_LABEL, REVISION, controlled_by, equal_ignore_hash


def new_replicaset(deployment: Mapping[str, Any], replicasets: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The Deployment's new ReplicaSet, or None if the controller has not created it yet."""
    owned = controlled_by(deployment, replicasets)
    template = (deployment.get("spec") or {}).get("template") or {}
    matching = [rs for rs in owned if equal_ignore_hash((rs.get("spec") or {}).get("template") or {}, template)]
    if matching:
        return min(matching, key=lambda rs: (rs.get("metadata") or {}).get("creationTimestamp", ""))
    revision = ((deployment.get("metadata") or {}).get("annotations") or {}).get(REVISION)
    by_revision = [rs for rs in owned if ((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION) == revision]
    return by_revision[0] if revision and by_revision else None


def new_pods(replicaset: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> list[str]:
    """Names of the pods of ``replicaset`` (its pod-template-hash), not being deleted, sorted."""
    labels = (replicaset.get("metadata") or {}).get("labels") or {}
    wanted = labels.get(HASH_LABEL) or ((replicaset.get("spec") or {}).get("selector") or {}).get(
        "matchLabels", {}).get(HASH_LABEL)
    if not wanted:
        return []
    names = [(pod.get("metadata") or {}).get("name", "") for pod in pods
             if ((pod.get("metadata") or {}).get("labels") or {}).get(HASH_LABEL) == wanted
             and not (pod.get("metadata") or {}).get("deletionTimestamp")]
    return sorted(name for name in names if name)
