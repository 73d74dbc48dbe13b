"""A Deployment's rollout history, as kubectl reads it. Pure functions over wire-form dicts.

History = the ReplicaSets the Deployment controls (selected by its label selector, kept when
their controller ownerReference has the Deployment's uid), each at the revision in its
``deployment.kubernetes.io/revision`` annotation. ``kubectl rollout undo`` picks a revision
(``--to-revision`` or the second highest), refuses a paused Deployment, skips when the
template already matches, else sends the JSON Patch :func:`undo_patch` builds
(kubectl pkg/polymorphichelpers/rollback.go).
"""
from __future__ import annotations

import copy
from typing import Callable, Any, Mapping, Sequence

Obj = Mapping[str, Any]
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
# Deployment annotations kubectl keeps on undo; RS annotations with these keys are not copied.
ANNOTATIONS_TO_SKIP = (
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
)
PAUSED_MESSAGE = ("you cannot rollback a paused deployment; resume it first with "
                  "'kubectl rollout resume' and try again")


class HistoryError(Exception):
    """kubectl's own refusal (same words), e.g. ``unable to find specified revision 9 in history``."""


def selector_string(selector: Obj) -> str:
    """A LabelSelector as the ``labelSelector`` query parameter (``app=web,tier in (a,b)``)."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], sorted(expr.get("values") or [])
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            raise HistoryError(f"unsupported label selector operator {op!r}")
    return ",".join(parts)


def revision_of(obj: Obj) -> int | None:
    """The revision annotation; missing is 0 (as kubectl), unparseable is None (skipped)."""
    value = (obj.get("metadata", {}).get("annotations") or {}).get(REVISION)
    if value is None:
        return 0
    try:
        return int(value)
    except ValueError:
        return None


def controlled_by(deployment: Obj, replica_sets: Sequence[Obj]) -> list[Obj]:
    """The ReplicaSets whose controller ownerReference is this Deployment (by uid)."""
    uid = deployment["metadata"]["uid"]
    return [rs for rs in replica_sets
            if any(ref.get("controller") and ref.get("uid") == uid
                   for ref in rs["metadata"].get("ownerReferences") or [])]


def history(replica_sets: Sequence[Obj]) -> list[tuple[int, Obj]]:
    """(revision, ReplicaSet) ascending, as ``kubectl rollout history`` lists them."""
    pairs = [(rev, rs) for rs in replica_sets if (rev := revision_of(rs)) is not None]
    return sorted(pairs, key=lambda pair: pair[0])


def select_revision(deployment: Obj, replica_sets: Sequence[Obj], to_revision: int = 0,
                    prefer: Callable[[Obj], bool] | None = None) -> tuple[int, Obj]:
    """kubectl's deploymentRevision: ``to_revision`` (0: the second highest) among the RSes.

    ``prefer`` (e.g. "its image was verified by a successful deploy") makes the default the
    newest earlier revision it accepts, so an undo never lands on a release already rejected;
    when it accepts none, kubectl's rule applies."""
    pairs = history(replica_sets)
    if to_revision > 0:
        for rev, rs in pairs:
            if rev == to_revision:
                return rev, rs
        raise HistoryError(f"unable to find specified revision {to_revision} in history")
    if len(pairs) < 2:
        raise HistoryError(f'no rollout history found for deployment "{deployment["metadata"]["name"]}"')
    if prefer is not None:
        preferred = [pair for pair in pairs[:-1] if prefer(pair[1])]
        if preferred:
            return preferred[-1]
    return pairs[-2]


def canonical(value: Any) -> Any:
    """Drop nulls and empty maps/lists, recursively: Go's semantic equality (nil == empty)."""
    if isinstance(value, Mapping):
        items = {k: canonical(v) for k, v in value.items()}
        return {k: v for k, v in items.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def without_hash(template: Obj) -> dict[str, Any]:
    """A pod template minus the ``pod-template-hash`` label the controller adds to RSes."""
    copied: dict[str, Any] = copy.deepcopy(dict(template))
    labels = (copied.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return copied


def equal_ignore_hash(a: Obj, b: Obj) -> bool:
    return canonical(without_hash(a)) == canonical(without_hash(b))


def undo_annotations(deployment: Obj, replica_set: Obj) -> dict[str, str]:
    """The Deployment's kept annotations plus the RS's others (change-cause comes from the RS)."""
    current = deployment["metadata"].get("annotations") or {}
    annotations = {k: current[k] for k in ANNOTATIONS_TO_SKIP if k in current}
    for key, value in (replica_set["metadata"].get("annotations") or {}).items():
        if key not in ANNOTATIONS_TO_SKIP:
            annotations[key] = value
    return annotations


def undo_patch(deployment: Obj, replica_set: Obj) -> list[dict[str, Any]]:
    """The JSON Patch ``kubectl rollout undo`` sends (application/json-patch+json)."""
    return [
        {"op": "replace", "path": "/spec/template", "value": without_hash(replica_set["spec"]["template"])},
        {"op": "replace", "path": "/metadata/annotations", "value": undo_annotations(deployment, replica_set)},
    ]


def image_of(template: Obj, container: str = "") -> str | None:
    """The image of container ``container`` (empty or absent: the first container)."""
    containers = (template.get("spec") or {}).get("containers") or []
    for c in containers:
        if c.get("name") == container:
            return c.get("image")
    return containers[0].get("image") if containers else None
