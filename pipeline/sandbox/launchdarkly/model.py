"""The stand-in's flag model and its wire shapes; pure functions, no I/O.

A :class:`FlagRecord` is one flag of one project: its definition (from ``flags/``) and a
mutable per-environment :class:`EnvState`. Two shapes are derived from it:
``sdk_flag`` (what the server SDKs decode, see reference/launchdarkly.md section 2) and
``rest_flag`` (``GET /api/v2/flags/{proj}/{key}``). Changes come in as semantic-patch
instructions or JSON Patch operations; both are applied all-or-nothing to a copy.
"""
from __future__ import annotations

import copy
import hashlib
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import jsonpatch

from pipeline.flags import FlagDefinition, ProjectDefinition

SEMANTIC_KINDS = ("turnFlagOn", "turnFlagOff", "updateOffVariation", "updateFallthroughVariationOrRollout")


class LdError(Exception):
    """An API error: ``status`` and the body LaunchDarkly sends, ``{"code","message","id"}``."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "id": str(uuid.uuid4())}


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class EnvState:
    on: bool
    off_variation: int
    fallthrough: int
    version: int = 1
    last_modified: int = field(default_factory=now_ms)
    salt: str = ""


@dataclass
class FlagRecord:
    project: str
    definition: FlagDefinition
    envs: dict[str, EnvState]
    version: int = 1                      # the flag's _version: bumped on every change
    creation_date: int = field(default_factory=now_ms)
    deleted: bool = False

    @property
    def key(self) -> str:
        return self.definition.key

    def state(self) -> dict[str, Any]:
        """The mutable part, for persistence."""
        return {"version": self.version, "creation_date": self.creation_date, "deleted": self.deleted,
                "envs": {env: asdict(s) for env, s in self.envs.items()}}

    def restore(self, saved: dict[str, Any]) -> None:
        self.version = saved["version"]
        self.creation_date = saved["creation_date"]
        self.deleted = saved.get("deleted", False)
        for env, values in saved["envs"].items():
            if env in self.envs:
                self.envs[env] = EnvState(**values)


def seed(project: ProjectDefinition) -> dict[str, FlagRecord]:
    records = {}
    for key, definition in project.flags.items():
        envs = {env: EnvState(on=definition.on[env], off_variation=definition.off_variation,
                              fallthrough=definition.fallthrough,
                              salt=hashlib.sha1(f"{project.key}/{env}/{key}".encode()).hexdigest()[:32])
                for env in project.environments}
        records[key] = FlagRecord(project.key, definition, envs)
    return records


def variation_id(record: FlagRecord, index: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ld-sandbox:{record.project}/{record.key}/{index}"))


def sdk_flag(record: FlagRecord, env: str) -> dict[str, Any]:
    """The flag as server-side SDKs receive it in ``put``/``patch`` events and ``/sdk/latest-all``."""
    state = record.envs[env]
    return {
        "key": record.key, "version": state.version, "on": state.on,
        "variations": list(record.definition.variations),
        "offVariation": state.off_variation, "fallthrough": {"variation": state.fallthrough},
        "prerequisites": [], "targets": [], "contextTargets": [], "rules": [],
        "salt": state.salt, "trackEvents": False, "trackEventsFallthrough": False,
        "debugEventsUntilDate": None, "clientSideAvailability": {"usingMobileKey": False,
                                                                  "usingEnvironmentId": False},
        "deleted": False,
    }


def rest_env(record: FlagRecord, env: str) -> dict[str, Any]:
    state = record.envs[env]
    return {
        "on": state.on, "archived": False, "salt": state.salt, "sel": state.salt[:16],
        "lastModified": state.last_modified, "version": state.version,
        "targets": [], "contextTargets": [], "rules": [], "prerequisites": [],
        "fallthrough": {"variation": state.fallthrough}, "offVariation": state.off_variation,
        "trackEvents": False, "trackEventsFallthrough": False,
        "_environmentName": env.capitalize(), "_site": {"href": f"/{record.project}/{env}/features/{record.key}",
                                                         "type": "text/html"},
        "_summary": {"variations": {}, "prerequisites": 0},
    }


def rest_flag(record: FlagRecord, envs: list[str] | None = None) -> dict[str, Any]:
    """``GET /api/v2/flags/{proj}/{key}[?env=..]``: every environment unless ``envs`` narrows it."""
    definition = record.definition
    names = list(record.envs) if envs is None else envs
    return {
        "key": record.key, "name": definition.name, "kind": definition.kind,
        "description": definition.description, "tags": list(definition.tags),
        "temporary": definition.temporary, "archived": False, "deprecated": False,
        "creationDate": record.creation_date, "includeInSnippet": False,
        "clientSideAvailability": {"usingMobileKey": False, "usingEnvironmentId": False},
        "variations": [{"_id": variation_id(record, i), "value": value}
                       for i, value in enumerate(definition.variations)],
        "defaults": {"onVariation": definition.fallthrough, "offVariation": definition.off_variation},
        "_version": record.version, "maintainerId": "sandbox-maintainer",
        "customProperties": {}, "goalIds": [], "experiments": {"baselineIdx": 0, "items": []},
        "environments": {env: rest_env(record, env) for env in names},
        "_links": {"self": {"href": f"/api/v2/flags/{record.project}/{record.key}", "type": "application/json"},
                   "parent": {"href": f"/api/v2/flags/{record.project}", "type": "application/json"}},
    }


# ---------------------------------------------------------------- changes


def apply_instructions(record: FlagRecord, env: str, instructions: Any) -> dict[str, EnvState]:
    """Semantic patch: the environment states after ``instructions``; raises LdError(400) if any is bad."""
    if env not in record.envs:
        raise LdError(400, "invalid_request", f"environmentKey {env!r} is not an environment of project "
                      f"{record.project!r}; environments: {', '.join(record.envs)}")
    if not isinstance(instructions, list) or not instructions:
        raise LdError(400, "invalid_request", "instructions must be a non-empty array")
    state = copy.copy(record.envs[env])
    for instruction in instructions:
        kind = instruction.get("kind") if isinstance(instruction, dict) else None
        if kind == "turnFlagOn":
            state.on = True
        elif kind == "turnFlagOff":
            state.on = False
        elif kind in ("updateOffVariation", "updateFallthroughVariationOrRollout"):
            index = _variation_index(record, instruction.get("variationId"))
            if kind == "updateOffVariation":
                state.off_variation = index
            else:
                state.fallthrough = index
        else:
            raise LdError(400, "invalid_request", f"unsupported instruction kind {kind!r}; this sandbox "
                          f"accepts: {', '.join(SEMANTIC_KINDS)}")
    return {**record.envs, env: state}


def _variation_index(record: FlagRecord, variation: Any) -> int:
    for index in range(len(record.definition.variations)):
        if variation == variation_id(record, index):
            return index
    raise LdError(400, "invalid_request", f"variationId {variation!r} is not a variation _id of flag {record.key!r}")


def apply_json_patch(record: FlagRecord, operations: Any) -> dict[str, EnvState]:
    """JSON Patch against the REST shape; only per-environment on/offVariation/fallthrough are modelled.

    ``test`` on ``/version`` (or ``/_version``) checks the flag's ``_version``: a mismatch is 409.
    """
    if not isinstance(operations, list) or not all(isinstance(op, dict) for op in operations):
        raise LdError(400, "invalid_request", "a JSON Patch body is an array of operations, "
                      "or {\"comment\": .., \"patch\": [operations]}")
    remaining = []
    for op in operations:
        if op.get("op") == "test" and op.get("path") in ("/version", "/_version"):
            if op.get("value") != record.version:
                raise LdError(409, "optimistic_locking_error", f"flag {record.key!r} is at version "
                              f"{record.version}, the patch tests for {op.get('value')!r}")
        else:
            remaining.append(op)
    document = rest_flag(record)
    try:
        patched = jsonpatch.JsonPatch(remaining).apply(document)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise LdError(409, "optimistic_locking_error", f"test operation failed: {exc}") from None
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as exc:
        raise LdError(400, "invalid_request", f"invalid patch: {exc}") from None
    return {env: _env_from_rest(record, env, state, patched.get("environments", {}).get(env))
            for env, state in record.envs.items()}


def _env_from_rest(record: FlagRecord, env: str, state: EnvState, rest: Any) -> EnvState:
    if not isinstance(rest, dict):
        raise LdError(400, "invalid_request", f"environment {env!r} cannot be removed by a patch")
    on, off, fallthrough = rest.get("on"), rest.get("offVariation"), (rest.get("fallthrough") or {}).get("variation")
    count = len(record.definition.variations)
    if not isinstance(on, bool):
        raise LdError(400, "invalid_request", f"/environments/{env}/on must be true or false, got {on!r}")
    return EnvState(on=on, off_variation=_patched_index(env, "offVariation", off, count),
                    fallthrough=_patched_index(env, "fallthrough/variation", fallthrough, count),
                    version=state.version, last_modified=state.last_modified, salt=state.salt)


def _patched_index(env: str, name: str, value: object, count: int) -> int:
    """``value`` as an index into the flag's ``count`` variations (a bool is not an index)."""
    if type(value) is not int or not 0 <= value < count:
        raise LdError(400, "invalid_request", f"/environments/{env}/{name} must be a variation index "
                      f"0..{count - 1}, got {value!r}")
    return value


def changed_envs(record: FlagRecord, after: dict[str, EnvState]) -> list[str]:
    def modelled(s: EnvState) -> tuple[bool, int, int]:
        return (s.on, s.off_variation, s.fallthrough)
    return [env for env, state in after.items() if modelled(state) != modelled(record.envs[env])]


def commit(record: FlagRecord, after: dict[str, EnvState]) -> list[str]:
    """Store ``after``; bump the flag's and each changed environment's version. Returns changed envs."""
    changed = changed_envs(record, after)
    if not changed:
        return []
    stamp = now_ms()
    for env in changed:
        state = after[env]
        state.version = record.envs[env].version + 1
        state.last_modified = stamp
        record.envs[env] = state
    record.version += 1
    return changed
