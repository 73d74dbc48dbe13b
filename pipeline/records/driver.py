"""The record store's storage interface: one small ``Driver`` (as Helm's ``pkg/storage/driver``).

A driver keeps named objects, each a JSON document with labels and a version (Kubernetes'
``resourceVersion``). It knows nothing about chains, signatures or retention: that policy is
``pipeline.records.store``. Errors are typed so the policy decides what they mean:
:class:`RecordExists` on create ("someone else appended: re-read and re-chain"),
:class:`VersionConflict` on a stale update ("someone else moved the head"),
:class:`RecordNotFound` on get, update or delete of a missing object.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol


class RecordsError(RuntimeError):
    """The record store cannot do what was asked; the message says what and why."""


class RecordExists(RecordsError):
    """Create: an object of that name already exists."""


class RecordNotFound(RecordsError):
    """Get, update or delete: no object of that name."""


class VersionConflict(RecordsError):
    """Update: the object changed since it was read (its version differs)."""


@dataclass(frozen=True)
class Stored:
    """One stored object: a record or the chain head."""
    name: str
    role: str                                        # "record" | "head"
    labels: Mapping[str, str] = field(default_factory=dict)
    document: dict[str, Any] | None = None           # None: it could not be decoded (see error)
    version: str = ""                                # "" on create; the version read, on update
    error: str = ""                                  # why document is None


class Driver(Protocol):
    """Create, get, list by labels, update (optimistic on version), delete."""

    name: str                                        # for messages: "kubernetes secrets in ns/..", "memory"

    def create(self, obj: Stored) -> Stored: ...

    def get(self, name: str) -> Stored: ...

    def list(self, labels: Mapping[str, str]) -> list[Stored]: ...

    def update(self, obj: Stored) -> Stored: ...

    def delete(self, name: str) -> None: ...
