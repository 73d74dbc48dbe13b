"""Request paths -> what they address: resource, namespace, name, subresource. Pure.

``/apis/apps/v1/namespaces/default/deployments/web/scale`` ->
``Target(DEPLOYMENTS, "default", "web", "scale")``. Unknown paths raise the 404 a real
server sends ("the server could not find the requested resource").
"""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.sandbox.kube.objects import ApiError
from pipeline.sandbox.kube.store import Resource


def not_found_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


@dataclass(frozen=True)
class Target:
    resource: Resource
    namespace: str | None      # None: cluster-scoped, or every namespace
    name: str | None           # None: the collection
    subresource: str | None = None
    rest: str = ""             # what follows .../proxy/


@dataclass(frozen=True)
class GroupVersion:
    group: str
    version: str
    tail: list[str]            # segments after the group-version


def split(path: str) -> GroupVersion | None:
    """``/api/v1/...`` or ``/apis/<g>/<v>/...``; None for anything else."""
    parts = path.strip("/").split("/") if path.strip("/") else []
    if len(parts) >= 2 and parts[0] == "api":
        return GroupVersion("", parts[1], parts[2:])
    if len(parts) >= 3 and parts[0] == "apis":
        return GroupVersion(parts[1], parts[2], parts[3:])
    return None


def resolve(gv: GroupVersion, resources: tuple[Resource, ...]) -> Target:
    by_plural = {r.plural: r for r in resources if r.group == gv.group and r.version == gv.version}
    tail = gv.tail
    if not by_plural or not tail:
        raise not_found_path()
    namespace: str | None = None
    if tail[0] == "namespaces" and len(tail) >= 3 and tail[2] in by_plural and by_plural[tail[2]].namespaced:
        namespace, tail = tail[1], tail[2:]
    resource = by_plural.get(tail[0])
    if resource is None:
        raise not_found_path()
    if resource.namespaced and namespace is None and len(tail) > 1:
        raise not_found_path()
    name = tail[1] if len(tail) > 1 else None
    sub = tail[2] if len(tail) > 2 else None
    if sub is not None and sub not in resource.subresources:
        raise not_found_path()
    if len(tail) > 3 and sub != "proxy":
        raise not_found_path()
    if not resource.namespaced:
        namespace = None
    return Target(resource, namespace, name, sub, "/".join(tail[3:]))
