"""Is a Deployment's rollout complete? Watch it until it is, or its progress deadline passes.

:func:`rollout_status` is ``kubectl rollout status``'s rule, as a pure function over the
Deployment's wire form (a camelCase dict), with kubectl's messages. :func:`wait_for_rollout`
lists the Deployment (for a resourceVersion), then WATCHES it (``fieldSelector
metadata.name=X``) and re-evaluates on every event; it never sleeps or polls. A watch that
expires (410 Gone) is recovered by listing again; a watch the server closes is resumed from
the last resourceVersion seen. Used by rollback (rollout undo) and deploy.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from kubernetes import watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from pipeline.kube.client import read_json

Obj = Mapping[str, Any]
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
MAX_WATCH_SECONDS = 300          # one watch request; resumed after (as kubectl's informer does)
CONNECT_SECONDS = 10


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
    deadline: float | None
    clock: Callable[[], float]
    on_progress: ProgressCallback | None
    events: int = 0
    relists: int = 0
    messages: list[str] = field(default_factory=list)

    def see(self, deployment: dict[str, Any]) -> RolloutWait | None:
        status = rollout_status(deployment)
        self.messages.append(status.message)
        if self.on_progress is not None:
            self.on_progress(status, deployment)
        if status.done:
            return self.end("complete", status.message, deployment)
        if status.failed:
            return self.end("deadline_exceeded", status.message, deployment)
        return None

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - self.clock()

    def end(self, outcome: str, message: str, deployment: dict[str, Any] | None) -> RolloutWait:
        return RolloutWait(outcome, message, self.clock() - self.start, deployment,
                           self.events, self.relists, tuple(self.messages))


def wait_for_rollout(apps: Any, namespace: str, name: str, timeout_seconds: float | None = None,
                     on_progress: ProgressCallback | None = None,
                     clock: Callable[[], float] = time.monotonic) -> RolloutWait:
    """Watch deployment ``name`` until its rollout is complete or its progress deadline passes.

    ``apps`` is a ``kubernetes.client.AppsV1Api``. ``timeout_seconds`` (None: no limit) is
    this caller's own bound, reported as ``timed_out``; the progress deadline is the
    controller's verdict (condition Progressing/ProgressDeadlineExceeded), as kubectl reads it.
    ``on_progress(status, deployment)`` is called on every observation.
    """
    start = clock()
    tracker = _Tracker(start, None if timeout_seconds is None else start + timeout_seconds,
                       clock, on_progress)
    selector = f"metadata.name={name}"
    last: dict[str, Any] | None = None
    while True:
        listing = read_json(apps.list_namespaced_deployment, namespace, field_selector=selector)
        items = listing.get("items") or []
        if not items:
            return tracker.end("not_found", f'deployments.apps "{name}" not found', None)
        last = items[0]
        ended = tracker.see(last)
        if ended is not None:
            return ended
        resource_version = listing["metadata"]["resourceVersion"]
        try:
            ended, last = _watch(apps, namespace, selector, resource_version, tracker, last)
        except ApiException as exc:
            if exc.status != 410:
                raise
            tracker.relists += 1      # expired: list again for a fresh resourceVersion
            continue
        return ended


def _watch(apps: Any, namespace: str, selector: str, resource_version: str, tracker: _Tracker,
           last: dict[str, Any]) -> tuple[RolloutWait, dict[str, Any]]:
    watcher = watch.Watch()
    while True:
        remaining = tracker.remaining()
        if remaining is not None and remaining <= 0:
            return tracker.end("timed_out", "timed out waiting for the condition", last), last
        seconds = MAX_WATCH_SECONDS if remaining is None else max(1, min(MAX_WATCH_SECONDS, int(remaining + 0.999)))
        stream = watcher.stream(apps.list_namespaced_deployment, namespace, field_selector=selector,
                                resource_version=resource_version, timeout_seconds=seconds,
                                allow_watch_bookmarks=True, _request_timeout=(CONNECT_SECONDS, seconds + 15))
        try:
            for event in stream:
                ended, last = _observe(event, tracker, last)
                if ended is not None:
                    return ended, last
        except (ReadTimeoutError, ProtocolError):
            pass                     # a silent or dropped connection: resume like a closed stream
        finally:
            stream.close()           # releases the connection when we stop early
        resource_version = watcher.resource_version or resource_version   # server closed: resume


def _observe(event: dict[str, Any], tracker: _Tracker,
             last: dict[str, Any]) -> tuple[RolloutWait | None, dict[str, Any]]:
    kind = event["type"]
    if kind == "BOOKMARK":
        return None, last
    tracker.events += 1
    if kind == "DELETED":
        return tracker.end("deleted", "object has been deleted", event["raw_object"]), last
    last = event["raw_object"]
    ended = tracker.see(last)
    remaining = tracker.remaining()
    if ended is None and remaining is not None and remaining <= 0:
        ended = tracker.end("timed_out", "timed out waiting for the condition", last)
    return ended, last
