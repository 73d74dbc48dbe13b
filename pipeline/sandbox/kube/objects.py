"""Object rules shared by the HTTP handlers and the controllers: the API server's "registry".

Every write to the cluster goes through :class:`Cluster`, never straight to the store, so
defaulting, validation, ``generation`` and status/spec separation hold whoever writes.
Errors are :class:`ApiError` carrying the Status a real API server would send.

Contract (controllers depend on it; extend, don't change):
  create(resource, obj) -> obj           POST semantics; defaults; generation = 1
  update(resource, obj) -> obj           PUT of the main resource: status kept from the stored
                                         object; generation + 1 iff spec or annotations changed;
                                         metadata.resourceVersion, if given, must match (Conflict)
  update_status(resource, obj) -> obj    PUT of the status subresource: only status changes
  delete(resource, namespace, name) -> obj   cascades to objects it controls (ownerReferences)
  get / list                             reads, as the store gives them
Every write also takes ``dry_run=True`` (the HTTP layer's ``dryRun=All``): all defaulting and
checks run, the result is returned, nothing is stored.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable

from pipeline.sandbox.kube.store import Obj, Resource, Store


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


class Cluster:
    def __init__(self, store: Store | None = None) -> None:
        self.store = store or Store()
        # resource -> hook(obj) run on create/update before storing (defaults + validation);
        # the HTTP layer and controllers register theirs.
        self.admission: dict[Resource, list[Callable[[Obj, Obj | None], None]]] = {}

    # reads
    def get(self, resource: Resource, namespace: str, name: str) -> Obj:
        obj = self.store.get(resource, namespace, name)
        if obj is None:
            raise not_found(resource, name)
        return obj

    def list(self, resource: Resource, namespace: str | None = None,
             predicate: Callable[[Obj], bool] | None = None) -> list[Obj]:
        return self.store.list(resource, namespace, predicate)[0]

    # writes
    def create(self, resource: Resource, obj: Obj, dry_run: bool = False) -> Obj:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.pop("resourceVersion", None)
        if "spec" in obj or resource.kind in ("Deployment", "ReplicaSet"):
            meta["generation"] = 1
        self._admit(resource, obj, None)
        namespace = meta.get("namespace", "") if resource.namespaced else ""
        if self.store.get(resource, namespace, meta["name"]) is not None:
            raise already_exists(resource, meta["name"])
        if dry_run:
            return _dry(resource, obj, self.store.resource_version)
        return self.store.create(resource, obj)

    def update(self, resource: Resource, obj: Obj, dry_run: bool = False) -> Obj:
        obj = copy.deepcopy(obj)
        meta = obj["metadata"]
        old = self.get(resource, meta.get("namespace", ""), meta["name"])
        self._check_version(resource, obj, old)
        if "status" in old:
            obj["status"] = old["status"]
        else:
            obj.pop("status", None)
        for immutable in ("uid", "creationTimestamp"):
            meta[immutable] = old["metadata"][immutable]
        self._admit(resource, obj, old)  # defaults first, so a PUT without defaults is no spec change
        generation = old["metadata"].get("generation")
        if generation is not None:
            changed = (obj.get("spec") != old.get("spec")
                       or meta.get("annotations") != old["metadata"].get("annotations"))
            meta["generation"] = generation + 1 if changed else generation
        if dry_run:
            return _dry(resource, obj, int(old["metadata"]["resourceVersion"]))
        return self.store.replace(resource, obj)

    def update_status(self, resource: Resource, obj: Obj, dry_run: bool = False) -> Obj:
        meta = obj["metadata"]
        old = self.get(resource, meta.get("namespace", ""), meta["name"])
        self._check_version(resource, obj, old)
        new = copy.deepcopy(old)
        new["status"] = copy.deepcopy(obj.get("status", {}))
        if dry_run:
            return new
        return self.store.replace(resource, new)

    def delete(self, resource: Resource, namespace: str, name: str, dry_run: bool = False) -> Obj:
        current = self.store.get(resource, namespace, name)
        if current is None:
            raise not_found(resource, name)
        if dry_run:
            return current
        deleted = self.store.delete(resource, namespace, name)
        self._collect_garbage(deleted["metadata"]["uid"])
        return deleted

    # internals
    def _check_version(self, resource: Resource, obj: Obj, old: Obj) -> None:
        wanted = obj["metadata"].get("resourceVersion")
        if wanted and wanted != old["metadata"]["resourceVersion"]:
            raise conflict(resource, obj["metadata"]["name"])

    def _admit(self, resource: Resource, obj: Obj, old: Obj | None) -> None:
        for hook in self.admission.get(resource, []):
            hook(obj, old)

    def _collect_garbage(self, owner_uid: str) -> None:
        from pipeline.sandbox.kube.resources import ALL

        for resource in ALL:
            for dependent in self.store.list(resource, None, lambda o: any(
                    ref.get("uid") == owner_uid for ref in o["metadata"].get("ownerReferences", [])))[0]:
                meta = dependent["metadata"]
                if self.store.get(resource, meta.get("namespace", ""), meta["name"]) is not None:
                    self.delete(resource, meta.get("namespace", ""), meta["name"])


def _dry(resource: Resource, obj: Obj, resource_version: int) -> Obj:
    """What a dry-run write returns: the object as it would be stored."""
    import uuid

    from pipeline.sandbox.kube.store import now_rfc3339

    meta = obj["metadata"]
    meta.setdefault("uid", str(uuid.uuid4()))
    meta.setdefault("creationTimestamp", now_rfc3339())
    meta["resourceVersion"] = str(resource_version)
    obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
    return obj
