"""Is a Deployment's rollout complete? Watch it until it is, or its progress deadline passes.

:func:`rollout_status` is ``kubectl rollout status``'s rule, as a pure function over the
Deployment's wire form (a camelCase dict), with kubectl's messages. :func:`wait_for_rollout`
follows the Deployment through the shared informer (``pipeline.kube.informer``) and
re-evaluates on every change; it never sleeps or polls. Used by rollback (rollout undo),
recovery and deploy.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from pipeline.kube.informer import ClusterView, Snapshot

Obj = Mapping[str, Any]
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
FOREVER_SECONDS = 24 * 3600      # "no limit of ours": the progress deadline ends a stuck rollout


@dataclass(frozen=True)
class RolloutStatus:
    """One evaluation: ``done`` (successfully rolled out), ``failed`` (will not finish), or waiting."""
    done: bool
    failed: bool
    message: str


@dataclass(frozen=True)
class RolloutWait:
    """How waiting ended. ``outcome``: complete | deadline_exceeded | timed_out | deleted | not_found."""
    outcome: str
    message: str
    duration_seconds: float
    deployment: dict[str, Any] | None = None
    events: int = 0
    relists: int = 0
    messages: tuple[str, ...] = field(default=())

    @property
    def complete(self) -> bool:
        return self.outcome == "complete"


def revision(obj: Obj) -> int:
    """``deployment.kubernetes.io/revision`` (missing: 0, as kubectl's deploymentutil.Revision)."""
    value = (obj.get("metadata", {}).get("annotations") or {}).get(REVISION_ANNOTATION)
    return int(value) if value is not None else 0


def condition(deployment: Obj, kind: str) -> Obj | None:
    for cond in (deployment.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def rollout_status(deployment: Obj) -> RolloutStatus:
    """kubectl's DeploymentStatusViewer: the same order of checks and the same words."""
    name = deployment["metadata"]["name"]
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    generation = deployment["metadata"].get("generation", 0)
    if generation > status.get("observedGeneration", 0):
        return RolloutStatus(False, False, "Waiting for deployment spec update to be observed...")
    progressing = condition(deployment, "Progressing")
    if progressing is not None and progressing.get("reason") == TIMED_OUT_REASON:
        return RolloutStatus(False, True, f'deployment "{name}" exceeded its progress deadline')
    wanted = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    replicas = status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
    if updated < wanted:
        return RolloutStatus(False, False, f'Waiting for deployment "{name}" rollout to finish: '
                                           f"{updated} out of {wanted} new replicas have been updated...")
    if replicas > updated:
        return RolloutStatus(False, False, f'Waiting for deployment "{name}" rollout to finish: '
                                           f"{replicas - updated} old replicas are pending termination...")
    if available < updated:
        return RolloutStatus(False, False, f'Waiting for deployment "{name}" rollout to finish: '
                                           f"{available} of {updated} updated replicas are available...")
    return RolloutStatus(True, False, f'deployment "{name}" successfully rolled out')


ProgressCallback = Callable[[RolloutStatus, dict[str, Any]], None]


@dataclass
class _Tracker:
    """Accumulates what the waiter saw; decides when to stop."""
    start: float
    clock: Callable[[], float]
    on_progress: ProgressCallback | None
    messages: list[str] = field(default_factory=list)
    events: int = 0
    seen: dict[str, Any] | None = None

    def see(self, snapshot: Snapshot) -> RolloutWait | None:
        self.events = snapshot.changes
        deployment = snapshot.deployment
        if deployment is None and self.seen is not None:
            return self.end("deleted", "object has been deleted", self.seen)
        if deployment is None:
            return self.end("not_found", "deployment not found", None)
        self.seen = deployment
        status = rollout_status(deployment)
        if not self.messages or self.messages[-1] != status.message:
            self.messages.append(status.message)
        if self.on_progress is not None:
            self.on_progress(status, deployment)
        if status.done:
            return self.end("complete", status.message, deployment)
        if status.failed:
            return self.end("deadline_exceeded", status.message, deployment)
        return None

    def end(self, outcome: str, message: str, deployment: dict[str, Any] | None,
            relists: int = 0) -> RolloutWait:
        return RolloutWait(outcome, message, self.clock() - self.start, deployment,
                           self.events, relists, tuple(self.messages))


def wait_for_rollout(apps: Any, namespace: str, name: str, timeout_seconds: float | None = None,
                     on_progress: ProgressCallback | None = None,
                     clock: Callable[[], float] = time.monotonic) -> RolloutWait:
    """Watch deployment ``name`` until its rollout is complete or its progress deadline passes.

    ``apps`` is a :class:`pipeline.kube.api.KubeApi` (or anything with the same methods). ``timeout_seconds`` (None: no limit of
    ours) is this caller's own bound, reported as ``timed_out``; the progress deadline is the
    controller's verdict (condition Progressing/ProgressDeadlineExceeded), as kubectl reads
    it. ``on_progress(status, deployment)`` is called on every observation. The watch is the
    shared informer's (pipeline.kube.informer): resumed on a dropped connection, re-listed on
    410, never judged before it has listed once.
    """
    start = clock()
    tracker = _Tracker(start, clock, on_progress)
    deadline = time.monotonic() + (timeout_seconds if timeout_seconds is not None else FOREVER_SECONDS)
    with ClusterView(apps, None, namespace, name, feeds=("deployment",)) as view:
        ended = view.wait_until(tracker.see, deadline)
        relists = view.stats()["relists"]
        if ended is not None:
            return dataclasses.replace(ended, relists=relists)
        last = view.snapshot().deployment if view.synced() else None
        return tracker.end("timed_out", "timed out waiting for the condition", last, relists)
