"""SDK pin: manifest parsing (pure) and the check's verdicts on app trees."""
import json

import pytest

from pipeline.preflight.check import Verdict
from pipeline.preflight.checks.sdk_pin import (Pin, collect_pins, evaluate_pins, parse_manifest,
                                               parse_package_json, parse_pyproject, parse_requirements)

REV = "2026-10-15"


@pytest.mark.parametrize("spec, version", [
    ("25.0.0", "25.0.0"), ("=25.0.0", "25.0.0"), ("^25.0.0", None), ("~25.0.0", None),
    ("*", None), (">=25.0.0", None), ("latest", None), ("25.x", None),
])
def test_package_json_exact_or_range(spec, version):
    text = json.dumps({"dependencies": {"klaviyo-api": spec, "express": "^4"}})
    assert parse_package_json(text, "package.json") == [Pin("node", "package.json", spec, version)]


@pytest.mark.parametrize("line, version", [
    ("klaviyo-api==25.0.0", "25.0.0"), ("Klaviyo_API == 25.0.0  # pinned", "25.0.0"),
    ("klaviyo-api[extra]===25.0.0 ; python_version >= '3.11'", "25.0.0"),
    ("klaviyo-api>=25.0.0", None), ("klaviyo-api~=25.0", None), ("klaviyo-api==25.*", None),
    ("klaviyo-api", None),
])
def test_requirements_exact_or_range(line, version):
    pins = parse_requirements(f"-r base.txt\n# comment\nhttpx\n{line}\n", "requirements.txt")
    assert [p.version for p in pins] == [version]


def test_pyproject_pep621_and_poetry():
    text = """
[project]
dependencies = ["klaviyo-api==25.0.0"]
[tool.poetry.dependencies]
klaviyo-api = "^25.0.0"
[tool.poetry.group.dev.dependencies]
klaviyo_api = {version = "25.0.0"}
"""
    assert [(p.spec, p.version) for p in parse_pyproject(text, "pyproject.toml")] == [
        ("==25.0.0", "25.0.0"), ("^25.0.0", None), ("25.0.0", "25.0.0")]


def test_lock_files_and_malformed_manifests():
    uv = '[[package]]\nname = "klaviyo-api"\nversion = "24.0.0"\n[[package]]\nname = "httpx"\nversion = "1"\n'
    assert parse_manifest("uv.lock", uv, "uv.lock") == [Pin("python", "uv.lock", "24.0.0", "24.0.0", True)]
    lock = json.dumps({"packages": {"node_modules/klaviyo-api": {"version": "20.0.0"}}})
    assert parse_manifest("package-lock.json", lock, "package-lock.json")[0].version == "20.0.0"
    assert parse_manifest("package.json", "{not json", "package.json") == []
    assert parse_manifest("pyproject.toml", "[[[", "pyproject.toml") == []


def test_passes_an_exact_pin_built_for_the_configured_revision():
    finding = evaluate_pins([Pin("python", "requirements.txt", "==25.0.0", "25.0.0")], [], REV, "app")
    assert finding.verdict is Verdict.PASS
    assert finding.detail == ("klaviyo-api (Python) 25.0.0 pinned exactly (requirements.txt 25.0.0), "
                              "built for revision 2026-10-15 = configured 2026-10-15")


def test_fails_a_range():
    finding = evaluate_pins([Pin("node", "package.json", "^25.0.0", None)], [], REV, "app")
    assert finding.verdict is Verdict.FAIL
    assert finding.detail == ("klaviyo-api (Node) is not pinned to an exact version: '^25.0.0' in "
                              "package.json (threshold: ==X.Y.Z)")


def test_fails_a_version_built_for_another_revision_and_says_what_differs():
    finding = evaluate_pins([Pin("python", "requirements.txt", "==24.0.0", "24.0.0")], [], REV, "app")
    assert finding.verdict is Verdict.FAIL
    assert finding.detail == ("klaviyo-api (Python) 24.0.0 (requirements.txt 24.0.0) is built for revision "
                              "2026-07-15, configured revision is 2026-10-15: pin 25.0.0 or set "
                              "klaviyo.revision = '2026-07-15'")


def test_fails_when_lock_and_declaration_disagree():
    pins = [Pin("python", "pyproject.toml", "==25.0.0", "25.0.0"),
            Pin("python", "uv.lock", "24.0.0", "24.0.0", True)]
    finding = evaluate_pins(pins, [], REV, "app")
    assert finding.verdict is Verdict.FAIL
    assert "pins disagree: pyproject.toml 25.0.0, uv.lock 24.0.0" in finding.detail


def test_warns_on_a_version_missing_from_the_table():
    finding = evaluate_pins([Pin("node", "package.json", "24.0.0", "24.0.0")], [], REV, "app")
    assert finding.verdict is Verdict.WARN
    assert "not in pipeline/klaviyo/sdk_versions.py" in finding.detail


def test_fails_without_any_sdk_dependency():
    finding = evaluate_pins([], ["package.json"], REV, "app")
    assert finding.verdict is Verdict.FAIL
    assert finding.detail.startswith("no klaviyo-api dependency found in app (manifests read: package.json)")


def test_collects_from_a_tree_but_not_from_node_modules(make_app):
    root = make_app({"package.json": json.dumps({"dependencies": {"klaviyo-api": "20.0.0"}}),
                     "node_modules/klaviyo-api/package.json": json.dumps({"dependencies": {"klaviyo-api": "^1"}}),
                     "worker/requirements-prod.txt": "klaviyo-api==25.0.0\n"})
    pins, looked = collect_pins(root)
    assert looked == ["package.json", "worker/requirements-prod.txt"]
    assert {(p.ecosystem, p.version) for p in pins} == {("node", "20.0.0"), ("python", "25.0.0")}


def test_check_on_app_trees(run, make_app):
    assert run().result("sdk-pin").verdict is Verdict.PASS
    bad = make_app({"package.json": json.dumps({"dependencies": {"klaviyo-api": "^25.0.0"}})}, name="node")
    result = run(app=bad, skip=["api-auth,rate-limit,status-page"]).result("sdk-pin")
    assert result.verdict is Verdict.FAIL
    assert "is not pinned to an exact version: '^25.0.0' in package.json" in result.detail
