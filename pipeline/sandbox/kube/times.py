"""Timestamps as the API server stores them: parsed, then written back in UTC with ``Z``.

A client may send ``2024-05-01T12:00:00+02:00`` or ``...+00:00`` (Python's ``isoformat``);
a real server decodes ``metav1.Time`` / ``metav1.MicroTime`` and encodes them again, so what
is stored and returned is ``2024-05-01T10:00:00Z`` (Time: whole seconds) or
``2024-05-01T10:00:00.123456Z`` (MicroTime). Pure; an unparsable time is a 400 naming it.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from pipeline.sandbox.kube import resources as R
from pipeline.sandbox.kube.objects import ApiError
from pipeline.sandbox.kube.store import Obj, Resource

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MICRO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
CONDITION_TIMES = ("lastTransitionTime", "lastUpdateTime", "lastProbeTime", "lastHeartbeatTime")
MICRO_FIELDS: dict[Resource, tuple[tuple[str, ...], ...]] = {
    R.LEASES: (("spec", "acquireTime"), ("spec", "renewTime")),
    R.EVENTS: (("eventTime",), ("series", "lastObservedTime")),
}
TIME_FIELDS: dict[Resource, tuple[tuple[str, ...], ...]] = {
    R.EVENTS: (("firstTimestamp",), ("lastTimestamp",)),
    R.PODS: (("status", "startTime"),),
}


def normalise_time(value: Any, micro: bool, kind: str) -> Any:
    """``value`` re-encoded in UTC with ``Z``; None and "" stay as they are."""
    if value in (None, ""):
        return value
    if not isinstance(value, str):
        raise _unparsable(value, kind)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _unparsable(value, kind) from None
    if parsed.tzinfo is None:
        raise _unparsable(value, kind)
    return parsed.astimezone(timezone.utc).strftime(MICRO_FORMAT if micro else TIME_FORMAT)


def _unparsable(value: Any, kind: str) -> ApiError:
    return ApiError(400, "BadRequest", f'{kind} in version "v1" cannot be handled as a {kind}: parsing time '
                    f'"{value}" as "2006-01-02T15:04:05Z07:00": cannot parse "{value}" as RFC 3339')


def _rewrite(obj: Any, path: tuple[str, ...], fix: Callable[[Any], Any]) -> None:
    node = obj
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict) and path[-1] in node:
        node[path[-1]] = fix(node[path[-1]])


def _conditions(conditions: Any, fix: Callable[[Any], Any]) -> None:
    for condition in conditions if isinstance(conditions, list) else []:
        for field in CONDITION_TIMES:
            if isinstance(condition, dict) and field in condition:
                condition[field] = fix(condition[field])


def _container_states(status: Obj, fix: Callable[[Any], Any]) -> None:
    for key in ("containerStatuses", "initContainerStatuses"):
        for container in status.get(key) or []:
            for state_key in ("state", "lastState"):
                for detail in ((container.get(state_key) or {}) if isinstance(container, dict) else {}).values():
                    if isinstance(detail, dict):
                        for field in ("startedAt", "finishedAt"):
                            if field in detail:
                                detail[field] = fix(detail[field])


def admission(resource: Resource) -> Callable[[Obj, Obj | None], None]:
    """An admission hook normalising every time field ``resource`` has."""
    def time(value: Any) -> Any:
        return normalise_time(value, False, resource.kind)

    def micro(value: Any) -> Any:
        return normalise_time(value, True, resource.kind)

    def hook(obj: Obj, old: Obj | None) -> None:
        meta = obj.get("metadata")
        if isinstance(meta, dict):
            for field in ("creationTimestamp", "deletionTimestamp"):
                if field in meta:
                    meta[field] = time(meta[field])
            for entry in meta.get("managedFields") or []:
                if isinstance(entry, dict) and "time" in entry:
                    entry["time"] = time(entry["time"])
        for path in MICRO_FIELDS.get(resource, ()):
            _rewrite(obj, path, micro)
        for path in TIME_FIELDS.get(resource, ()):
            _rewrite(obj, path, time)
        status = obj.get("status")
        if isinstance(status, dict):
            _conditions(status.get("conditions"), time)
            if resource is R.PODS:
                _container_states(status, time)
    return hook
