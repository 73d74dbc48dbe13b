"""The Kubernetes stand-in's object store: what etcd is to a real API server.

Objects are plain JSON dicts keyed by resource (``Resource``), namespace and name. One
global ``resourceVersion`` counter orders every change; each change is an :class:`Event`
kept in a bounded history, so a watch can resume from any version still in it (older
versions are "too old": the HTTP layer answers 410 Expired). Listeners are called
synchronously on every change; the store is used from one asyncio loop, so it needs no
locks. Objects handed in and out are deep-copied, so a caller can never mutate the store
behind its back.

Validation, defaulting and generation rules live above this (``objects.py``), shared by
the HTTP handlers and the controllers.
"""
from __future__ import annotations

import copy
import itertools
import json
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

Obj = dict[str, Any]


@dataclass(frozen=True)
class Resource:
    """A resource type as the API serves it, e.g. ``Resource("apps", "v1", "deployments", "Deployment")``."""
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    singular: str = ""
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``deployments.apps`` as kubectl prints it in errors (core: ``pods``)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


@dataclass(frozen=True)
class Event:
    type: str            # ADDED | MODIFIED | DELETED
    resource: Resource
    object: Obj
    resource_version: int


class TooOld(Exception):
    """The requested resourceVersion has left the event history."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested, self.oldest = requested, oldest


class Store:
    def __init__(self, history: int = 5000) -> None:
        self._objects: dict[tuple[Resource, str, str], Obj] = {}
        self._rv = 0
        self._history: deque[Event] = deque(maxlen=history)
        self._listeners: list[Callable[[Event], None]] = []
        self._ids = itertools.count()

    # --- reads -------------------------------------------------------------------------
    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, resource: Resource, namespace: str, name: str) -> Obj | None:
        obj = self._objects.get((resource, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def list(self, resource: Resource, namespace: str | None = None,
             predicate: Callable[[Obj], bool] | None = None) -> tuple[list[Obj], int]:
        items = [copy.deepcopy(o) for (r, ns, _), o in sorted(self._objects.items(), key=_sort_key)
                 if r == resource and (namespace is None or ns == namespace)
                 and (predicate is None or predicate(o))]
        return items, self._rv

    def events_since(self, resource_version: int) -> list[Event]:
        """Changes after ``resource_version``; raises :class:`TooOld` when history no longer reaches back."""
        if resource_version < self._rv:
            oldest = self._history[0].resource_version if self._history else self._rv + 1
            if resource_version < oldest - 1:
                raise TooOld(resource_version, oldest)
        return [e for e in self._history if e.resource_version > resource_version]

    # --- writes ------------------------------------------------------------------------
    def create(self, resource: Resource, obj: Obj) -> Obj:
        meta = obj.setdefault("metadata", {})
        key = (resource, meta.get("namespace", "") if resource.namespaced else "", meta["name"])
        if key in self._objects:
            raise KeyError(key)
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now_rfc3339())
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        return self._commit("ADDED", resource, key, obj)

    def replace(self, resource: Resource, obj: Obj) -> Obj:
        meta = obj["metadata"]
        key = (resource, meta.get("namespace", "") if resource.namespaced else "", meta["name"])
        if key not in self._objects:
            raise KeyError(key)
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        return self._commit("MODIFIED", resource, key, obj)

    def delete(self, resource: Resource, namespace: str, name: str) -> Obj:
        key = (resource, namespace if resource.namespaced else "", name)
        obj = self._objects.pop(key)
        self._rv += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._emit(Event("DELETED", resource, obj, self._rv))
        return copy.deepcopy(obj)

    def set_history_limit(self, size: int) -> None:
        """Keep only the last ``size`` events (older resourceVersions become too old to watch from)."""
        self._history = deque(self._history, maxlen=size)

    def add_listener(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # --- persistence -------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        return {"resourceVersion": self._rv,
                "objects": [{"resource": _resource_key(r), "object": o}
                            for (r, _, _), o in sorted(self._objects.items(), key=_sort_key)]}

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.dump()))
        tmp.replace(path)

    def load(self, data: dict[str, Any], resources: Iterator[Resource] | list[Resource]) -> None:
        by_key = {_resource_key(r): r for r in resources}
        for entry in data.get("objects", []):
            resource = by_key.get(entry["resource"])
            if resource is None:
                continue
            obj = entry["object"]
            meta = obj["metadata"]
            key = (resource, meta.get("namespace", "") if resource.namespaced else "", meta["name"])
            self._objects[key] = obj
        self._rv = int(data.get("resourceVersion", 0))

    # --- internals ---------------------------------------------------------------------
    def _commit(self, type_: str, resource: Resource, key: tuple[Resource, str, str], obj: Obj) -> Obj:
        self._rv += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._objects[key] = obj
        self._emit(Event(type_, resource, copy.deepcopy(obj), self._rv))
        return copy.deepcopy(obj)

    def _emit(self, event: Event) -> None:
        self._history.append(event)
        for listener in list(self._listeners):
            listener(event)


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _resource_key(resource: Resource) -> str:
    return f"{resource.group}/{resource.version}/{resource.plural}"


def _sort_key(item: tuple[tuple[Resource, str, str], Obj]) -> tuple[str, str, str]:
    (resource, namespace, name), _ = item
    return (resource.plural, namespace, name)
