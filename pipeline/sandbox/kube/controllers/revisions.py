"""Revisions and ReplicaSet annotations, as pure functions (deployment_util.go).

- A ReplicaSet gets every Deployment annotation except the controller's own and
  last-applied-configuration (so ``kubernetes.io/change-cause`` travels to the RS).
- ``revision`` = max(old revisions) + 1, and only ever raised; a ReplicaSet reused at a
  higher revision (``rollout undo``) appends its previous number to ``revision-history``.
- ``desired-replicas`` / ``max-replicas`` record the deployment size the RS was sized for
  (proportional scaling reads them back).
"""
from __future__ import annotations

from pipeline.sandbox.kube.controllers.spec import (
    DESIRED_REPLICAS, LAST_APPLIED, MAX_REPLICAS, REVISION, REVISION_HISTORY, ROLLBACK_TO)

SKIPPED = {LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO}
MAX_HISTORY_CHARS = 2000


def copy_deployment_annotations(deploy_annotations: dict[str, str], rs_annotations: dict[str, str]) -> bool:
    """copyDeploymentAnnotationsToReplicaSet (mutates ``rs_annotations``); True if changed."""
    changed = False
    for key, value in deploy_annotations.items():
        if key in SKIPPED or rs_annotations.get(key) == value:
            continue
        rs_annotations[key] = value
        changed = True
    return changed


def set_replicas_annotations(rs_annotations: dict[str, str], desired: int, max_replicas: int) -> bool:
    changed = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(max_replicas))):
        if rs_annotations.get(key) != value:
            rs_annotations[key] = value
            changed = True
    return changed


def max_revision(revisions: list[int]) -> int:
    return max(revisions, default=0)


def set_new_rs_annotations(deploy_annotations: dict[str, str], rs_annotations: dict[str, str],
                           new_revision: int, exists: bool, desired: int, max_replicas: int) -> bool:
    """SetNewReplicaSetAnnotations (mutates ``rs_annotations``); True if anything changed."""
    changed = copy_deployment_annotations(deploy_annotations, rs_annotations)
    had_revision = REVISION in rs_annotations
    old_text = rs_annotations.get(REVISION, "")
    try:
        old = int(old_text) if old_text else 0
    except ValueError:
        return False
    if old < new_revision:
        rs_annotations[REVISION] = str(new_revision)
        changed = True
        if had_revision:
            _append_history(rs_annotations, old_text)
    if not exists and set_replicas_annotations(rs_annotations, desired, max_replicas):
        changed = True
    return changed


def _append_history(rs_annotations: dict[str, str], old_text: str) -> None:
    history = rs_annotations.get(REVISION_HISTORY, "")
    if not history:
        rs_annotations[REVISION_HISTORY] = old_text
        return
    parts = history.split(",")
    total = len(history) + len(old_text) + 1
    start = 0
    while total > MAX_HISTORY_CHARS and start < len(parts):
        total -= len(parts[start]) + 1
        start += 1
    if total <= MAX_HISTORY_CHARS:
        rs_annotations[REVISION_HISTORY] = ",".join([*parts[start:], old_text])


def rs_to_clean(old_rss: list[tuple[str, int, int, int, bool]], limit: int) -> list[str]:
    """cleanupDeployment: names of old RSes to delete beyond revisionHistoryLimit.

    Each entry is (name, revision, spec.replicas, status.replicas, observed) where observed
    means status.observedGeneration >= generation. Lowest revisions go first; only
    fully scaled-down, observed ones are deleted.
    """
    diff = len(old_rss) - limit
    if diff <= 0:
        return []
    ordered = sorted(old_rss, key=lambda entry: (entry[1], entry[0]))
    return [name for name, _, spec_n, status_n, observed in ordered[:diff]
            if spec_n == 0 and status_n == 0 and observed]
