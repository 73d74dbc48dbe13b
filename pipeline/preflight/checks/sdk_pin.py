"""Check 4: the app pins the official SDK exactly, and the pin matches the configured revision.

Manifests under ``klaviyo.app_source``: ``package.json`` (+ ``package-lock.json``) for the Node
``klaviyo-api``; ``requirements*.txt``, ``pyproject.toml`` (PEP 621, dependency groups, Poetry),
``poetry.lock`` and ``uv.lock`` for the Python ``klaviyo-api``. A declaration must be exact (no
``^ ~ * >=`` ranges); locks must agree with declarations; the pinned version must be built for
the configured revision (``pipeline.klaviyo.sdk_versions``). Parsing is pure: text in, pins out.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.klaviyo.sdk_versions import NODE, PYTHON, revision_for, versions_for
from pipeline.preflight.check import Finding, Verdict, worst
from pipeline.preflight.context import PreflightContext

PACKAGE = "klaviyo-api"
PRUNED_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__", "site-packages", ".tox"}
_PEP508 = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(?P<spec>[^;]*?)\s*(;.*)?$")
_PY_EXACT = re.compile(r"^===?\s*(\d+(?:\.\d+)*)$")
_POETRY_EXACT = re.compile(r"^(?:={1,2})?\s*(\d+(?:\.\d+)*)$")
_NPM_EXACT = re.compile(r"^=?v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)$")
LABEL = {PYTHON: "Python", NODE: "Node"}


@dataclass(frozen=True)
class Pin:
    ecosystem: str        # python | node
    file: str             # relative to app_source
    spec: str             # as written ("==25.0.0", "^25.0.0", "" for unpinned)
    version: str | None   # the exact version, None when spec is a range
    locked: bool = False  # from a lock file


@dataclass(frozen=True)
class SdkPinCheck:
    timeout: float = 10.0
    name: str = "sdk-pin"
    title: str = "SDK pinned to the revision"

    async def run(self, ctx: PreflightContext) -> Finding:
        pins, looked = await asyncio.to_thread(collect_pins, ctx.app_source)
        return evaluate_pins(pins, looked, ctx.config.klaviyo.revision, str(ctx.app_source))


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def manifest_files(root: Path) -> list[Path]:
    found = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in PRUNED_DIRS)
        for name in sorted(files):
            if name in ("package.json", "package-lock.json", "pyproject.toml", "poetry.lock", "uv.lock") \
                    or (name.startswith("requirements") and name.endswith(".txt")):
                found.append(Path(directory) / name)
    return found


def collect_pins(root: Path) -> tuple[list[Pin], list[str]]:
    """Every klaviyo-api pin in the manifests under ``root``, and the manifests read."""
    pins: list[Pin] = []
    looked: list[str] = []
    for path in manifest_files(root):
        rel = str(path.relative_to(root))
        looked.append(rel)
        pins.extend(parse_manifest(path.name, path.read_text(errors="replace"), rel))
    return pins, looked


def parse_manifest(name: str, text: str, rel: str) -> list[Pin]:
    """Pins of klaviyo-api in one manifest's text (a malformed manifest yields none)."""
    try:
        if name == "package.json":
            return parse_package_json(text, rel)
        if name == "package-lock.json":
            return parse_package_lock(text, rel)
        if name == "pyproject.toml":
            return parse_pyproject(text, rel)
        if name in ("poetry.lock", "uv.lock"):
            return parse_toml_lock(text, rel)
        return parse_requirements(text, rel)
    except (ValueError, tomllib.TOMLDecodeError, AttributeError, TypeError):
        return []


def parse_package_json(text: str, rel: str) -> list[Pin]:
    data = json.loads(text)
    pins = []
    for section in ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies"):
        spec = (data.get(section) or {}).get(PACKAGE)
        if isinstance(spec, str):
            match = _NPM_EXACT.match(spec.strip())
            pins.append(Pin(NODE, rel, spec, match.group(1) if match else None))
    return pins


def parse_package_lock(text: str, rel: str) -> list[Pin]:
    data = json.loads(text)
    entry = (data.get("packages") or {}).get(f"node_modules/{PACKAGE}") \
        or (data.get("dependencies") or {}).get(PACKAGE)
    if isinstance(entry, dict) and isinstance(entry.get("version"), str):
        return [Pin(NODE, rel, entry["version"], entry["version"], locked=True)]
    return []


def pep508_pin(requirement: str, rel: str) -> Pin | None:
    match = _PEP508.match(requirement)
    if not match or normalize(match.group("name")) != PACKAGE:
        return None
    spec = match.group("spec").strip().strip("()").strip()
    exact = _PY_EXACT.match(spec)
    return Pin(PYTHON, rel, spec, exact.group(1) if exact else None)


def parse_requirements(text: str, rel: str) -> list[Pin]:
    pins = []
    for line in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if not line or line.startswith("-"):
            continue
        pin = pep508_pin(line, rel)
        if pin:
            pins.append(pin)
    return pins


def parse_pyproject(text: str, rel: str) -> list[Pin]:
    data = tomllib.loads(text)
    project = data.get("project") or {}
    requirements: list[Any] = list(project.get("dependencies") or [])
    for group in (project.get("optional-dependencies") or {}).values():
        requirements.extend(group)
    for group in (data.get("dependency-groups") or {}).values():
        requirements.extend(group)
    pins = [p for r in requirements if isinstance(r, str) for p in [pep508_pin(r, rel)] if p]
    poetry = (data.get("tool") or {}).get("poetry") or {}
    tables = [poetry.get("dependencies") or {}, poetry.get("dev-dependencies") or {}]
    tables += [g.get("dependencies") or {} for g in (poetry.get("group") or {}).values()]
    for table in tables:
        for key, value in table.items():
            if normalize(key) == PACKAGE:
                spec = value.get("version", "") if isinstance(value, dict) else str(value)
                exact = _POETRY_EXACT.match(spec.strip())
                pins.append(Pin(PYTHON, rel, spec, exact.group(1) if exact else None))
    return pins


def parse_toml_lock(text: str, rel: str) -> list[Pin]:
    data = tomllib.loads(text)
    return [Pin(PYTHON, rel, str(p["version"]), str(p["version"]), locked=True)
            for p in data.get("package") or []
            if isinstance(p, dict) and normalize(str(p.get("name", ""))) == PACKAGE and p.get("version")]


def evaluate_pins(pins: list[Pin], looked: list[str], revision: str, root: str) -> Finding:
    """Pure verdict: every declaration exact, locks agree, the version is built for ``revision``."""
    if not pins:
        files = ", ".join(looked) or "none"
        return Finding(Verdict.FAIL, f"no {PACKAGE} dependency found in {root} (manifests read: {files}); "
                                     "the checklist wants every call through the official SDK",
                       {"manifests": looked, "pins": []})
    parts = [_evaluate_ecosystem(eco, [p for p in pins if p.ecosystem == eco], revision)
             for eco in (PYTHON, NODE) if any(p.ecosystem == eco for p in pins)]
    verdict = worst([v for v, _ in parts])
    shown = [text for v, text in parts if v == verdict] if verdict != Verdict.PASS else [t for _, t in parts]
    measured = {"manifests": looked, "configured_revision": revision,
                "pins": [{"ecosystem": p.ecosystem, "file": p.file, "spec": p.spec,
                          "version": p.version, "locked": p.locked} for p in pins]}
    return Finding(verdict, "; ".join(shown), measured)


def _evaluate_ecosystem(eco: str, pins: list[Pin], revision: str) -> tuple[Verdict, str]:
    label = f"{PACKAGE} ({LABEL[eco]})"
    ranges = [p for p in pins if p.version is None]
    if ranges:
        listed = ", ".join(f"{p.spec or '(no version)'!r} in {p.file}" for p in ranges)
        return Verdict.FAIL, f"{label} is not pinned to an exact version: {listed} (threshold: ==X.Y.Z)"
    versions = sorted({p.version for p in pins if p.version})
    where = ", ".join(f"{p.file} {p.version}" for p in pins)
    if len(versions) > 1:
        return Verdict.FAIL, f"{label} pins disagree: {where}"
    version = versions[0]
    built_for = revision_for(eco, version)
    if built_for is None:
        return Verdict.WARN, (f"{label} {version} pinned ({where}) but its revision is not in "
                              "pipeline/klaviyo/sdk_versions.py: cannot confirm it sends "
                              f"{revision}")
    if built_for != revision:
        fits = versions_for(eco, revision)
        fix = f"pin {fits[-1]} or " if fits else ""
        return Verdict.FAIL, (f"{label} {version} ({where}) is built for revision {built_for}, "
                              f"configured revision is {revision}: {fix}set klaviyo.revision = {built_for!r}")
    return Verdict.PASS, (f"{label} {version} pinned exactly ({where}), built for revision "
                          f"{built_for} = configured {revision}")


