"""Feature flags as code: load and validate the flag definitions in ``flags/``.

One YAML (or JSON) file per LaunchDarkly project::

    project: klaviyo-sync
    environments: [local, staging, production]
    flags:
      klaviyo-enabled:
        name: Klaviyo enabled
        description: ...
        kind: boolean
        temporary: false
        tags: [kill-switch]
        variations: [true, false]
        offVariation: 1        # index served while the flag is off
        fallthrough: 0         # index served to everyone while on
        targeting: {local: true, staging: true, production: true}   # on/off per env, or one bool

(``targeting`` is LaunchDarkly's per-environment ``on``; the field is not called ``on``
because YAML 1.1 reads a bare ``on:`` key as the boolean true.)

Every error is a :class:`FlagDefinitionError` naming the file and the field
(``flags/klaviyo-sync.yaml: flags.klaviyo-enabled.offVariation``) and what is accepted.
A flag tagged ``kill-switch`` must be boolean and serve ``false`` when off. The
LaunchDarkly stand-in is seeded from these files; docs/rollback-flag.md describes them.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

DEFAULT_DIRECTORY = Path("flags")
SUFFIXES = (".yaml", ".yml", ".json")
KILL_SWITCH_TAG = "kill-switch"
KINDS = ("boolean", "multivariate")
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_PROJECT_FIELDS = {"project", "environments", "flags"}
_FLAG_FIELDS = {"name", "description", "kind", "temporary", "tags", "variations",
                "offVariation", "fallthrough", "targeting"}


class FlagDefinitionError(ValueError):
    """A flag definition file is missing, unreadable or invalid. The message names the field."""


@dataclass(frozen=True)
class FlagDefinition:
    key: str
    variations: tuple[Any, ...]
    off_variation: int
    fallthrough: int
    on: Mapping[str, bool]               # environment key -> targeting on
    name: str = ""
    description: str = ""
    kind: str = "boolean"
    temporary: bool = False
    tags: tuple[str, ...] = ()

    @property
    def is_kill_switch(self) -> bool:
        return KILL_SWITCH_TAG in self.tags

    @property
    def off_value(self) -> Any:
        return self.variations[self.off_variation]

    @property
    def on_value(self) -> Any:
        return self.variations[self.fallthrough]


@dataclass(frozen=True)
class ProjectDefinition:
    key: str
    environments: tuple[str, ...]
    flags: Mapping[str, FlagDefinition] = field(default_factory=dict)
    source: Path | None = None

    def flag(self, key: str) -> FlagDefinition:
        if key not in self.flags:
            known = ", ".join(sorted(self.flags)) or "none"
            raise FlagDefinitionError(f"{self.source or self.key}: no flag {key!r}; defined: {known}")
        return self.flags[key]


def load_projects(directory: str | Path = DEFAULT_DIRECTORY) -> dict[str, ProjectDefinition]:
    """Every project defined under ``directory``, by project key."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FlagDefinitionError(f"flag definitions directory {directory} not found")
    projects: dict[str, ProjectDefinition] = {}
    for path in sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES):
        project = load_file(path)
        if project.key in projects:
            raise FlagDefinitionError(f"{path}: project {project.key!r} is also defined in "
                                      f"{projects[project.key].source}")
        projects[project.key] = project
    return projects


def load_project(key: str, directory: str | Path = DEFAULT_DIRECTORY) -> ProjectDefinition:
    projects = load_projects(directory)
    if key not in projects:
        known = ", ".join(sorted(projects)) or "none"
        raise FlagDefinitionError(f"no project {key!r} in {directory}; defined: {known}")
    return projects[key]


def load_file(path: str | Path) -> ProjectDefinition:
    path = Path(path)
    try:
        text = path.read_text()
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except OSError as exc:
        raise FlagDefinitionError(f"{path}: cannot read: {exc.strerror}") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise FlagDefinitionError(f"{path}: not valid {path.suffix[1:].upper()}: {exc}") from None
    return parse_project(raw, str(path), path)


def parse_project(raw: Any, where: str, source: Path | None = None) -> ProjectDefinition:
    """Validate one project's data (as read from a file) into a :class:`ProjectDefinition`."""
    if not isinstance(raw, Mapping):
        raise FlagDefinitionError(f"{where}: must be a mapping with keys {', '.join(sorted(_PROJECT_FIELDS))}")
    _reject_unknown(raw, _PROJECT_FIELDS, where, "")
    key = _key(raw.get("project"), where, "project")
    environments = raw.get("environments")
    if (not isinstance(environments, list) or not environments
            or not all(isinstance(e, str) and _KEY.fullmatch(e) for e in environments)):
        raise FlagDefinitionError(f"{where}: environments must be a non-empty list of keys "
                                  f"([A-Za-z0-9._-]), got {environments!r}")
    if len(set(environments)) != len(environments):
        raise FlagDefinitionError(f"{where}: environments lists a key twice: {environments!r}")
    flags_raw = raw.get("flags")
    if not isinstance(flags_raw, Mapping) or not flags_raw:
        raise FlagDefinitionError(f"{where}: flags must be a mapping of flag key to definition")
    flags = {fkey: parse_flag(fkey, value, tuple(environments), where) for fkey, value in flags_raw.items()}
    return ProjectDefinition(key, tuple(environments), flags, source)


def parse_flag(key: Any, raw: Any, environments: tuple[str, ...], where: str) -> FlagDefinition:
    name = f"flags.{key}"
    key = _key(key, where, "flags")
    if not isinstance(raw, Mapping):
        raise FlagDefinitionError(f"{where}: {name} must be a mapping")
    _reject_unknown(raw, _FLAG_FIELDS, where, name)
    kind = raw.get("kind", "boolean")
    if kind not in KINDS:
        raise FlagDefinitionError(f"{where}: {name}.kind is {kind!r}; accepted: {', '.join(KINDS)}")
    variations = _variations(raw.get("variations"), kind, where, name)
    definition = FlagDefinition(
        key=key, variations=variations,
        off_variation=_index(raw.get("offVariation"), variations, where, f"{name}.offVariation"),
        fallthrough=_index(raw.get("fallthrough", 0), variations, where, f"{name}.fallthrough"),
        on=_on(raw.get("targeting", True), environments, where, f"{name}.targeting"),
        name=_text(raw.get("name", key), where, f"{name}.name"),
        description=_text(raw.get("description", ""), where, f"{name}.description"),
        kind=kind,
        temporary=_bool(raw.get("temporary", False), where, f"{name}.temporary"),
        tags=_tags(raw.get("tags", []), where, f"{name}.tags"),
    )
    if definition.is_kill_switch and (kind != "boolean" or definition.off_value is not False):
        raise FlagDefinitionError(f"{where}: {name} is tagged {KILL_SWITCH_TAG!r} so it must be boolean "
                                  f"and serve false when off; offVariation serves {definition.off_value!r}")
    return definition


def _key(value: Any, where: str, name: str) -> str:
    if not isinstance(value, str) or not _KEY.fullmatch(value):
        raise FlagDefinitionError(f"{where}: {name}: {value!r} is not a key ([A-Za-z0-9._-], "
                                  "starting with a letter or digit)")
    return value


def _variations(value: Any, kind: str, where: str, name: str) -> tuple[Any, ...]:
    if kind == "boolean":
        if value is None:
            return (True, False)
        if (not isinstance(value, list) or len(value) != 2
                or not all(isinstance(v, bool) for v in value) or set(value) != {True, False}):
            raise FlagDefinitionError(f"{where}: {name}.variations of a boolean flag must be "
                                      f"[true, false] in some order, got {value!r}")
        return tuple(value)
    if not isinstance(value, list) or len(value) < 2:
        raise FlagDefinitionError(f"{where}: {name}.variations must list at least two values, got {value!r}")
    return tuple(value)


def _index(value: Any, variations: tuple[Any, ...], where: str, name: str) -> int:
    if type(value) is not int or not 0 <= value < len(variations):
        raise FlagDefinitionError(f"{where}: {name} must be a variation index 0..{len(variations) - 1}, "
                                  f"got {value!r}")
    return value


def _on(value: Any, environments: tuple[str, ...], where: str, name: str) -> dict[str, bool]:
    if isinstance(value, bool):
        return {env: value for env in environments}
    if not isinstance(value, Mapping):
        raise FlagDefinitionError(f"{where}: {name} must be true/false or a mapping environment -> true/false")
    _reject_unknown(value, set(environments), where, name)
    missing = [env for env in environments if env not in value]
    if missing:
        raise FlagDefinitionError(f"{where}: {name} does not say whether the flag is on in "
                                  f"{', '.join(missing)}; give every environment")
    return {env: _bool(value[env], where, f"{name}.{env}") for env in environments}


def _bool(value: Any, where: str, name: str) -> bool:
    if not isinstance(value, bool):
        raise FlagDefinitionError(f"{where}: {name} must be true or false, got {value!r}")
    return value


def _text(value: Any, where: str, name: str) -> str:
    if not isinstance(value, str):
        raise FlagDefinitionError(f"{where}: {name} must be a string, got {value!r}")
    return value


def _tags(value: Any, where: str, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise FlagDefinitionError(f"{where}: {name} must be a list of strings, got {value!r}")
    return tuple(value)


def _reject_unknown(data: Mapping[str, Any], allowed: set[str], where: str, name: str) -> None:
    if True in data:
        raise FlagDefinitionError(f"{where}: {name or 'top level'} has a key YAML reads as true (a bare "
                                  "`on:` or `yes:`); per-environment on/off is written `targeting:`")
    unknown = sorted(str(k) for k in set(data) - allowed)
    if unknown:
        at = f"{name}.{unknown[0]}" if name else unknown[0]
        raise FlagDefinitionError(f"{where}: unknown field {at}; accepted: {', '.join(sorted(allowed))}")
