"""docs/configuration.md stays the reference of pipeline/config.py and pipeline.toml.

Every setting is found by walking the dataclasses (not by reading the source), and each row's
type, default and per-environment values are compared with what ``load_config`` returns.
"""
from __future__ import annotations

import dataclasses
import json
import re
import typing
from pathlib import Path
from typing import Any, Iterator

import pytest

from pipeline.config import ConfigError, EnvConfig, environments, load_config

from .tables import REPO, code, read, tables_with

DOC = "configuration.md"
CONFIG_FILE = REPO / "pipeline.toml"
NOT_SETTINGS = {"name", "variables"}          # name = --env; variables = the interpolation input
DEFAULT_CELL = "—"


@dataclasses.dataclass(frozen=True)
class Setting:
    key: str          # dotted: rollout.gate_verify_seconds
    type: str
    default: Any


def settings(cls: type = EnvConfig, prefix: str = "") -> Iterator[Setting]:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in NOT_SETTINGS:
            continue
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            yield from settings(hint, f"{prefix}{f.name}.")
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        yield Setting(prefix + f.name, type_name(hint), default)


def type_name(hint: Any) -> str:
    if typing.get_origin(hint) is tuple:
        return "list of strings"
    return {str: "string", int: "integer", float: "float", bool: "boolean"}[hint]


def toml(value: Any) -> str:
    """A value as the doc writes it: TOML syntax."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    raise TypeError(f"no TOML rendering for {value!r}")


def lookup(config: EnvConfig, key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


@pytest.fixture(scope="module")
def rows() -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for row in tables_with(read(DOC), "key", "type", "default"):
        key = code(row["key"])
        assert key not in found, f"{key} is documented twice"
        found[key] = row
    return found


@pytest.fixture(scope="module")
def env_configs() -> dict[str, EnvConfig]:
    """Each environment of the repository's pipeline.toml, ${VARS} left visible as ${VARS}."""
    names = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", CONFIG_FILE.read_text()))
    environ = {name: "${%s}" % name for name in names}
    return {env: load_config(env, CONFIG_FILE, environ=environ) for env in environments(CONFIG_FILE)}


CODE_SETTINGS = list(settings())


def test_the_walk_finds_the_nested_settings():
    keys = {s.key for s in CODE_SETTINGS}
    assert {"app", "rollout.gate_verify_seconds", "kube.namespace", "secrets.private_key",
            "thresholds.auth_errors_max", "rollback.git_branch"} <= keys
    assert len(keys) == len(CODE_SETTINGS)


@pytest.mark.parametrize("setting", CODE_SETTINGS, ids=lambda s: s.key)
def test_every_setting_is_documented_with_its_type_and_default(setting, rows):
    assert setting.key in rows, f"docs/{DOC} does not document {setting.key}"
    row = rows[setting.key]
    assert row["type"] == setting.type, f"{setting.key}: documented type {row['type']!r}, code {setting.type!r}"
    assert code(row["default"]) == toml(setting.default), f"{setting.key}: wrong default"
    assert row["meaning"] and row["used by"], f"{setting.key}: meaning and 'used by' must not be empty"


def test_no_documented_key_is_unknown_to_the_code(rows):
    unknown = set(rows) - {s.key for s in CODE_SETTINGS}
    assert not unknown, f"docs/{DOC} documents settings the code does not have: {sorted(unknown)}"


def test_every_environment_of_pipeline_toml_has_a_column(rows, env_configs):
    any_row = next(iter(rows.values()))
    assert set(env_configs) <= set(any_row), f"environments {sorted(env_configs)} need columns in docs/{DOC}"


@pytest.mark.parametrize("setting", CODE_SETTINGS, ids=lambda s: s.key)
def test_environment_columns_match_pipeline_toml(setting, rows, env_configs):
    row = rows[setting.key]
    for env, config in env_configs.items():
        actual = lookup(config, setting.key)
        cell = row[env]
        if cell == DEFAULT_CELL:
            assert actual == setting.default, (f"{setting.key} in {env}: documented as the default, "
                                               f"pipeline.toml gives {toml(actual)}")
        else:
            assert code(cell) == toml(actual), f"{setting.key} in {env}: documented {cell}, actual {toml(actual)}"
            assert actual != setting.default, f"{setting.key} in {env}: equals the default, write {DEFAULT_CELL}"


def error_rows() -> list[dict[str, str]]:
    return tables_with(read(DOC), "toml under `[env.prod]`", "message")


@pytest.mark.parametrize("row", error_rows(), ids=lambda r: code(r["toml under `[env.prod]`"]))
def test_documented_validation_errors_are_the_real_messages(row, tmp_path: Path):
    path = tmp_path / "pipeline.toml"
    path.write_text("[env.prod]\n" + code(row["toml under `[env.prod]`"]) + "\n")
    with pytest.raises(ConfigError) as raised:
        load_config("prod", path, environ={})
    assert str(raised.value) == code(row["message"])


def test_there_are_validation_examples():
    assert len(error_rows()) >= 10
