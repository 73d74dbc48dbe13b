"""Minimal OpenAPI v3 documents: just enough for ``kubectl apply --validate=strict``.

kubectl only reads OpenAPI to learn whether the server supports ``fieldValidation`` for a
kind (it looks for a PATCH operation tagged with the kind's group-version-kind and a
``fieldValidation`` query parameter). Given that, it leaves validation to the server and
uses its compiled-in strategic-merge metadata. No schemas are published: declaring a
request body would make kubectl want real schemas.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from pipeline.sandbox.kube.store import Resource

Obj = dict[str, Any]


def gv_path(group: str, version: str) -> str:
    """``api/v1`` or ``apis/apps/v1``: the key under ``/openapi/v3``."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def gv_document(group: str, version: str, resources: list[Resource]) -> Obj:
    prefix = "/" + gv_path(group, version)
    paths: Obj = {}
    for r in resources:
        item = f"{prefix}/namespaces/{{namespace}}/{r.plural}/{{name}}" if r.namespaced else f"{prefix}/{r.plural}/{{name}}"
        gvk = {"group": r.group, "version": r.version, "kind": r.kind}
        params = [{"name": n, "in": "query", "schema": {"type": "string"}}
                  for n in ("dryRun", "fieldManager", "fieldValidation", "force")]
        paths[item] = {
            "get": {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "get",
                    "responses": {"200": {"description": "OK"}}},
            "put": {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "put", "parameters": params,
                    "responses": {"200": {"description": "OK"}}},
            "patch": {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "patch", "parameters": params,
                      "responses": {"200": {"description": "OK"}}},
        }
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.4"}, "paths": paths,
            "components": {"schemas": {}}}


def root(by_gv: dict[tuple[str, str], list[Resource]]) -> Obj:
    paths = {}
    for (group, version), resources in by_gv.items():
        digest = hashlib.sha256(json.dumps(gv_document(group, version, resources), sort_keys=True).encode()).hexdigest()
        paths[gv_path(group, version)] = {"serverRelativeURL": f"/{gv_path(group, version)}?hash={digest[:32].upper()}"
                                          .replace("/api", "/openapi/v3/api", 1)}
    return {"paths": paths}
