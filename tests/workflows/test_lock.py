"""requirements/deploy.txt, what the jobs holding production credentials install, stays the lock of
pyproject.toml's dependencies: every one pinned with hashes, and every module the pipeline imports
provided by it (a missing one would only show up in a deploy job, at the worst time)."""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def locked(path: Path) -> dict[str, tuple[Version, list[str]]]:
    """{normalized name: (version, hashes)} from a `--generate-hashes` requirements file."""
    found: dict[str, tuple[Version, list[str]]] = {}
    current = None
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            found[current] = (Version(match.group(2)), [])
        elif current and line.strip().startswith("--hash=sha256:"):
            found[current][1].append(line.strip().split(":", 1)[1].rstrip(" \\"))
    return found


def base_dependencies() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(spec) for spec in project["dependencies"]]


def test_every_pin_carries_hashes():
    for name in ("deploy.txt", "audit.txt"):
        lock = locked(ROOT / "requirements" / name)
        assert lock, name
        for package, (_, hashes) in lock.items():
            assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), (name, package)
        text = (ROOT / "requirements" / name).read_text()
        assert "--generate-hashes" in text.splitlines()[1]      # says how it was made


def test_the_deploy_lock_pins_every_base_dependency_within_its_range():
    lock = locked(ROOT / "requirements" / "deploy.txt")
    for requirement in base_dependencies():
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{name} is a dependency in pyproject.toml but not in requirements/deploy.txt: regenerate it"
        version, _ = lock[name]
        assert requirement.specifier.contains(version, prereleases=True), (name, str(version), str(requirement))


def third_party_imports(package: Path) -> set[str]:
    names: set[str] = set()
    for path in package.rglob("*.py"):
        if "sandbox" in path.relative_to(package).parts:
            continue                               # the stand-ins are not deployed
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("pipeline", "__future__")}


def test_every_module_the_pipeline_imports_is_in_the_deploy_lock():
    lock = locked(ROOT / "requirements" / "deploy.txt")
    distributions = packages_distributions()
    missing = {}
    for module in sorted(third_party_imports(ROOT / "pipeline")):
        providers = {canonicalize_name(d) for d in distributions.get(module, [])}
        assert providers, f"pipeline imports {module}, which no installed distribution provides"
        if not providers & set(lock):
            missing[module] = sorted(providers)
    assert not missing, f"imported by pipeline/ but not in requirements/deploy.txt: {missing}"


def test_the_import_scan_finds_what_the_pipeline_uses():
    found = third_party_imports(ROOT / "pipeline")
    assert {"httpx", "kubernetes", "git", "yaml", "prometheus_client", "invoke"} <= found
