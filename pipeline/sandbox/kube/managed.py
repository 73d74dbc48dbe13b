"""Field ownership for server-side apply: ``metadata.managedFields``, as structured-merge-diff keeps it.

Pure functions over JSON objects. A *path* is a tuple of FieldsV1 elements: ``f:<field>``,
``k:{"name":"web"}`` (an item of a list keyed by merge keys), ``v:"x"`` (an item of a set
list, e.g. finalizers). A field *set* holds member paths: leaves (scalars, empty maps/lists,
atomic lists and atomic maps such as a label selector), list items, and, for Update
operations, maps that the write created.

- :func:`apply` merges an applied configuration into the live object for one field manager:
  fields other managers own with a different value are conflicts (409 unless ``force``, which
  takes them over); fields the manager applied last time and no longer applies, and that no
  other manager owns, are removed; the manager's Apply entry becomes exactly what it applied.
- :func:`record_update` books a PUT/PATCH/POST (an Update operation): the fields it added or
  changed move to the writer's Update entry (taken from every other manager), fields it
  removed leave every entry.

What the server does not track (name, uid, resourceVersion...) is left out, and the main
resource and its ``status`` subresource are tracked apart, as on a real API server.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

Obj = dict[str, Any]
Path = tuple[str, ...]

UNTRACKED_METADATA = frozenset({"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                                "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink",
                                "generateName"})
LIST_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",), "initContainers": ("name",), "ephemeralContainers": ("name",), "env": ("name",),
    "volumes": ("name",), "imagePullSecrets": ("name",), "resourceClaims": ("name",),
    "volumeMounts": ("mountPath",), "volumeDevices": ("devicePath",), "hostAliases": ("ip",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"), "conditions": ("type",),
    "ownerReferences": ("uid",), "readinessGates": ("conditionType",),
}
SET_LISTS = frozenset({"finalizers"})
ATOMIC_MAPS = frozenset({("f:spec", "f:selector")})
KEY_DEFAULTS = {"protocol": "TCP"}


class ApplyConflict(Exception):
    """Fields another manager owns with another value: ``conflicts`` is [(manager label, path text)]."""

    def __init__(self, conflicts: list[tuple[str, str]]) -> None:
        super().__init__(conflict_message(conflicts))
        self.conflicts = conflicts


# --- paths -----------------------------------------------------------------------------------

def _list_keys(field: str, items: list[Any]) -> tuple[str, ...] | None:
    if field == "ports":
        dicts = [i for i in items if isinstance(i, dict)]
        if any("containerPort" in i for i in dicts):
            return ("containerPort", "protocol")
        return ("port", "protocol") if any("port" in i for i in dicts) else None
    return LIST_KEYS.get(field)


def _item_element(item: Any, keys: tuple[str, ...]) -> str | None:
    if not isinstance(item, dict):
        return None
    values = {k: item.get(k, KEY_DEFAULTS.get(k)) for k in keys}
    if any(v is None for k, v in values.items() if k not in KEY_DEFAULTS):
        return None
    return "k:" + json.dumps({k: v for k, v in sorted(values.items()) if v is not None}, separators=(",", ":"))


def _children(path: Path, value: Any) -> Iterator[tuple[str, Any]] | None:
    """(element, child value) under a node, or None when the node is a leaf."""
    if isinstance(value, dict):
        if not value or path[-2:] in ATOMIC_MAPS:
            return None
        return ((f"f:{k}", v) for k, v in value.items())
    if isinstance(value, list) and value and path:
        field = path[-1][2:] if path[-1].startswith("f:") else ""
        if field in SET_LISTS:
            return (("v:" + json.dumps(v, separators=(",", ":")), None) for v in value)
        keys = _list_keys(field, value)
        if keys is None:
            return None
        elements = [(_item_element(item, keys), item) for item in value]
        if any(e is None for e, _ in elements):
            return None
        return ((e, item) for e, item in elements if e is not None)
    return None


def _is_item(element: str) -> bool:
    return element.startswith(("k:", "v:"))


def applied_set(config: Obj) -> set[Path]:
    """What an applied configuration claims: its leaves and list items (not the maps on the way)."""
    found: set[Path] = set()

    def walk(path: Path, value: Any) -> None:
        children = _children(path, value)
        if children is None:
            found.add(path)
            return
        if path and _is_item(path[-1]):
            found.add(path)
        for element, child in children:
            walk(path + (element,), child)
    for element, child in _tracked(config):
        walk((element,), child)
    return found


def diff(old: Obj, new: Obj) -> tuple[set[Path], set[Path]]:
    """(added or changed paths, removed paths) between two tracked views; added maps are members too."""
    changed: set[Path] = set()
    removed: set[Path] = set()

    def everything(path: Path, value: Any, into: set[Path]) -> None:
        into.add(path)
        for element, child in _children(path, value) or ():
            everything(path + (element,), child, into)

    def walk(path: Path, before: Any, after: Any) -> None:
        if before == after:
            return
        below_before, below_after = _children(path, before), _children(path, after)
        if below_before is None or below_after is None or type(before) is not type(after):
            changed.add(path)
            for element, child in below_after or ():
                everything(path + (element,), child, changed)
            return
        kids_before, kids_after = dict(below_before), dict(below_after)
        for element, child in kids_after.items():
            if element not in kids_before:
                everything(path + (element,), child, changed)
            else:
                walk(path + (element,), kids_before[element], child)
        for element, child in kids_before.items():
            if element not in kids_after:
                everything(path + (element,), child, removed)
    old_fields, new_fields = dict(_tracked(old)), dict(_tracked(new))
    for element in set(old_fields) | set(new_fields):
        if element not in new_fields:
            everything((element,), old_fields[element], removed)
        elif element not in old_fields:
            everything((element,), new_fields[element], changed)
        else:
            walk((element,), old_fields[element], new_fields[element])
    return changed, removed


def _tracked(obj: Obj) -> Iterator[tuple[str, Any]]:
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == "metadata" and isinstance(value, dict):
            kept = {k: v for k, v in value.items() if k not in UNTRACKED_METADATA}
            if kept:
                yield "f:metadata", kept
            continue
        yield f"f:{key}", value


def view(obj: Obj, subresource: str | None, has_status: bool) -> Obj:
    """The part of an object a write through ``subresource`` may own (status apart from the rest)."""
    if subresource == "status":
        return {"status": obj["status"]} if "status" in obj else {}
    if has_status:
        return {k: v for k, v in obj.items() if k != "status"}
    return obj


def path_text(path: Path) -> str:
    """``.spec.template.spec.containers[name="web"].image``, as structured-merge-diff prints paths."""
    out = []
    for element in path:
        kind, body = element[:2], element[2:]
        if kind == "f:":
            out.append("." + body)
        elif kind == "k:":
            keys = json.loads(body)
            out.append("[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]")
        else:
            out.append(f"[={body}]")
    return "".join(out)


# --- FieldsV1 --------------------------------------------------------------------------------

def encode(paths: Iterable[Path]) -> Obj:
    tree: Obj = {}
    members = set(paths)
    for path in members:
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    for path in members:
        node = tree
        for element in path:
            node = node[element]
        if node:
            node["."] = {}
    return _sorted(tree)


def _sorted(tree: Obj) -> Obj:
    return {k: _sorted(tree[k]) for k in sorted(tree)}


def decode(tree: Any, prefix: Path = ()) -> set[Path]:
    found: set[Path] = set()
    if not isinstance(tree, dict):
        return found
    for element, child in tree.items():
        if element == ".":
            found.add(prefix)
        elif isinstance(child, dict) and child:
            found |= decode(child, prefix + (element,))
        else:
            found.add(prefix + (element,))
    return found


# --- entries ---------------------------------------------------------------------------------

@dataclass
class Entry:
    manager: str
    operation: str                  # Apply | Update
    api_version: str
    time: str
    fields: set[Path]
    subresource: str | None = None

    @property
    def identity(self) -> tuple[str, str, str | None]:
        return (self.manager, self.operation, self.subresource)

    def label(self) -> str:
        """How conflict messages name the manager (printManager in apimachinery)."""
        text = json.dumps(self.manager)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text

    def to_json(self) -> Obj:
        out: Obj = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version,
                    "time": self.time, "fieldsType": "FieldsV1", "fieldsV1": encode(self.fields)}
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def entries(obj: Obj) -> list[Entry]:
    out = []
    for raw in (obj.get("metadata") or {}).get("managedFields") or []:
        if isinstance(raw, dict) and raw.get("manager") is not None:
            out.append(Entry(str(raw["manager"]), str(raw.get("operation", "Update")), str(raw.get("apiVersion", "")),
                             str(raw.get("time", "")), decode(raw.get("fieldsV1") or {}), raw.get("subresource")))
    return out


def to_json(found: list[Entry]) -> list[Obj]:
    kept = [e for e in found if e.fields]
    kept.sort(key=lambda e: (e.operation != "Apply", e.time, e.manager))
    return [e.to_json() for e in kept]


def _under(path: Path, prefixes: set[Path]) -> bool:
    return any(path[:n] in prefixes for n in range(1, len(path) + 1))


def _owned_by_others(path: Path, others: list[Entry]) -> bool:
    return any(p[:len(path)] == path for e in others for p in e.fields)


def record_update(found: list[Entry], old: Obj, new: Obj, manager: str, api_version: str,
                  subresource: str | None, now: str) -> list[Entry]:
    """Managed fields after an Update operation by ``manager`` from view ``old`` to view ``new``."""
    changed, removed = diff(old, new)
    if not changed and not removed:
        return found
    result = []
    mine: Entry | None = None
    for entry in found:
        fields = {p for p in entry.fields if not _under(p, removed)}
        if entry.identity == (manager, "Update", subresource):
            mine = Entry(entry.manager, entry.operation, api_version, now, fields | changed, subresource)
            result.append(mine)
        else:
            result.append(Entry(entry.manager, entry.operation, entry.api_version, entry.time,
                                fields - changed, entry.subresource) if fields - changed != entry.fields else entry)
    if mine is None and changed:
        result.append(Entry(manager, "Update", api_version, now, set(changed), subresource))
    return [e for e in result if e.fields]


def value_at(obj: Any, path: Path) -> tuple[bool, Any]:
    node = obj
    for element in path:
        found = False
        if element.startswith("f:") and isinstance(node, dict) and element[2:] in node:
            node, found = node[element[2:]], True
        elif element.startswith("k:") and isinstance(node, list):
            keys = json.loads(element[2:])
            for item in node:
                if isinstance(item, dict) and all(item.get(k, KEY_DEFAULTS.get(k)) == v for k, v in keys.items()):
                    node, found = item, True
                    break
        elif element.startswith("v:") and isinstance(node, list):
            wanted = json.loads(element[2:])
            found = wanted in node
            node = wanted
        if not found:
            return False, None
    return True, node


def remove(obj: Obj, path: Path) -> None:
    """Delete ``path`` from ``obj`` in place, then maps and lists it leaves empty."""
    if not path:
        return
    parent_found, parent = value_at(obj, path[:-1]) if len(path) > 1 else (True, obj)
    if not parent_found:
        return
    element = path[-1]
    if element.startswith("f:") and isinstance(parent, dict):
        parent.pop(element[2:], None)
    elif isinstance(parent, list):
        found, item = value_at(parent, (element,)) if element.startswith("k:") else (True, json.loads(element[2:]))
        if found and item in parent:
            parent.remove(item)
    else:
        return
    if not parent and len(path) > 2:
        remove(obj, path[:-1])


def conflict_message(conflicts: list[tuple[str, str]]) -> str:
    if len(conflicts) == 1:
        return f"Apply failed with 1 conflict: conflict with {conflicts[0][0]}: {conflicts[0][1]}"
    lines: list[str] = []
    for label in sorted({label for label, _ in conflicts}):
        lines.append(f"conflicts with {label}:")
        lines += [f"- {path}" for who, path in conflicts if who == label]
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)


def apply(found: list[Entry], live: Obj, merged: Obj, config: Obj, manager: str, api_version: str,
          subresource: str | None, force: bool, now: str) -> tuple[Obj, list[Entry]]:
    """(the object to store, its managed fields) after ``manager`` applied ``config``.

    ``live`` and ``merged`` are tracked views: the live object, and the live object with
    ``config`` merged in. Raises :class:`ApplyConflict` unless ``force``.
    """
    claimed = applied_set(config)
    identity = (manager, "Apply", subresource)
    others = [e for e in found if e.identity != identity]
    previous = next((e.fields for e in found if e.identity == identity), set())
    conflicts: list[tuple[Entry, Path]] = []
    for path in sorted(claimed):
        had, before = value_at(live, path)
        if had and before == value_at(merged, path)[1] or (had and _is_item(path[-1])):
            continue
        conflicts += [(e, path) for e in others if path in e.fields]
    if conflicts and not force:
        raise ApplyConflict([(e.label(), path_text(p)) for e, p in conflicts])
    taken = {p for _, p in conflicts}
    result = [Entry(e.manager, e.operation, e.api_version, e.time, e.fields - taken, e.subresource)
              if taken & e.fields else e for e in others]
    removed: set[Path] = set()
    for path in sorted(previous - claimed, key=len):
        if _under(path, removed) or _owned_by_others(path, result) or any(c[:len(path)] == path for c in claimed):
            continue
        remove(merged, path)
        removed.add(path)
    unchanged = previous == claimed and live == merged
    mine = next((e for e in found if e.identity == identity), None)
    time = mine.time if unchanged and mine is not None else now
    result.append(Entry(manager, "Apply", api_version, time, claimed, subresource))
    return merged, [e for e in result if e.fields]


def adopt_unmanaged(obj: Obj, view_of: Obj, api_version: str, now: str) -> list[Entry]:
    """An object without managedFields: everything it holds belongs to "before-first-apply"."""
    fields, _ = diff({}, view_of)
    return [Entry("before-first-apply", "Update", api_version, now, fields)] if fields else []
