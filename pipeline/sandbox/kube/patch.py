"""The four PATCH flavours the API server accepts, as pure functions over JSON values.

- strategic merge (``application/strategic-merge-patch+json``): maps merge, ``null``
  deletes, lists of objects merge by their merge key (``containers`` by ``name``,
  ``ports`` by ``containerPort``/``port``...), other lists are replaced; directives
  ``$patch: replace|delete``, ``$setElementOrder/<list>``, ``$retainKeys``,
  ``$deleteFromPrimitiveList/<list>``.
- JSON merge patch (RFC 7386, ``application/merge-patch+json``).
- JSON patch (RFC 6902, ``application/json-patch+json``) via ``jsonpatch``.
- server-side apply (``application/apply-patch+yaml``): without managed-field tracking it
  is a strategic merge of the applied configuration onto the live object (fields the
  applier stopped sending are left alone rather than removed).
"""
from __future__ import annotations

import json
from typing import Any

import jsonpatch
import jsonpointer
import yaml

from pipeline.sandbox.kube.objects import ApiError
from pipeline.sandbox.kube.store import clone

STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"
SUPPORTED = (STRATEGIC, MERGE, JSON_PATCH, APPLY)

MERGE_KEYS: dict[str, str] = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "imagePullSecrets": "name", "resourceClaims": "name", "volumeMounts": "mountPath",
    "volumeDevices": "devicePath", "hostAliases": "ip", "topologySpreadConstraints": "topologyKey",
    "conditions": "type", "ownerReferences": "uid", "readinessGates": "conditionType",
}
PRIMITIVE_MERGE = {"finalizers"}
ORDER = "$setElementOrder/"
DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


def _merge_key(field: str, *lists: list[Any]) -> str | None:
    if field == "ports":
        items = [e for lst in lists for e in lst if isinstance(e, dict)]
        if any("containerPort" in e for e in items):
            return "containerPort"
        return "port" if any("port" in e for e in items) else None
    return MERGE_KEYS.get(field)


def _clean(value: Any) -> Any:
    """A patch value with its directives removed (for fields the original lacks)."""
    if isinstance(value, dict):
        return merge_map({}, value)
    if isinstance(value, list):
        return [_clean(v) for v in value if not (isinstance(v, dict) and v.get("$patch") == "delete")]
    return value


def merge_map(original: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any] | None:
    """Strategic merge of ``patch`` into ``original``; ``None`` means ``$patch: delete``."""
    patch = dict(patch)
    directive = patch.pop("$patch", None)
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: _clean(v) for k, v in patch.items()
                if not k.startswith((ORDER, DELETE_PRIMITIVE)) and k != "$retainKeys" and v is not None}
    retain = patch.pop("$retainKeys", None)
    orders = {k[len(ORDER):]: patch.pop(k) for k in list(patch) if k.startswith(ORDER)}
    removals = {k[len(DELETE_PRIMITIVE):]: patch.pop(k) for k in list(patch) if k.startswith(DELETE_PRIMITIVE)}
    result = clone(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        current = result.get(key)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = merge_map(current if isinstance(current, dict) else {}, value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = merge_list(key, current if isinstance(current, list) else [], value)
        else:
            result[key] = value
    for key, values in removals.items():
        if isinstance(result.get(key), list):
            result[key] = [v for v in result[key] if v not in values]
    for key, order in orders.items():
        if isinstance(result.get(key), list):
            result[key] = _reorder(result[key], order, _merge_key(key, result[key], order))
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def merge_list(field: str, original: list[Any], patch: list[Any]) -> list[Any]:
    key = _merge_key(field, original, patch)
    if any(isinstance(e, dict) and e.get("$patch") == "replace" and len(e) == 1 for e in patch):
        return [_clean(e) for e in patch if not (isinstance(e, dict) and e.get("$patch") == "replace" and len(e) == 1)]
    if key is None:
        if field in PRIMITIVE_MERGE:
            return list(original) + [v for v in patch if v not in original]
        return _clean(patch)
    result = [clone(e) for e in original]
    for item in patch:
        if not isinstance(item, dict):
            continue
        index = next((i for i, e in enumerate(result) if isinstance(e, dict) and e.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            result = [e for e in result if not (isinstance(e, dict) and e.get(key) == item.get(key))]
        elif index is None:
            result.append(merge_map({}, item))
        else:
            merged = merge_map(result[index], item)
            if merged is None:
                del result[index]
            else:
                result[index] = merged
    return result


def _reorder(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    def ident(value: Any) -> Any:
        return json.dumps(value.get(key) if key and isinstance(value, dict) else value, sort_keys=True)
    position = {ident(v): i for i, v in enumerate(order)}
    indexed = list(enumerate(items))
    indexed.sort(key=lambda pair: (position.get(ident(pair[1]), len(order) + pair[0])))
    return [v for _, v in indexed]


def strategic_merge(original: dict[str, Any], patch: Any) -> dict[str, Any]:
    if not isinstance(patch, dict):
        raise ApiError(400, "BadRequest", "json: cannot unmarshal array into Go value of type map[string]interface {}")
    return merge_map(original, patch) or {}


def json_merge(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = clone(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge(result.get(key), value)
    return result


def json_patch(original: dict[str, Any], operations: Any) -> dict[str, Any]:
    if not isinstance(operations, list):
        raise ApiError(400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    try:
        result = jsonpatch.JsonPatch(operations).apply(original)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, KeyError) as exc:
        raise ApiError(422, "Invalid", "the server rejected our request due to an error in our request",
                       {"causes": [{"reason": "UnexpectedServerResponse", "message": str(exc)}]}) from None
    if not isinstance(result, dict):
        raise ApiError(422, "Invalid", "the server rejected our request due to an error in our request")
    return result


def parse_body(content_type: str, body: bytes) -> Any:
    """The decoded patch document; 400 BadRequest when it does not parse."""
    try:
        if content_type == APPLY:
            return yaml.safe_load(body.decode() or "{}")
        return json.loads(body or b"null")
    except (ValueError, yaml.YAMLError) as exc:
        raise ApiError(400, "BadRequest", f"error decoding patch: {exc}") from None


def apply_patch(content_type: str, original: dict[str, Any], document: Any) -> dict[str, Any]:
    if content_type == STRATEGIC or content_type == APPLY:
        return strategic_merge(original, document)
    if content_type == MERGE:
        if not isinstance(document, dict):
            raise ApiError(400, "BadRequest", "merge patch must be a JSON object")
        return json_merge(original, document)
    return json_patch(original, document)
