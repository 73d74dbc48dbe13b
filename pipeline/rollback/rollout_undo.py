"""Roll back by Kubernetes rollout undo: exactly what ``kubectl rollout undo`` does, then wait.

Through the ``kubernetes`` client: read the Deployment, list its ReplicaSets by its selector
and keep those it controls, pick the previous revision (or ``to_revision``), refuse a
paused Deployment, skip when the template already matches, else send kubectl's JSON Patch
(``/spec/template`` and ``/metadata/annotations``). Then watch the Deployment until the
rollout is complete (kubectl rollout status's rule) or its progress deadline passes.
Refusals use kubectl's words, so the runbook's kubectl commands and ours read the same.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from kubernetes.client.exceptions import ApiException

from pipeline.kube import history, retry
from pipeline.kube.client import read_json
from pipeline.kube.history import HistoryError
from pipeline.kube.rollout import ProgressCallback, wait_for_rollout
from pipeline.rollback.result import Outcome, Plan, RollbackResult

JSON_PATCH = "application/json-patch+json"


class ClusterError(Exception):
    """The cluster answered with an error (e.g. the Deployment does not exist)."""


@dataclass(frozen=True)
class UndoDecision:
    """What undo would do, decided from the Deployment and its ReplicaSets alone."""
    noop: bool
    from_revision: int
    to_revision: int
    from_image: str | None
    to_image: str | None
    patch: list[dict[str, Any]]
    target_template: dict[str, Any]
    resume: bool = False                 # paused, and resuming was asked: the patch also unpauses

    def data(self) -> dict[str, Any]:
        return {"from_revision": self.from_revision, "to_revision": self.to_revision,
                "from_image": self.from_image, "to_image": self.to_image, "resumed": self.resume}


RESUME_OP = {"op": "remove", "path": "/spec/paused"}   # as `kubectl rollout resume` (paused: null)


def decide(deployment: dict[str, Any], replica_sets: list[dict[str, Any]], to_revision: int = 0,
           container: str = "", resume_paused: bool = False,
           good_images: frozenset[str] = frozenset(), to_template: dict[str, Any] | None = None) -> UndoDecision:
    """kubectl's order: paused -> revision lookup -> already matches -> patch. Raises HistoryError.

    ``resume_paused`` (the automatic rollback of a deploy that paused the Deployment at a gate)
    undoes a paused Deployment too, unpausing it in the same patch; kubectl refuses that.
    ``good_images`` (images verified by successful deploys, from the audit log) makes the
    default target the newest earlier revision running one of them, never a rejected release.
    ``to_template`` (a deploy's recorded intent: the pod template that was serving before it)
    names the target by content, which survives the renumbering an undo does."""
    paused = bool((deployment.get("spec") or {}).get("paused"))
    if paused and not resume_paused:
        raise HistoryError(history.PAUSED_MESSAGE)
    owned = history.controlled_by(deployment, replica_sets)
    template = deployment["spec"]["template"]
    target: Mapping[str, Any]
    if to_template is not None:
        target_revision, target = by_template(owned, to_template)
    elif paused and not to_revision and owned and not any(
            history.equal_ignore_hash(rs["spec"]["template"], template) for rs in owned):
        # paused before its new template was rolled out (no RS has it yet): the last rolled-out
        # revision is the one to return to, not the one before it
        target_revision, target = history.history(owned)[-1]
    else:
        prefer = (lambda rs: history.image_of(rs["spec"]["template"], container) in good_images) if good_images else None
        target_revision, target = history.select_revision(deployment, owned, to_revision, prefer)
    target_template = history.without_hash(target["spec"]["template"])
    same = history.equal_ignore_hash(target["spec"]["template"], template)
    patch = [] if same else history.undo_patch(deployment, target)
    return UndoDecision(
        noop=same and not paused,
        from_revision=history.revision_of(deployment) or 0,
        to_revision=target_revision,
        from_image=history.image_of(template, container),
        to_image=history.image_of(target_template, container),
        patch=patch + ([RESUME_OP] if paused else []),
        target_template=target_template,
        resume=paused,
    )


def by_template(owned: Sequence[Mapping[str, Any]], template: Mapping[str, Any]) -> tuple[int, Mapping[str, Any]]:
    """The (revision, ReplicaSet) whose template is ``template``; a bare stand-in when none is kept
    (history trimmed by revisionHistoryLimit): the patch then carries the template itself."""
    for rs in owned:
        if history.equal_ignore_hash(rs["spec"]["template"], template):
            return history.revision_of(rs) or 0, rs
    return 0, {"metadata": {"annotations": {}}, "spec": {"template": template}}


@dataclass
class RolloutUndo:
    apps: Any                            # pipeline.kube.api.KubeApi
    namespace: str
    deployment: str
    container: str = ""
    to_revision: int = 0                 # 0: the previous revision
    timeout_seconds: float | None = None  # our own bound on waiting; None: the progress deadline decides
    on_progress: ProgressCallback | None = None
    resume_paused: bool = False          # undo (and unpause) a paused Deployment instead of refusing
    good_images: frozenset[str] = frozenset()  # default target: the newest revision running one of these
    to_template: dict[str, Any] | None = None   # target by content (a deploy's recorded intent)
    name: str = "undo"

    @property
    def ref(self) -> str:
        return f"deployment.apps/{self.deployment}"

    def plan(self) -> Plan:
        try:
            decision = self._decide()
        except (HistoryError, ClusterError) as exc:
            return Plan(self.name, "unknown", f"cannot undo: {exc}", data={"error": str(exc)})
        current = f"image {decision.from_image} at revision {decision.from_revision}" + (
            " (paused)" if decision.resume else "")
        if decision.noop:
            return Plan(self.name, current, f"already matches revision {decision.to_revision}", True, decision.data())
        return Plan(self.name, current, f"image {decision.to_image} (revision {decision.to_revision})",
                    data=decision.data())

    def execute(self, reason: str, dry_run: bool = False) -> RollbackResult:
        start = time.monotonic()
        try:
            decision = self._decide()
        except (HistoryError, ClusterError) as exc:
            return self._result(Outcome.FAILED, str(exc), start)
        if decision.noop:
            return self._result(Outcome.ALREADY, f"{self.ref} skipped rollback (current template already "
                                f"matches revision {decision.to_revision})", start, decision.data())
        if dry_run:
            return self._result(Outcome.DRY_RUN, f"would roll {self.ref} back from revision "
                                f"{decision.from_revision} ({decision.from_image}) to revision "
                                f"{decision.to_revision} ({decision.to_image})"
                                + (" and resume it" if decision.resume else ""), start, decision.data())
        return self._apply(decision, start)

    def _decide(self) -> UndoDecision:
        return decide(*self._read(), self.to_revision, self.container, self.resume_paused, self.good_images,
                      self.to_template)

    def _apply(self, decision: UndoDecision, start: float) -> RollbackResult:
        def send() -> UndoDecision:
            nonlocal decision          # a conflict means someone wrote: re-read and decide again
            if attempts:
                decision = self._decide()
            attempts.append(1)
            if not decision.noop:
                read_json(self.apps.patch_namespaced_deployment, self.deployment, self.namespace,
                          decision.patch, _content_type=JSON_PATCH)
            return decision

        attempts: list[int] = []
        try:
            decision = retry.call(send)
        except (HistoryError, ClusterError) as exc:
            return self._result(Outcome.FAILED, str(exc), start, decision.data())
        except ApiException as exc:
            return self._result(Outcome.FAILED, f"patching {self.ref} failed: {_api_message(exc)}",
                                start, decision.data())
        waited = wait_for_rollout(self.apps, self.namespace, self.deployment, self.timeout_seconds,
                                  self.on_progress)
        data = {**decision.data(), "wait": waited.outcome, "watch_events": waited.events,
                "rollout_seconds": round(waited.duration_seconds, 3)}
        if not waited.complete:
            return self._result(Outcome.FAILED, f"{self.ref} rolled back to revision {decision.to_revision} "
                                f"but the rollout did not complete: {waited.message}", start, data)
        return self._verified(decision, waited.deployment or {}, start, data)

    def _verified(self, decision: UndoDecision, live: dict[str, Any], start: float,
                  data: dict[str, Any]) -> RollbackResult:
        data["new_revision"] = history.revision_of(live)
        if (live.get("spec") or {}).get("paused"):
            return self._result(Outcome.FAILED, f"{self.ref} is paused again (by someone else?); "
                                "resume it with kubectl rollout resume", start, data)
        if not history.equal_ignore_hash(live["spec"]["template"], decision.target_template):
            return self._result(Outcome.FAILED, f"{self.ref} completed a rollout, but its template is no longer "
                                f"revision {decision.to_revision}'s (changed by someone else?)", start, data)
        resumed = " (was paused: resumed)" if decision.resume else ""
        return self._result(Outcome.DONE, f"{self.ref} rolled back from revision {decision.from_revision} "
                            f"({decision.from_image}) to revision {decision.to_revision} ({decision.to_image}), "
                            f"now revision {data['new_revision']}; rollout complete{resumed}", start, data)

    def _read(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        try:
            deployment = retry.call(lambda: read_json(self.apps.read_namespaced_deployment, self.deployment,
                                                      self.namespace))
            selector = history.selector_string(deployment["spec"]["selector"])
            listing = retry.call(lambda: read_json(self.apps.list_namespaced_replica_set, self.namespace,
                                                   label_selector=selector))
        except ApiException as exc:
            raise ClusterError(_api_message(exc)) from None
        return deployment, listing.get("items") or []

    def _result(self, outcome: Outcome, detail: str, start: float,
                data: dict[str, Any] | None = None) -> RollbackResult:
        return RollbackResult(self.name, outcome, detail, time.monotonic() - start, data or {})


def _api_message(exc: ApiException) -> str:
    """The Status message a server sent (``deployments.apps "web" not found``), else the HTTP reason."""
    import json

    try:
        body = json.loads(exc.body or "")
        return f"{body.get('reason', exc.reason)}: {body['message']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {exc.status} {exc.reason}"
