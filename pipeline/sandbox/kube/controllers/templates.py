"""Pod templates: canonical form, equality ignoring pod-template-hash, and the template hash.

Canonical form drops what Go's semantic equality treats as absent: ``null`` values and
empty maps/lists (``kubectl rollout undo`` sends ``"creationTimestamp": null`` and
``"resources": {}``). Two templates equal in canonical form are the same template.

The hash plays ``controller.ComputeHash``: FNV-32a over the canonical template (plus the
collisionCount as 4 little-endian bytes when set), its decimal digits mapped through
``rand.SafeEncodeString``'s alphabet, so names look like a real cluster's (``web-7d4b9c8f5``).
"""
from __future__ import annotations

import json
import random
from typing import Any

from pipeline.sandbox.kube.controllers.spec import HASH_LABEL, Obj
from pipeline.sandbox.kube.store import clone

ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


def canonical(value: Any) -> Any:
    """Drop nulls and empty maps/lists, recursively (Go semantic-equality view)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = canonical(item)
            if item is None or item == {} or item == []:
                continue
            out[key] = item
        return out
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def without_hash(template: Obj) -> Obj:
    template = clone(template or {})
    labels = (template.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return canonical(template)


def equal_ignore_hash(a: Obj, b: Obj) -> bool:
    return without_hash(a) == without_hash(b)


def fnv32a(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value ^= byte
        value = (value * 0x01000193) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    return "".join(ALPHANUMS[ord(ch) % len(ALPHANUMS)] for ch in text)


def template_hash(template: Obj, collision_count: int | None = None) -> str:
    data = json.dumps(without_hash(template), sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        data += int(collision_count).to_bytes(4, "little", signed=False)
    return safe_encode(str(fnv32a(data)))


def random_suffix(rng: random.Random, length: int = 5) -> str:
    return "".join(rng.choice(ALPHANUMS) for _ in range(length))
