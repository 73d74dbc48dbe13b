"""Server-side printing: the ``meta.k8s.io/v1`` Table ``kubectl get`` asks for.

Columns and cell values follow the API server's printers (pkg/printers/internalversion):
e.g. deployments ``NAME READY UP-TO-DATE AVAILABLE AGE`` (+ wide ``CONTAINERS IMAGES
SELECTOR``). Pure functions over objects; ``now`` is passed in for ages.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from pipeline.sandbox.kube.store import Obj

TABLE_MEDIA = "application/json;as=Table;v=v1;g=meta.k8s.io"
Column = tuple[str, str, int, str]   # name, type, priority, format


def wants_table(accept: str) -> bool:
    for media in accept.replace(" ", "").split(","):
        params = set(media.split(";")[1:])
        if "as=Table" in params and "g=meta.k8s.io" in params:
            return True
    return False


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def age(obj: Obj, now: datetime) -> str:
    stamp = obj.get("metadata", {}).get("creationTimestamp")
    if not stamp:
        return "<unknown>"
    created = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return human_duration((now - created).total_seconds())


def _containers(obj: Obj) -> list[Obj]:
    return obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []


def _selector(obj: Obj) -> str:
    from pipeline.sandbox.kube.validation import selector_string
    selector = obj.get("spec", {}).get("selector")
    return selector_string(selector) if isinstance(selector, dict) and selector else "<none>"


def _workload_wide(obj: Obj) -> list[Any]:
    containers = _containers(obj)
    return [",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers),
            _selector(obj)]


WIDE_WORKLOAD: list[Column] = [("Containers", "string", 1, ""), ("Images", "string", 1, ""),
                               ("Selector", "string", 1, "")]


def _deployment(obj: Obj, now: datetime) -> list[Any]:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    return [obj["metadata"]["name"], f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0), age(obj, now)] + _workload_wide(obj)


def _replicaset(obj: Obj, now: datetime) -> list[Any]:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    return [obj["metadata"]["name"], spec.get("replicas", 0), status.get("replicas", 0),
            status.get("readyReplicas", 0), age(obj, now)] + _workload_wide(obj)


def pod_status(obj: Obj) -> str:
    status = obj.get("status", {})
    reason = status.get("reason") or status.get("phase") or "Pending"
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state", {})
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated", {}).get("reason"):
            reason = state["terminated"]["reason"]
    if obj.get("metadata", {}).get("deletionTimestamp"):
        reason = "Terminating"
    return reason


def _pod(obj: Obj, now: datetime) -> list[Any]:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for cs in statuses if cs.get("ready"))
    restarts = sum(int(cs.get("restartCount", 0)) for cs in statuses)
    gates = spec.get("readinessGates") or []
    return [obj["metadata"]["name"], f"{ready}/{len(spec.get('containers') or [])}", pod_status(obj), restarts,
            age(obj, now), status.get("podIP") or "<none>", spec.get("nodeName") or "<none>",
            status.get("nominatedNodeName") or "<none>",
            "<none>" if not gates else f"0/{len(gates)}"]


def _service(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec", {})
    kind = spec.get("type", "ClusterIP")
    external = {"LoadBalancer": "<pending>", "ExternalName": spec.get("externalName", "")}.get(kind, "<none>")
    if spec.get("externalIPs"):
        external = ",".join(spec["externalIPs"])
    ports = ",".join(
        f"{p.get('port')}:{p['nodePort']}/{p.get('protocol', 'TCP')}" if p.get("nodePort")
        else f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or []) or "<none>"
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items())) or "<none>"
    return [obj["metadata"]["name"], kind, spec.get("clusterIP") or "<none>", external, ports, age(obj, now), selector]


def _event(obj: Obj, now: datetime) -> list[Any]:
    involved = obj.get("involvedObject", {})
    last = obj.get("lastTimestamp") or obj.get("eventTime") or obj.get("metadata", {}).get("creationTimestamp")
    seen = age({"metadata": {"creationTimestamp": last[:19] + "Z"}}, now) if last else "<unknown>"
    return [seen, obj.get("type", ""), obj.get("reason", ""),
            f"{involved.get('kind', '').lower()}/{involved.get('name', '')}", obj.get("message", "")]


PRINTERS: dict[str, tuple[list[Column], Callable[[Obj, datetime], list[Any]]]] = {
    "Deployment": ([("Name", "string", 0, "name"), ("Ready", "string", 0, ""), ("Up-to-date", "integer", 0, ""),
                    ("Available", "integer", 0, ""), ("Age", "string", 0, "")] + WIDE_WORKLOAD, _deployment),
    "ReplicaSet": ([("Name", "string", 0, "name"), ("Desired", "integer", 0, ""), ("Current", "integer", 0, ""),
                    ("Ready", "integer", 0, ""), ("Age", "string", 0, "")] + WIDE_WORKLOAD, _replicaset),
    "Pod": ([("Name", "string", 0, "name"), ("Ready", "string", 0, ""), ("Status", "string", 0, ""),
             ("Restarts", "string", 0, ""), ("Age", "string", 0, ""), ("IP", "string", 1, ""),
             ("Node", "string", 1, ""), ("Nominated Node", "string", 1, ""), ("Readiness Gates", "string", 1, "")],
            _pod),
    "Service": ([("Name", "string", 0, "name"), ("Type", "string", 0, ""), ("Cluster-IP", "string", 0, ""),
                 ("External-IP", "string", 0, ""), ("Port(s)", "string", 0, ""), ("Age", "string", 0, ""),
                 ("Selector", "string", 1, "")], _service),
    "Namespace": ([("Name", "string", 0, "name"), ("Status", "string", 0, ""), ("Age", "string", 0, "")],
                  lambda o, now: [o["metadata"]["name"], o.get("status", {}).get("phase", ""), age(o, now)]),
    "Secret": ([("Name", "string", 0, "name"), ("Type", "string", 0, ""), ("Data", "string", 0, ""),
                ("Age", "string", 0, "")],
               lambda o, now: [o["metadata"]["name"], o.get("type", ""), len(o.get("data") or {}), age(o, now)]),
    "ConfigMap": ([("Name", "string", 0, "name"), ("Data", "string", 0, ""), ("Age", "string", 0, "")],
                  lambda o, now: [o["metadata"]["name"], len(o.get("data") or {}) + len(o.get("binaryData") or {}),
                                  age(o, now)]),
    "Lease": ([("Name", "string", 0, "name"), ("Holder", "string", 0, ""), ("Age", "string", 0, "")],
              lambda o, now: [o["metadata"]["name"], o.get("spec", {}).get("holderIdentity", ""), age(o, now)]),
    "Event": ([("Last Seen", "string", 0, ""), ("Type", "string", 0, ""), ("Reason", "string", 0, ""),
               ("Object", "string", 0, ""), ("Message", "string", 0, "")], _event),
}
DEFAULT_PRINTER: tuple[list[Column], Callable[[Obj, datetime], list[Any]]] = (
    [("Name", "string", 0, "name"), ("Age", "string", 0, "")], lambda o, now: [o["metadata"]["name"], age(o, now)])


def _row_object(obj: Obj, include: str) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def table(kind: str, objects: list[Obj], resource_version: str, include: str = "Metadata",
          now: datetime | None = None, with_columns: bool = True) -> Obj:
    now = now or datetime.now(timezone.utc)
    columns, printer = PRINTERS.get(kind, DEFAULT_PRINTER)
    rows = []
    for obj in objects:
        row: Obj = {"cells": printer(obj, now)}
        embedded = _row_object(obj, include)
        if embedded is not None:
            row["object"] = embedded
        rows.append(row)
    body: Obj = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version}}
    if with_columns:
        body["columnDefinitions"] = [{"name": name, "type": type_, "format": fmt, "description": "", "priority": prio}
                                     for name, type_, prio, fmt in columns]
    body["rows"] = rows
    return body
