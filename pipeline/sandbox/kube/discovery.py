"""Discovery documents: what ``kubectl`` and client-go read before any resource request.

``/version`` decides which kubectl the dispatcher runs (minor "32" -> kubectl 1.32).
``/api`` and ``/apis`` answer in the aggregated ``apidiscovery.k8s.io/v2`` form when the
Accept header asks for it (kubectl 1.32 does), else in the legacy ``APIVersions`` /
``APIGroupList`` form followed by one ``APIResourceList`` per group-version. Pure functions.
"""
from __future__ import annotations

from typing import Any

from pipeline.sandbox.kube.store import Resource

Obj = dict[str, Any]

VERSION: Obj = {
    "major": "1", "minor": "32", "gitVersion": "v1.32.4", "gitCommit": "sandbox",
    "gitTreeState": "clean", "buildDate": "2025-04-22T16:00:00Z", "goVersion": "go1.23.6",
    "compiler": "gc", "platform": "linux/amd64",
}
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUBRESOURCE_VERBS = ["get", "patch", "update"]
ALL_CATEGORY = {"pods", "services", "deployments", "replicasets"}
AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"


def wants_aggregated(accept: str) -> str | None:
    """The aggregated media type to answer with, or None for the legacy documents."""
    compact = accept.replace(" ", "")
    for media in compact.split(","):
        params = set(media.split(";")[1:])
        if "as=APIGroupDiscoveryList" in params and "g=apidiscovery.k8s.io" in params:
            if "v=v2" in params:
                return AGGREGATED_V2
            if "v=v2beta1" in params:
                return AGGREGATED_V2BETA1
    return None


def groups(resources: tuple[Resource, ...]) -> dict[str, list[Resource]]:
    """group name -> resources, core group ("") first, in declaration order."""
    found: dict[str, list[Resource]] = {}
    for resource in sorted(resources, key=lambda r: r.group != ""):
        found.setdefault(resource.group, []).append(resource)
    return found


def _subresource_kind(resource: Resource, sub: str) -> tuple[str, str, str]:
    if sub == "scale":
        return ("autoscaling", "v1", "Scale")
    if sub == "proxy":
        return ("", "v1", "PodProxyOptions" if resource.kind == "Pod" else f"{resource.kind}ProxyOptions")
    return (resource.group, resource.version, resource.kind)


def _subresource_verbs(sub: str) -> list[str]:
    if sub == "proxy":
        return ["create", "delete", "get", "patch", "update"]
    if sub == "log":
        return ["get"]
    return SUBRESOURCE_VERBS


def resource_list(group: str, version: str, resources: list[Resource]) -> Obj:
    """The legacy ``APIResourceList`` for one group-version."""
    entries: list[Obj] = []
    for r in resources:
        entry: Obj = {"name": r.plural, "singularName": r.singular or r.kind.lower(), "namespaced": r.namespaced,
                      "kind": r.kind, "verbs": VERBS}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.plural in ALL_CATEGORY:
            entry["categories"] = ["all"]
        entries.append(entry)
        for sub in r.subresources:
            g, v, kind = _subresource_kind(r, sub)
            sub_entry: Obj = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                              "kind": kind, "verbs": _subresource_verbs(sub)}
            if (g, v) != (r.group, r.version):
                sub_entry.update(group=g, version=v)
            entries.append(sub_entry)
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": entries}


def api_versions(server_address: str) -> Obj:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def api_group(name: str, version: str) -> Obj:
    gv = {"groupVersion": f"{name}/{version}", "version": version}
    return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": [gv], "preferredVersion": gv}


def api_group_list(resources: tuple[Resource, ...]) -> Obj:
    items = [api_group(g, rs[0].version) for g, rs in groups(resources).items() if g]
    for item in items:
        del item["kind"], item["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": items}


def _aggregated_resource(r: Resource) -> Obj:
    entry: Obj = {
        "resource": r.plural, "singularResource": r.singular or r.kind.lower(),
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind}, "verbs": VERBS,
    }
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.plural in ALL_CATEGORY:
        entry["categories"] = ["all"]
    if r.subresources:
        entry["subresources"] = []
        for sub in r.subresources:
            g, v, kind = _subresource_kind(r, sub)
            entry["subresources"].append({"subresource": sub, "responseKind": {"group": g, "version": v, "kind": kind},
                                          "verbs": _subresource_verbs(sub)})
    return entry


def aggregated(resources: tuple[Resource, ...], core: bool, media_type: str) -> Obj:
    """``APIGroupDiscoveryList`` for ``/api`` (core=True) or ``/apis``."""
    items = []
    for group, members in groups(resources).items():
        if (group == "") != core:
            continue
        items.append({"metadata": {"name": group, "creationTimestamp": None}, "versions": [{
            "version": members[0].version, "freshness": "Current",
            "resources": [_aggregated_resource(r) for r in members]}]})
    api_version = "apidiscovery.k8s.io/v2beta1" if "v2beta1" in media_type else "apidiscovery.k8s.io/v2"
    return {"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items}
