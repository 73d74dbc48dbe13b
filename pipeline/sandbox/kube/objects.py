"""Object rules shared by the HTTP handlers and the controllers: the API server's "registry".

Every write to the cluster goes through :class:`Cluster`, never straight to the store, so
defaulting, validation, ``generation`` and status/spec separation hold whoever writes.
Errors are :class:`ApiError` carrying the Status a real API server would send.

Contract (controllers depend on it; extend, don't change):
  create(resource, obj) -> obj           POST semantics; defaults; generation = 1 (Deployment,
                                         ReplicaSet: the kinds that have one)
  update(resource, obj) -> obj           PUT of the main resource: status kept from the stored
                                         object; generation + 1 iff spec (Deployment: or
                                         annotations) changed; metadata.resourceVersion, if
                                         given, must match (Conflict); a write that changes
                                         nothing keeps the resourceVersion and emits no event
  update_status(resource, obj) -> obj    PUT of the status subresource: only status changes
  apply(resource, config, manager, force) -> obj   server-side apply onto an existing object
  delete(resource, namespace, name, grace_period=None, propagation=None) -> obj
                                         graceful for pods on a node, finalizers honoured,
                                         Background / Orphan / Foreground propagation
  get / list                             reads, as the store gives them
Every write records its field manager in ``metadata.managedFields`` (``manager=``; default
``kube-controller-manager``) and takes ``dry_run=True`` (the HTTP layer's ``dryRun=All``):
all defaulting and checks run, the result is returned, nothing is stored.
"""
from __future__ import annotations

import builtins
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from pipeline.sandbox.kube import managed
from pipeline.sandbox.kube.store import Obj, Resource, Store, clone, now_rfc3339


@dataclass
class ApiError(Exception):
    """A Kubernetes ``Status`` failure: ``code`` is the HTTP status, ``reason`` the StatusReason."""
    code: int
    reason: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message

    def status(self) -> Obj:
        body: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                     "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


def not_found(resource: Resource, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{resource.qualified} "{name}" not found',
                    {"name": name, "group": resource.group, "kind": resource.plural})


def already_exists(resource: Resource, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{resource.qualified} "{name}" already exists',
                    {"name": name, "group": resource.group, "kind": resource.plural})


def conflict(resource: Resource, name: str) -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {resource.qualified} "{name}": '
                    "the object has been modified; please apply your changes to the latest version and try again",
                    {"name": name, "group": resource.group, "kind": resource.plural})


CONTROLLER_MANAGER = "kube-controller-manager"
WITH_GENERATION = ("Deployment", "ReplicaSet")   # kinds whose registry strategy keeps metadata.generation
ORPHAN, FOREGROUND = "orphan", "foregroundDeletion"


def _now_text(clock: Callable[[], float]) -> str:
    return datetime.fromtimestamp(clock(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Cluster:
    def __init__(self, store: Store | None = None, clock: Callable[[], float] = time.time) -> None:
        self.store = store or Store()
        self.clock = clock
        # resource -> hook(obj, old) run on create/update before storing (defaults + validation);
        # the HTTP layer and controllers register theirs.
        self.admission: dict[Resource, list[Callable[[Obj, Obj | None], None]]] = {}
        # resource -> hook(obj, old) run on every write, status writes included (e.g. time formats)
        self.normalisers: dict[Resource, list[Callable[[Obj, Obj | None], None]]] = {}

    # reads
    def get(self, resource: Resource, namespace: str, name: str) -> Obj:
        obj = self.store.get(resource, namespace, name)
        if obj is None:
            raise not_found(resource, name)
        return obj

    def list(self, resource: Resource, namespace: str | None = None,
             predicate: Callable[[Obj], bool] | None = None) -> builtins.list[Obj]:
        return self.store.list(resource, namespace, predicate)[0]

    def owned(self, resource: Resource, owner_uid: str) -> builtins.list[Obj]:
        """Read-only views of the ``resource`` objects ``owner_uid`` owns (an index lookup, no copies):
        for controllers' hot paths; never change them, write through the Cluster."""
        return self.store.owned(owner_uid, resource)

    # writes
    def create(self, resource: Resource, obj: Obj, dry_run: bool = False, manager: str | None = CONTROLLER_MANAGER,
               operation: str = "Update") -> Obj:
        """POST (``operation="Update"``: the creator owns every field it stored, defaults included)
        or the create of a server-side apply (``"Apply"``: the applier owns what it sent)."""
        obj = clone(obj)
        claimed = managed.applied_set(self._view(resource, obj, None)) if operation == "Apply" else set()
        meta = obj.setdefault("metadata", {})
        meta.pop("resourceVersion", None)
        for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            meta.pop(key, None)
        if resource.kind in WITH_GENERATION:
            meta["generation"] = 1
        self._admit(resource, obj, None)
        namespace = meta.get("namespace", "") if resource.namespaced else ""
        if self.store.exists(resource, namespace, meta["name"]):
            raise already_exists(resource, meta["name"])
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        if operation == "Apply" and manager is not None:
            meta["managedFields"] = managed.to_json([managed.Entry(manager, "Apply", resource.api_version,
                                                                   _now_text(self.clock), claimed)])
        elif manager is not None:
            meta.pop("managedFields", None)
            fields = managed.record_update([], {}, self._view(resource, obj, None), manager, resource.api_version,
                                           None, _now_text(self.clock))
            meta["managedFields"] = managed.to_json(fields)
        if dry_run:
            return _dry(resource, obj, self.store.resource_version)
        return self.store.create(resource, obj)

    def update(self, resource: Resource, obj: Obj, dry_run: bool = False, manager: str | None = CONTROLLER_MANAGER,
               subresource: str | None = None) -> Obj:
        obj = clone(obj)
        meta = obj["metadata"]
        old = self.get(resource, meta.get("namespace", ""), meta["name"])
        self._check_version(resource, obj, old)
        if "status" in old:
            obj["status"] = old["status"]
        else:
            obj.pop("status", None)
        for kept in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
            if kept in old["metadata"]:
                meta[kept] = old["metadata"][kept]
            else:
                meta.pop(kept, None)
        self._admit(resource, obj, old)  # defaults first, so a PUT without defaults is no spec change
        generation = old["metadata"].get("generation")
        if generation is not None:
            changed = (obj.get("spec") != old.get("spec")
                       or (resource.kind == "Deployment"
                           and meta.get("annotations") != old["metadata"].get("annotations")))
            meta["generation"] = generation + 1 if changed else generation
        else:
            meta.pop("generation", None)
        self._book_update(resource, old, obj, manager, subresource)
        return self._store_update(resource, obj, old, dry_run)

    def update_status(self, resource: Resource, obj: Obj, dry_run: bool = False,
                      manager: str | None = CONTROLLER_MANAGER) -> Obj:
        meta = obj["metadata"]
        old = self.get(resource, meta.get("namespace", ""), meta["name"])
        self._check_version(resource, obj, old)
        new = clone(old)
        new["status"] = clone(obj.get("status", {}))
        self._normalise(resource, new, old)
        self._book_update(resource, old, new, manager, "status")
        return self._store_update(resource, new, old, dry_run)

    def apply(self, resource: Resource, config: Obj, manager: str, force: bool = False,
              subresource: str | None = None, dry_run: bool = False) -> Obj:
        """Server-side apply of ``config`` onto the existing object by ``manager`` (409 on conflicts)."""
        from pipeline.sandbox.kube.patch import strategic_merge
        meta = config["metadata"]
        old = self.get(resource, meta.get("namespace", ""), meta["name"])
        self._check_version(resource, config, old)
        live = clone(old)
        if not live["metadata"].get("managedFields"):
            live["metadata"]["managedFields"] = managed.to_json(managed.adopt_unmanaged(
                live, self._view(resource, live, subresource), resource.api_version, _now_text(self.clock)))
        applied = {k: v for k, v in config.items() if k not in ("apiVersion", "kind")}
        merged = strategic_merge(live, applied)
        merged["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        live_view, merged_view = self._view(resource, live, subresource), self._view(resource, merged, subresource)
        try:
            result_view, fields = managed.apply(managed.entries(live), live_view, merged_view,
                                                self._view(resource, applied, subresource), manager,
                                                resource.api_version, subresource, force, _now_text(self.clock))
        except managed.ApplyConflict as exc:
            raise ApiError(409, "Conflict", str(exc), {"causes": [
                {"type": "FieldManagerConflict", "message": f"conflict with {who}", "field": path}
                for who, path in exc.conflicts]}) from None
        result = {**{k: v for k, v in merged.items() if k not in merged_view}, **result_view}
        result["metadata"]["managedFields"] = managed.to_json(fields)
        if subresource == "status":
            return self.update_status(resource, result, dry_run=dry_run, manager=None)   # booked above
        return self.update(resource, result, dry_run=dry_run, manager=None)

    def delete(self, resource: Resource, namespace: str, name: str, dry_run: bool = False,
               grace_period: int | None = None, propagation: str | None = None) -> Obj:
        """DELETE: pods on a node terminate gracefully (deletionTimestamp, then the kubelet's final
        delete); finalizers hold an object until they are removed; ``propagation`` is Background
        (default: dependents are deleted), Orphan (dependents lose the ownerReference and stay) or
        Foreground (the owner stays until its blocking dependents are gone)."""
        current = self.get(resource, namespace, name)
        meta = current["metadata"]
        grace = self._grace(resource, current, grace_period)
        if meta.get("deletionTimestamp"):
            return self._delete_again(resource, current, grace, dry_run)
        finalizers = list(meta.get("finalizers") or [])
        wanted = {"Orphan": ORPHAN, "Foreground": FOREGROUND}.get(propagation or "")
        if wanted and wanted not in finalizers:
            finalizers.append(wanted)
        if resource.kind == "Namespace":
            return self._delete_namespace(current, dry_run)
        if grace == 0 and not finalizers:
            return current if dry_run else self._remove(resource, current)
        marked = clone(current)
        marked["metadata"].update({"deletionTimestamp": _now_text(lambda: self.clock() + grace),
                                   "deletionGracePeriodSeconds": grace})
        if finalizers:
            marked["metadata"]["finalizers"] = finalizers
        if meta.get("generation") is not None:
            marked["metadata"]["generation"] = int(meta["generation"]) + 1
        if dry_run:
            return marked
        stored = self.store.replace(resource, marked)
        if wanted == ORPHAN:
            stored = self._orphan_dependents(resource, stored)
        elif wanted == FOREGROUND:
            self._delete_dependents(stored, "Foreground")
            stored = self._foreground_done(resource, stored)
        return self._finish(resource, stored)

    # internals
    def _view(self, resource: Resource, obj: Obj, subresource: str | None) -> Obj:
        return managed.view(obj, subresource, "status" in resource.subresources)

    def _book_update(self, resource: Resource, old: Obj, new: Obj, manager: str | None,
                     subresource: str | None) -> None:
        """Record ``manager``'s Update in new.metadata.managedFields (None: the caller already did)."""
        if manager is None:
            return
        base = new["metadata"].get("managedFields")
        found = managed.entries(new if isinstance(base, list) and base else old)
        if isinstance(base, list) and not base:
            found = []
        view_sub = "status" if subresource == "status" else None
        fields = managed.record_update(found, self._view(resource, old, view_sub), self._view(resource, new, view_sub),
                                       manager, resource.api_version, subresource, _now_text(self.clock))
        new["metadata"]["managedFields"] = managed.to_json(fields)
        if not new["metadata"]["managedFields"]:
            del new["metadata"]["managedFields"]

    def _store_update(self, resource: Resource, obj: Obj, old: Obj, dry_run: bool) -> Obj:
        if _times_only(old["metadata"].get("managedFields"), obj["metadata"].get("managedFields")):
            obj["metadata"]["managedFields"] = old["metadata"].get("managedFields")
            if obj["metadata"]["managedFields"] is None:
                del obj["metadata"]["managedFields"]
        if dry_run:
            return _dry(resource, obj, int(old["metadata"]["resourceVersion"]))
        stored = self.store.replace(resource, obj)
        return self._finish(resource, stored)

    def _grace(self, resource: Resource, pod: Obj, requested: int | None) -> int:
        """Seconds a deleted object lingers: only pods on a node that have not finished get any."""
        if resource.kind != "Pod":
            return 0
        spec, phase = pod.get("spec") or {}, (pod.get("status") or {}).get("phase")
        if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
            return 0
        if requested is not None:
            return max(0, int(requested))
        return max(0, int(spec.get("terminationGracePeriodSeconds", 30) or 0))

    def _delete_again(self, resource: Resource, current: Obj, grace: int, dry_run: bool) -> Obj:
        """DELETE of an object already being deleted: a pod's grace period may only get shorter."""
        meta = current["metadata"]
        if resource.kind != "Pod" or grace >= int(meta.get("deletionGracePeriodSeconds") or 0):
            return current
        if grace == 0 and not meta.get("finalizers"):   # the kubelet's final delete: gone, no update first
            return current if dry_run else self._remove(resource, current)
        shorter = clone(current)
        shorter["metadata"].update({"deletionTimestamp": _now_text(lambda: self.clock() + grace),
                                    "deletionGracePeriodSeconds": grace})
        if dry_run:
            return shorter
        return self._finish(resource, self.store.replace(resource, shorter))

    def _finish(self, resource: Resource, stored: Obj) -> Obj:
        """Remove an object being deleted once nothing holds it (no finalizers, no grace left)."""
        meta = stored["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and not meta.get("deletionGracePeriodSeconds"):
            return self._remove(resource, stored)
        return stored

    def _remove(self, resource: Resource, obj: Obj) -> Obj:
        meta = obj["metadata"]
        namespace = meta.get("namespace", "") if resource.namespaced else ""
        removed = self.store.delete(resource, namespace, meta["name"])
        self._delete_dependents(removed, "Background")
        for ref in meta.get("ownerReferences") or []:
            self._owner_may_go(ref.get("uid", ""))
        if namespace:
            self._namespace_may_go(namespace)
        return removed

    def _delete_dependents(self, owner: Obj, policy: str) -> None:
        uid = owner["metadata"]["uid"]
        for resource, dependent in self.store.dependents(uid):
            meta = dependent["metadata"]
            refs = meta.get("ownerReferences") or []
            if any(r.get("uid") != uid and self.store.key_of(r.get("uid", "")) for r in refs):
                self._drop_owner(resource, dependent, uid)
                continue
            blocking = any(r.get("uid") == uid and r.get("blockOwnerDeletion") for r in refs)
            try:
                self.delete(resource, meta.get("namespace", ""), meta["name"],
                            propagation="Foreground" if policy == "Foreground" and blocking else None)
            except ApiError as exc:
                if exc.code != 404:
                    raise

    def _drop_owner(self, resource: Resource, dependent: Obj, owner_uid: str) -> Obj:
        dependent = clone(dependent)
        dependent["metadata"]["ownerReferences"] = [r for r in dependent["metadata"].get("ownerReferences") or []
                                                    if r.get("uid") != owner_uid]
        if not dependent["metadata"]["ownerReferences"]:
            del dependent["metadata"]["ownerReferences"]
        dependent["metadata"].pop("resourceVersion", None)
        return self.update(resource, dependent, manager=CONTROLLER_MANAGER)

    def _orphan_dependents(self, resource: Resource, owner: Obj) -> Obj:
        for dependent_resource, dependent in self.store.dependents(owner["metadata"]["uid"]):
            self._drop_owner(dependent_resource, dependent, owner["metadata"]["uid"])
        return self._drop_finalizer(resource, owner, ORPHAN)

    def _drop_finalizer(self, resource: Resource, obj: Obj, finalizer: str) -> Obj:
        current = self.get(resource, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        remaining = [f for f in current["metadata"].get("finalizers") or [] if f != finalizer]
        if remaining:
            current["metadata"]["finalizers"] = remaining
        else:
            current["metadata"].pop("finalizers", None)
        return self.store.replace(resource, current)

    def _foreground_done(self, resource: Resource, owner: Obj) -> Obj:
        """Drop ``foregroundDeletion`` once no dependent blocks the owner any more."""
        uid = owner["metadata"]["uid"]
        blocking = [d for _, d in self.store.dependents(uid)
                    if any(r.get("uid") == uid and r.get("blockOwnerDeletion")
                           for r in d["metadata"].get("ownerReferences") or [])]
        if blocking:
            return owner
        return self._drop_finalizer(resource, owner, FOREGROUND)

    def _owner_may_go(self, uid: str) -> None:
        key = self.store.key_of(uid)
        if key is None:
            return
        owner = self.store.get(*key)
        if owner is None or FOREGROUND not in (owner["metadata"].get("finalizers") or []):
            return
        if owner["metadata"].get("deletionTimestamp"):
            self._finish(key[0], self._foreground_done(key[0], owner))

    def _delete_namespace(self, namespace: Obj, dry_run: bool) -> Obj:
        """A namespace turns Terminating, its contents are deleted, and it goes once it is empty."""
        from pipeline.sandbox.kube.resources import ALL, NAMESPACES

        marked = clone(namespace)
        marked["metadata"]["deletionTimestamp"] = _now_text(self.clock)
        marked["status"] = {**(marked.get("status") or {}), "phase": "Terminating"}
        if dry_run:
            return marked
        name = namespace["metadata"]["name"]
        stored = self.store.replace(NAMESPACES, marked)
        for resource in ALL:
            if resource.namespaced:
                for obj in self.store.list(resource, name)[0]:
                    if not obj["metadata"].get("deletionTimestamp"):
                        self.delete(resource, name, obj["metadata"]["name"])
        return self._namespace_may_go(name) or stored

    def _namespace_may_go(self, name: str) -> Obj | None:
        from pipeline.sandbox.kube.resources import ALL, NAMESPACES

        namespace = self.store.get(NAMESPACES, "", name)
        if namespace is None or not namespace["metadata"].get("deletionTimestamp"):
            return None
        if any(self.store.count_in(resource, name) for resource in ALL if resource.namespaced):
            return None
        return self.store.delete(NAMESPACES, "", name)

    def _check_version(self, resource: Resource, obj: Obj, old: Obj) -> None:
        wanted = obj["metadata"].get("resourceVersion")
        if wanted and wanted != old["metadata"]["resourceVersion"]:
            raise conflict(resource, obj["metadata"]["name"])

    def _admit(self, resource: Resource, obj: Obj, old: Obj | None) -> None:
        for hook in self.admission.get(resource, []):
            hook(obj, old)
        self._normalise(resource, obj, old)

    def _normalise(self, resource: Resource, obj: Obj, old: Obj | None) -> None:
        for hook in self.normalisers.get(resource, []):
            hook(obj, old)


def _times_only(old: Any, new: Any) -> bool:
    """Managed fields that differ only in entry times: a no-op write must not change them."""
    def strip(entries: Any) -> Any:
        return [{k: v for k, v in e.items() if k != "time"} for e in entries or []]
    return old != new and strip(old) == strip(new)


def _dry(resource: Resource, obj: Obj, resource_version: int) -> Obj:
    """What a dry-run write returns: the object as it would be stored."""
    meta = obj["metadata"]
    meta.setdefault("uid", str(uuid.uuid4()))
    meta.setdefault("creationTimestamp", now_rfc3339())
    meta["resourceVersion"] = str(resource_version)
    obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
    return obj
