"""The Deployment controller: syncDeployment's order of business, reading and writing the Cluster.

Order (deployment_controller.go): owned ReplicaSets -> paused condition -> paused: scale
only -> scaling event (an active RS sized for another spec.replicas): proportional scale ->
RollingUpdate / Recreate. The numbers come from ``rolling.py``, annotations from
``revisions.py``, status and conditions from ``progress.py``.
"""
from __future__ import annotations

from typing import Callable

from pipeline.sandbox.kube.controllers import progress, revisions, rolling
from pipeline.sandbox.kube.controllers import spec as sp
from pipeline.sandbox.kube.controllers.events import EventRecorder
from pipeline.sandbox.kube.controllers.runtime import Clock, WorkQueue
from pipeline.sandbox.kube.controllers.spec import Obj
from pipeline.sandbox.kube.controllers.templates import equal_ignore_hash, template_hash
from pipeline.sandbox.kube.objects import ApiError, Cluster
from pipeline.sandbox.kube.resources import DEPLOYMENTS, PODS, REPLICASETS
from pipeline.sandbox.kube.store import clone

Key = tuple[str, str]


def rs_state(rs: Obj) -> rolling.RSState:
    notes = sp.annotations(rs)
    return rolling.RSState(
        name=rs["metadata"]["name"], replicas=sp.replicas(rs),
        available=sp.status_int(rs, "availableReplicas"),
        created=rs["metadata"].get("creationTimestamp") or "",
        max_replicas=_int_or_none(notes.get(sp.MAX_REPLICAS)),
        desired=_int_or_none(notes.get(sp.DESIRED_REPLICAS)))


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def fenceposts(deploy: Obj) -> rolling.Fenceposts:
    surge, unavailable = sp.rolling_params(deploy)
    return rolling.deployment_fenceposts(surge, unavailable, sp.replicas(deploy),
                                         sp.strategy_type(deploy) == "RollingUpdate")


def counts(new: Obj | None, rss: list[Obj]) -> progress.Counts:
    return progress.Counts(
        replicas=sum(sp.status_int(rs, "replicas") for rs in rss),
        updated=sp.status_int(new, "replicas") if new else 0,
        ready=sum(sp.status_int(rs, "readyReplicas") for rs in rss),
        available=sum(sp.status_int(rs, "availableReplicas") for rs in rss),
        spec_total=sum(sp.replicas(rs) for rs in rss))


class DeploymentController:
    def __init__(self, cluster: Cluster, queue_factory: Callable[[Callable[[Key], None], str], WorkQueue[Key]],
                 clock: Clock, events: EventRecorder | None = None) -> None:
        self.cluster, self.clock = cluster, clock
        self.events = events or EventRecorder(cluster, clock)
        self.queue = queue_factory(self.sync, "deployment")

    def enqueue_for_pod_deleted(self, pod: Obj) -> None:
        """A pod went away: a Recreate rollout may be waiting for exactly that (deletePod in Go)."""
        for ref in pod["metadata"].get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") == "ReplicaSet":
                rs = self.cluster.store.get(REPLICASETS, pod["metadata"].get("namespace", ""), ref["name"])
                if rs is not None:
                    self.enqueue_for_rs(rs)

    def enqueue_for_rs(self, rs: Obj) -> None:
        for ref in rs["metadata"].get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") == "Deployment":
                self.queue.add((rs["metadata"].get("namespace", ""), ref["name"]))

    # --- syncDeployment --------------------------------------------------------------
    def sync(self, key: Key) -> None:
        namespace, name = key
        d = self.cluster.store.get(DEPLOYMENTS, namespace, name)
        if d is None or d["metadata"].get("deletionTimestamp"):
            return
        status = clone(d.get("status") or {})
        if progress.paused_condition(status, sp.paused(d), sp.progress_deadline(d), self.clock()):
            d = self._write_status(d, status)
        if sp.paused(d):
            return self._sync_scale(d)
        if self._is_scaling_event(d):
            return self._sync_scale(d)
        if sp.strategy_type(d) == "Recreate":
            return self._rollout_recreate(d)
        return self._rollout_rolling(d)

    def _owned(self, d: Obj) -> list[Obj]:
        """The deployment's ReplicaSets, as read-only views (copy before changing one)."""
        uid = d["metadata"]["uid"]
        return [rs for rs in self.cluster.owned(REPLICASETS, uid) if sp.controller_uid(rs) == uid]

    def _is_scaling_event(self, d: Obj) -> bool:
        d, new, olds = self._new_and_old(d, create=False)
        for rs in [*olds, new]:
            if rs is None or sp.replicas(rs) == 0:
                continue
            desired = _int_or_none(sp.annotations(rs).get(sp.DESIRED_REPLICAS))
            if desired is not None and desired != sp.replicas(d):
                return True
        return False

    # --- rollouts --------------------------------------------------------------------
    def _rollout_rolling(self, d: Obj) -> None:
        d, new, olds = self._new_and_old(d, create=True)
        if new is None:
            return
        posts = fenceposts(d)
        target = rolling.reconcile_new(sp.replicas(d), posts, [rs_state(r) for r in [new, *olds]], rs_state(new))
        if target is not None:
            self._scale(new, target, d)
            return self._sync_rollout_status(d)
        sizes = rolling.reconcile_old(sp.replicas(d), posts, [rs_state(r) for r in olds], rs_state(new))
        by_name = {rs["metadata"]["name"]: rs for rs in olds}
        scaled = False
        for rs_name, size in sizes.items():
            scaled |= self._scale(by_name[rs_name], size, d)
        if scaled:
            return self._sync_rollout_status(d)
        if progress.complete(d.get("status") or {}, sp.replicas(d), sp.generation(d)):
            self._cleanup(d, olds)
        self._sync_rollout_status(d)

    def _rollout_recreate(self, d: Obj) -> None:
        d, new, olds = self._new_and_old(d, create=False)
        scaled = False
        for rs in olds:
            if sp.replicas(rs) > 0:
                scaled |= self._scale(rs, 0, d)
        if scaled or self._old_pods_running(new, olds):
            return self._sync_rollout_status(d)
        if new is None:
            d, new, olds = self._new_and_old(d, create=True)
            if new is None:
                return
        if sp.replicas(new) != sp.replicas(d):
            self._scale(new, sp.replicas(d), d)
        if progress.complete(d.get("status") or {}, sp.replicas(d), sp.generation(d)):
            self._cleanup(d, olds)
        self._sync_rollout_status(d)

    def _old_pods_running(self, new: Obj | None, olds: list[Obj]) -> bool:
        if any(sp.status_int(rs, "replicas") > 0 for rs in olds):
            return True
        return any(sp.controller_uid(p) == rs["metadata"]["uid"] and (p.get("status") or {}).get("phase") not in
                   ("Succeeded", "Failed") for rs in olds for p in self.cluster.owned(PODS, rs["metadata"]["uid"]))

    def _sync_scale(self, d: Obj) -> None:
        """sync(): proportional scaling, cleanup when paused, plain status."""
        d, new, olds = self._new_and_old(d, create=False)
        posts = fenceposts(d)
        sizes = rolling.scale_plan(sp.replicas(d), posts, rs_state(new) if new else None,
                                   [rs_state(r) for r in olds], sp.status_int(d, "replicas"),
                                   sp.strategy_type(d) == "RollingUpdate")
        by_name = {rs["metadata"]["name"]: rs for rs in [*olds, new] if rs is not None}
        for rs_name, size in sizes.items():
            self._scale(by_name[rs_name], size, d)
        if sp.paused(d):
            self._cleanup(d, olds)
        d = self.cluster.get(DEPLOYMENTS, d["metadata"].get("namespace", ""), d["metadata"]["name"])
        all_rss = self._owned(d)
        new = next((rs for rs in all_rss if new is not None and rs["metadata"]["uid"] == new["metadata"]["uid"]), None)
        status = self._calculate(d, new, all_rss)
        if status != (d.get("status") or {}):
            self._write_status(d, status)

    # --- new / old ReplicaSets (getAllReplicaSetsAndSyncRevision) --------------------
    def _new_and_old(self, d: Obj, create: bool) -> tuple[Obj, Obj | None, list[Obj]]:
        rss = sorted(self._owned(d), key=sp.creation_key)
        template = sp.spec(d).get("template") or {}
        new = next((rs for rs in rss if equal_ignore_hash(sp.spec(rs).get("template") or {}, template)), None)
        olds = [rs for rs in rss if new is None or rs["metadata"]["uid"] != new["metadata"]["uid"]]
        revision = revisions.max_revision([sp.revision_of(rs) for rs in olds]) + 1
        if new is not None:
            d, new = self._sync_existing_new(d, new, revision)
            return d, new, olds
        if not create:
            return d, None, olds
        d, new = self._create_new(d, olds, revision)
        return d, new, olds

    def _sync_existing_new(self, d: Obj, new: Obj, revision: int) -> tuple[Obj, Obj]:
        rs = clone(new)
        notes = sp.annotations(rs)
        changed = revisions.set_new_rs_annotations(sp.annotations(d), notes, revision, True,
                                                   sp.replicas(d), sp.replicas(d) + fenceposts(d).surge)
        min_ready = sp.min_ready_seconds(d)
        if changed or sp.min_ready_seconds(rs) != min_ready:
            rs["metadata"]["annotations"] = notes
            rs["spec"]["minReadySeconds"] = min_ready
            rs["metadata"].pop("resourceVersion", None)
            return d, self.cluster.update(REPLICASETS, rs)
        status = clone(d.get("status") or {})
        needs = self._set_revision(d, notes.get(sp.REVISION, ""))
        if sp.progress_deadline(d) is not None and progress.get_condition(status, progress.PROGRESSING) is None:
            progress.set_condition(status, progress.condition(
                progress.PROGRESSING, "True", progress.FOUND_NEW_RS,
                f'Found new replica set "{rs["metadata"]["name"]}"', self.clock()))
            needs = True
        if needs:
            d = self._write_status(d, status, sp.annotations(d) | {sp.REVISION: notes.get(sp.REVISION, "")})
        return d, rs

    def _set_revision(self, d: Obj, revision: str) -> bool:
        return sp.annotations(d).get(sp.REVISION) != revision

    def _create_new(self, d: Obj, olds: list[Obj], revision: int) -> tuple[Obj, Obj | None]:
        meta = d["metadata"]
        collision = (d.get("status") or {}).get("collisionCount")
        template = clone(sp.spec(d).get("template") or {})
        pod_hash = template_hash(template, collision)
        tmeta = template.setdefault("metadata", {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), sp.HASH_LABEL: pod_hash}
        selector = clone(sp.spec(d).get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), sp.HASH_LABEL: pod_hash}
        name = f"{meta['name']}-{pod_hash}"
        posts = fenceposts(d)
        rs: Obj = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                   "metadata": {"name": name, "namespace": meta.get("namespace", ""),
                                "labels": dict(tmeta["labels"]), "ownerReferences": [sp.controller_ref(d)]},
                   "spec": {"replicas": 0, "minReadySeconds": sp.min_ready_seconds(d),
                            "selector": selector, "template": template}}
        rs["spec"]["replicas"] = rolling.new_rs_new_replicas(
            sp.replicas(d), posts, [rs_state(r) for r in olds] + [rs_state(rs)], rs_state(rs),
            sp.strategy_type(d) == "RollingUpdate")
        notes: dict[str, str] = {}
        revisions.set_new_rs_annotations(sp.annotations(d), notes, revision, False,
                                         sp.replicas(d), sp.replicas(d) + posts.surge)
        rs["metadata"]["annotations"] = notes
        status = clone(d.get("status") or {})
        try:
            created = self.cluster.create(REPLICASETS, rs)
        except ApiError as exc:
            if exc.reason == "AlreadyExists":
                return self._on_name_clash(d, rs, status)
            if sp.progress_deadline(d) is not None:
                progress.set_condition(status, progress.condition(
                    progress.PROGRESSING, "False", progress.RS_CREATE_ERROR,
                    f'Failed to create new replica set "{name}": {exc}', self.clock()))
                self._write_status(d, status)
            raise
        if sp.replicas(created) > 0:
            self._scaling_event(d, name, 0, sp.replicas(created))
        if sp.progress_deadline(d) is not None:
            progress.set_condition(status, progress.condition(
                progress.PROGRESSING, "True", progress.NEW_RS_CREATED,
                f'Created new replica set "{name}"', self.clock()))
        d = self._write_status(d, status, sp.annotations(d) | {sp.REVISION: str(revision)})
        return d, created

    def _on_name_clash(self, d: Obj, rs: Obj, status: Obj) -> tuple[Obj, Obj | None]:
        meta = rs["metadata"]
        existing = self.cluster.get(REPLICASETS, meta["namespace"], meta["name"])
        if (sp.controller_uid(existing) == d["metadata"]["uid"]
                and equal_ignore_hash(sp.spec(existing).get("template") or {}, sp.spec(d).get("template") or {})):
            return d, existing
        status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
        self._write_status(d, status)
        return d, None   # the status write requeues us; next pass hashes with the new count

    # --- writes ----------------------------------------------------------------------
    def _scale(self, rs: Obj, size: int, d: Obj) -> bool:
        """scaleReplicaSet: size and desired/max-replicas annotations; True if the size changed."""
        notes = sp.annotations(rs)
        notes_changed = revisions.set_replicas_annotations(notes, sp.replicas(d),
                                                           sp.replicas(d) + fenceposts(d).surge)
        size_changed = sp.replicas(rs) != size
        if not (size_changed or notes_changed):
            return False
        current = self.cluster.get(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"])
        current["spec"]["replicas"] = size
        current["metadata"]["annotations"] = sp.annotations(current) | {
            sp.DESIRED_REPLICAS: notes[sp.DESIRED_REPLICAS], sp.MAX_REPLICAS: notes[sp.MAX_REPLICAS]}
        current["metadata"].pop("resourceVersion", None)
        self.cluster.update(REPLICASETS, current)
        if size_changed:
            self._scaling_event(d, rs["metadata"]["name"], sp.replicas(rs), size)
        return size_changed

    def _scaling_event(self, d: Obj, rs_name: str, old: int, new: int) -> None:
        verb = "up" if old < new else "down"
        self.events.record(d, "Normal", "ScalingReplicaSet",
                           f"Scaled {verb} replica set {rs_name} from {old} to {new}", "deployment-controller")

    def _cleanup(self, d: Obj, olds: list[Obj]) -> None:
        entries = [(rs["metadata"]["name"], sp.revision_of(rs), sp.replicas(rs), sp.status_int(rs, "replicas"),
                    sp.status_int(rs, "observedGeneration") >= sp.generation(rs))
                   for rs in olds if not rs["metadata"].get("deletionTimestamp")]
        for name in revisions.rs_to_clean(entries, sp.revision_history_limit(d)):
            try:
                self.cluster.delete(REPLICASETS, d["metadata"].get("namespace", ""), name)
            except ApiError as exc:
                if exc.code != 404:
                    raise

    def _calculate(self, d: Obj, new: Obj | None, rss: list[Obj]) -> Obj:
        return progress.calculate_status(d.get("status") or {}, counts(new, rss), sp.generation(d),
                                         sp.replicas(d), fenceposts(d).unavailable, self.clock())

    def _sync_rollout_status(self, d: Obj) -> None:
        d = self.cluster.get(DEPLOYMENTS, d["metadata"].get("namespace", ""), d["metadata"]["name"])
        rss = self._owned(d)
        template = sp.spec(d).get("template") or {}
        new = next((rs for rs in sorted(rss, key=sp.creation_key)
                    if equal_ignore_hash(sp.spec(rs).get("template") or {}, template)), None)
        now = self.clock()
        old_status = d.get("status") or {}
        status = progress.rollout_status(old_status, self._calculate(d, new, rss),
                                         new["metadata"]["name"] if new else None, d["metadata"]["name"],
                                         sp.replicas(d), sp.generation(d), sp.progress_deadline(d), now)
        if status != old_status:
            self._write_status(d, status)
        if not progress.complete(status, sp.replicas(d), sp.generation(d)):
            when = progress.deadline_epoch(status, sp.progress_deadline(d))
            if when is not None:
                self.queue.add_at((d["metadata"].get("namespace", ""), d["metadata"]["name"]), when + 0.1)

    def _write_status(self, d: Obj, status: Obj, notes: dict[str, str] | None = None) -> Obj:
        """UpdateStatus; like the real status strategy it may also change annotations (revision)."""
        meta = d["metadata"]
        current = self.cluster.get(DEPLOYMENTS, meta.get("namespace", ""), meta["name"])
        current["status"] = status
        if notes is not None and notes != sp.annotations(current):
            current["metadata"]["annotations"] = notes
            return self.cluster.store.replace(DEPLOYMENTS, current)
        current["metadata"].pop("resourceVersion", None)
        return self.cluster.update_status(DEPLOYMENTS, current)
