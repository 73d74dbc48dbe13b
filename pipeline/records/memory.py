"""A record-store driver in memory: for pure tests, with the cluster driver's semantics."""
from __future__ import annotations

import copy
import dataclasses
import threading
from typing import Mapping

from pipeline.records.driver import RecordExists, RecordNotFound, Stored, VersionConflict


class MemoryDriver:
    """Objects in a dict; versions from one counter, as a Kubernetes API server's resourceVersion."""

    name = "memory"

    def __init__(self) -> None:
        self._objects: dict[str, Stored] = {}
        self._counter = 0
        self._lock = threading.Lock()

    def create(self, obj: Stored) -> Stored:
        with self._lock:
            if obj.name in self._objects:
                raise RecordExists(f"{obj.name} already exists")
            return self._put(obj)

    def get(self, name: str) -> Stored:
        with self._lock:
            if name not in self._objects:
                raise RecordNotFound(f"{name} not found")
            return copy.deepcopy(self._objects[name])

    def list(self, labels: Mapping[str, str]) -> list[Stored]:
        with self._lock:
            return [copy.deepcopy(o) for o in self._objects.values()
                    if all(o.labels.get(k) == v for k, v in labels.items())]

    def update(self, obj: Stored) -> Stored:
        """An empty ``obj.version`` is an unconditional write (a PUT without resourceVersion)."""
        with self._lock:
            current = self._objects.get(obj.name)
            if current is None:
                raise RecordNotFound(f"{obj.name} not found")
            if obj.version and obj.version != current.version:
                raise VersionConflict(f"{obj.name} was modified (version {current.version}, not {obj.version})")
            return self._put(obj)

    def delete(self, name: str) -> None:
        with self._lock:
            if self._objects.pop(name, None) is None:
                raise RecordNotFound(f"{name} not found")

    def _put(self, obj: Stored) -> Stored:
        self._counter += 1
        stored = dataclasses.replace(copy.deepcopy(obj), version=str(self._counter), error="")
        self._objects[obj.name] = stored
        return copy.deepcopy(stored)
