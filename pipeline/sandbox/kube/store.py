"""The Kubernetes stand-in's object store: what etcd is to a real API server.

Objects are plain JSON dicts keyed by resource (``Resource``), namespace and name. One
global ``resourceVersion`` counter orders every change; each change is an :class:`Event`
kept in a bounded history, so a watch can resume from any version still in it (older
versions are "too old": the HTTP layer answers 410 Expired). Listeners are called
synchronously on every change; the store is used from one asyncio loop, so it needs no
locks. Objects handed in and out are copied, so a caller can never mutate the store
behind its back (``scan`` is the one read-only exception, for hot read paths). A write that
changes nothing keeps the resourceVersion and emits no event, as on a real server.

Validation, defaulting and generation rules live above this (``objects.py``), shared by
the HTTP handlers and the controllers.
"""
from __future__ import annotations

import builtins
import itertools
import json
import uuid
from collections import Counter, deque
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


Key = tuple[Resource, str, str]


def clone(value: Any) -> Any:
    """A deep copy of a JSON value (dicts, lists, scalars): three times faster than ``copy.deepcopy``."""
    if type(value) is dict:
        return {k: clone(v) for k, v in value.items()}
    if type(value) is list:
        return [clone(v) for v in value]
    return value


class Store:
    """Objects indexed by resource, then namespace, then name; by uid; and by owner uid.

    A list touches only the objects of its resource (and namespace), never the whole store,
    so its cost does not grow as unrelated objects accumulate. ``counters["examined"]``
    counts the objects lists and scans looked at (the scale measurement reads it).
    """

    def __init__(self, history: int = 5000) -> None:
        self._index: dict[Resource, dict[str, dict[str, Obj]]] = {}
        self._by_uid: dict[str, Key] = {}
        self._dependents: dict[str, set[Key]] = {}
        self._rv = 0
        self._history: deque[Event] = deque(maxlen=history)
        self._listeners: builtins.list[Callable[[Event], None]] = []
        self._ids = itertools.count()
        self.counters: Counter[str] = Counter()

    # --- reads -------------------------------------------------------------------------
    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, resource: Resource, namespace: str, name: str) -> Obj | None:
        obj = self._index.get(resource, {}).get(namespace if resource.namespaced else "", {}).get(name)
        return clone(obj) if obj is not None else None

    def exists(self, resource: Resource, namespace: str, name: str) -> bool:
        return name in self._index.get(resource, {}).get(namespace if resource.namespaced else "", {})

    def list(self, resource: Resource, namespace: str | None = None,
             predicate: Callable[[Obj], bool] | None = None) -> tuple[list[Obj], int]:
        """Copies of the matching objects, ordered by namespace then name, and the current version."""
        return [clone(o) for o in self.scan(resource, namespace, predicate)], self._rv

    def scan(self, resource: Resource, namespace: str | None = None,
             predicate: Callable[[Obj], bool] | None = None) -> Iterator[Obj]:
        """The stored objects themselves, in list order: read them, never change them."""
        by_namespace = self._index.get(resource, {})
        namespaces = sorted(by_namespace) if namespace is None else [namespace if resource.namespaced else ""]
        for ns in namespaces:
            objects = by_namespace.get(ns, {})
            self.counters["examined"] += len(objects)
            for name in sorted(objects):
                obj = objects[name]
                if predicate is None or predicate(obj):
                    yield obj

    def count_in(self, resource: Resource, namespace: str) -> int:
        return len(self._index.get(resource, {}).get(namespace, {}))

    def key_of(self, uid: str) -> Key | None:
        return self._by_uid.get(uid)

    def dependents(self, owner_uid: str) -> builtins.list[tuple[Resource, Obj]]:
        """Copies of the objects whose ownerReferences name ``owner_uid``, ordered by kind, namespace, name."""
        keys = sorted(self._dependents.get(owner_uid, ()), key=lambda k: (k[0].plural, k[1], k[2]))
        self.counters["examined"] += len(keys)
        return [(k[0], clone(self._index[k[0]][k[1]][k[2]])) for k in keys]

    def owned(self, owner_uid: str, resource: Resource) -> builtins.list[Obj]:
        """The stored ``resource`` objects owned by ``owner_uid``, by name: read them, never change them."""
        keys = sorted(k for k in self._dependents.get(owner_uid, ()) if k[0] == resource)
        self.counters["examined"] += len(keys)
        return [self._index[k[0]][k[1]][k[2]] for k in keys]

    def events_since(self, resource_version: int) -> builtins.list[Event]:
        """Changes after ``resource_version``; raises :class:`TooOld` when history no longer reaches back."""
        if resource_version < self._rv:
            oldest = self._history[0].resource_version if self._history else self._rv + 1
            if resource_version < oldest - 1:
                raise TooOld(resource_version, oldest)
        skip = max(0, len(self._history) - (self._rv - resource_version))
        return [e for e in itertools.islice(self._history, skip, None) if e.resource_version > resource_version]

    # --- writes ------------------------------------------------------------------------
    def create(self, resource: Resource, obj: Obj) -> Obj:
        meta = obj.setdefault("metadata", {})
        key = _key(resource, meta)
        if self._lookup(key) is not None:
            raise KeyError(key)
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now_rfc3339())
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        return self._commit("ADDED", resource, key, obj)

    def replace(self, resource: Resource, obj: Obj) -> Obj:
        """Store ``obj`` over the existing object. A write that changes nothing is a no-op, as on a
        real API server: same resourceVersion, no watch event; the stored object is returned."""
        key = _key(resource, obj["metadata"])
        old = self._lookup(key)
        if old is None:
            raise KeyError(key)
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        if _same_apart_from_version(old, obj):
            return clone(old)
        return self._commit("MODIFIED", resource, key, obj)

    def delete(self, resource: Resource, namespace: str, name: str) -> Obj:
        key = (resource, namespace if resource.namespaced else "", name)
        obj = self._index[resource][key[1]].pop(name)
        self._unindex(key, obj)
        self._rv += 1
        obj = clone(obj)
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._emit(Event("DELETED", resource, obj, self._rv))
        return clone(obj)

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
                            for r in sorted(self._index, key=lambda r: r.plural) for o in self.scan(r)]}

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.dump()))
        tmp.replace(path)

    def load(self, data: dict[str, Any], resources: Iterator[Resource] | builtins.list[Resource]) -> None:
        by_key = {_resource_key(r): r for r in resources}
        for entry in data.get("objects", []):
            resource = by_key.get(entry["resource"])
            if resource is None:
                continue
            obj = entry["object"]
            self._put(_key(resource, obj["metadata"]), obj)
        self._rv = int(data.get("resourceVersion", 0))

    # --- internals ---------------------------------------------------------------------
    def _lookup(self, key: Key) -> Obj | None:
        return self._index.get(key[0], {}).get(key[1], {}).get(key[2])

    def _put(self, key: Key, obj: Obj) -> None:
        old = self._lookup(key)
        if old is not None:
            self._unindex(key, old)
        self._index.setdefault(key[0], {}).setdefault(key[1], {})[key[2]] = obj
        meta = obj["metadata"]
        if meta.get("uid"):
            self._by_uid[meta["uid"]] = key
        for ref in meta.get("ownerReferences") or []:
            if ref.get("uid"):
                self._dependents.setdefault(ref["uid"], set()).add(key)

    def _unindex(self, key: Key, obj: Obj) -> None:
        meta = obj["metadata"]
        if self._by_uid.get(meta.get("uid", "")) == key:
            del self._by_uid[meta["uid"]]
        for ref in meta.get("ownerReferences") or []:
            owned = self._dependents.get(ref.get("uid", ""))
            if owned is not None:
                owned.discard(key)
                if not owned:
                    del self._dependents[ref["uid"]]
        by_namespace = self._index.get(key[0], {})
        if not by_namespace.get(key[1], True):
            del by_namespace[key[1]]

    def _commit(self, type_: str, resource: Resource, key: Key, obj: Obj) -> Obj:
        self._rv += 1
        obj = clone(obj)
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._put(key, obj)
        self._emit(Event(type_, resource, clone(obj), self._rv))
        return clone(obj)

    def _emit(self, event: Event) -> None:
        self._history.append(event)
        for listener in list(self._listeners):
            listener(event)


def _key(resource: Resource, meta: Obj) -> Key:
    return (resource, meta.get("namespace", "") if resource.namespaced else "", meta["name"])


def _same_apart_from_version(old: Obj, new: Obj) -> bool:
    """True when ``new`` stores exactly what ``old`` holds (the resourceVersion it carries aside)."""
    if old.keys() != new.keys():
        return False
    for key, value in new.items():
        if key == "metadata":
            if {k: v for k, v in value.items() if k != "resourceVersion"} != \
                    {k: v for k, v in old[key].items() if k != "resourceVersion"}:
                return False
        elif old[key] != value:
            return False
    return True


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _resource_key(resource: Resource) -> str:
    return f"{resource.group}/{resource.version}/{resource.plural}"
