"""Concurrency and crashes: the lock refuses a second deploy; a deploy killed with SIGKILL
mid-rollout is resolved by the next deploy or by `invoke rollback`; bad input changes nothing."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.deploy.engine import Deploy, DeployRequest
from pipeline.deploy.result import DeployOutcome
from pipeline.exit_codes import ExitCode
from pipeline.kube.client import api_client
from pipeline.lock import DeployLock, LeaseApi, lease_name, lease_status

from tests.waiting import wait_for

from .helpers import complete, deploy, deployment, image_of, last_record
from .test_deploy_sandbox import ensure_good

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def lease_api(world) -> LeaseApi:
    config = world.config()
    return LeaseApi(api_client(config.kube), config.kube.namespace)




def lease_expired(world) -> bool:
    from datetime import datetime, timezone

    lease = lease_api(world).get(lease_name("klaviyo-sync", "local"))
    return not lease_status(lease, datetime.now(timezone.utc)).held


def start_deploy(world, image: str) -> subprocess.Popen:
    world.release_commit(image)
    env = {**os.environ, **world.environ, "COLUMNS": "200"}
    return subprocess.Popen([sys.executable, "-m", "invoke", "deploy", "--env", "local", "--image", image,
                             "--config", str(world.config_path)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def kill_at_first_gate(world, process: subprocess.Popen) -> None:
    """SIGKILL once the rollout is paused at gate 1 with the new pod up (mid-rollout)."""
    def paused_at_gate() -> bool:
        live = deployment(world)
        return bool(live["spec"].get("paused")) and (live.get("status") or {}).get("updatedReplicas", 0) >= 1
    wait_for(paused_at_gate, "the deploy to pause at gate 1", 60)
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def test_a_concurrent_deploy_is_refused_with_who_holds_the_lock(world):
    ensure_good(world)
    other = DeployLock(lease_api(world), "klaviyo-sync", "local", info={"image": "klaviyo-sync:9.9.9"},
                       identity="dana@laptop/4242/abc", duration_seconds=30)
    with other:
        before = deployment(world)["metadata"]["resourceVersion"]
        result = Deploy(world.config(), DeployRequest("klaviyo-sync:1.1.1"), environ=world.environ).run()
        assert result.outcome is DeployOutcome.REFUSED and result.exit_code == ExitCode.LOCKED
        assert "dana@laptop" in result.reason and "klaviyo-sync:9.9.9" in result.reason
        assert deployment(world)["metadata"]["resourceVersion"] == before


def test_sigkill_mid_rollout_is_undone_by_the_next_deploy(world):
    ensure_good(world)
    process = start_deploy(world, "klaviyo-sync:1.3.0")
    kill_at_first_gate(world, process)
    assert deployment(world)["spec"]["paused"] is True and image_of(deployment(world)) == "klaviyo-sync:1.3.0"
    refused = Deploy(world.config(), DeployRequest("klaviyo-sync:1.4.0"), environ=world.environ).run()
    if refused.outcome is DeployOutcome.REFUSED:     # the dead holder's lease has not expired yet
        assert refused.exit_code == ExitCode.LOCKED
    wait_for(lambda: lease_expired(world), "the dead deploy's lease to expire", 30)
    result = deploy(world, "klaviyo-sync:1.4.0")
    assert result.outcome is DeployOutcome.DEPLOYED, result.reason
    recover = next(s for s in result.stages if s.name == "recover")
    assert "left klaviyo-sync:1.3.0 unverified; returning to" in recover.detail
    assert recover.data["actions"] == ["undo"]
    live = deployment(world)
    assert image_of(live) == "klaviyo-sync:1.4.0" and complete(live) and not live["spec"].get("paused")


def test_sigkill_mid_rollout_is_undone_by_invoke_rollback(world):
    ensure_good(world)
    good = image_of(deployment(world))
    process = start_deploy(world, "klaviyo-sync:1.5.0")
    kill_at_first_gate(world, process)
    wait_for(lambda: lease_expired(world), "the dead deploy's lease to expire", 30)
    env = {**os.environ, **world.environ}
    rollback = subprocess.run([sys.executable, "-m", "invoke", "rollback", "--env", "local", "--via", "undo",
                               "--yes", "--reason", "deploy died", "--config", str(world.config_path)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    assert "interrupted deploy of klaviyo-sync:1.5.0" in rollback.stdout
    live = deployment(world)
    assert image_of(live) == good and complete(live) and not live["spec"].get("paused")
    lease = lease_api(world).get(lease_name("klaviyo-sync", "local"))
    assert "in_flight" not in str(lease["metadata"].get("annotations"))


@pytest.mark.parametrize("args, message", [
    (["--env", "nope"], "unknown environment 'nope'"),
    (["--env", "local", "--image", "Not An Image"], "is not an image reference"),
    (["--env", "local", "--image", "klaviyo-sync"], "has neither a tag nor a digest"),
    (["--env", "local", "--image", ""], "--image is empty (an unset CI variable?)"),
    (["--env", "local", "--image", "  "], "--image is empty (an unset CI variable?)"),
])
def test_invalid_input_is_refused_before_any_change(world, args, message):
    ensure_good(world)
    before = deployment(world)["metadata"]["resourceVersion"]
    env = {**os.environ, **world.environ}
    run = subprocess.run([sys.executable, "-m", "invoke", "deploy", *args, "--config", str(world.config_path)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == ExitCode.USAGE, run.stdout + run.stderr
    assert message in " ".join((run.stdout + run.stderr).split())
    assert deployment(world)["metadata"]["resourceVersion"] == before


def test_a_missing_manifest_directory_is_refused(world, tmp_path):
    config = world.config()
    import dataclasses

    broken = dataclasses.replace(config, kube=dataclasses.replace(config.kube, manifests=str(tmp_path / "none")))
    result = Deploy(broken, DeployRequest("klaviyo-sync:1.0.0"), environ=world.environ).run()
    assert result.outcome is DeployOutcome.REFUSED and result.exit_code == ExitCode.USAGE
    assert "(kube.manifests) not found" in result.reason


def test_dry_run_plans_and_changes_nothing(world):
    ensure_good(world)
    before = deployment(world)["metadata"]["resourceVersion"]
    result = Deploy(world.config(), DeployRequest("klaviyo-sync:2.0.0", dry_run=True), environ=world.environ).run()
    assert result.outcome is DeployOutcome.DRY_RUN and result.exit_code == 0
    plan = next(s for s in result.stages if s.name == "plan")
    assert "spec.template.spec.containers[0].image" in plan.detail
    assert deployment(world)["metadata"]["resourceVersion"] == before
    newest = last_record(world)
    assert newest is None or newest["data"].get("outcome") != "dry_run"          # a dry run writes no record


def wait_for_stage(process: subprocess.Popen, stage: str, lines: list[str]) -> None:
    """Read the deploy's output until ``stage`` has finished (its ✓/✗ line)."""
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if line.strip()[1:].strip().startswith(stage + " "):
            return
    raise AssertionError("the deploy ended before " + stage + ":\n" + "".join(lines))


def test_ctrl_c_at_a_gate_rolls_the_unverified_release_back_and_says_so(world):
    ensure_good(world)
    good = image_of(deployment(world))
    process = start_deploy(world, "klaviyo-sync:1.7.0")
    lines: list[str] = []
    wait_for_stage(process, "gate 1/3", lines)
    process.send_signal(signal.SIGINT)
    output = "".join(lines) + process.communicate(timeout=120)[0]
    assert process.returncode == ExitCode.INTERRUPTED, output
    assert "rolled_back (exit 130)" in " ".join(output.split()) and "interrupted at" in output
    assert "✓ verify gate 1/3" not in output          # the interrupted stage is not marked passed
    live = deployment(world)
    assert image_of(live) == good and complete(live) and not live["spec"].get("paused")
    lease = lease_api(world).get(lease_name("klaviyo-sync", "local"))
    assert "in_flight" not in str(lease["metadata"].get("annotations"))


def test_abort_during_gate_2_rolls_back_within_seconds_and_both_commands_report_it(world):
    ensure_good(world)
    good = image_of(deployment(world))
    process = start_deploy(world, "klaviyo-sync:1.7.1")
    lines: list[str] = []
    wait_for_stage(process, "gate 2/3", lines)
    env = {**os.environ, **world.environ}
    started = time.monotonic()
    aborted = subprocess.run([sys.executable, "-m", "invoke", "abort", "--env", "local", "--reason", "incident 7",
                              "--config", str(world.config_path)], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=120)
    output = "".join(lines) + process.communicate(timeout=120)[0]
    assert aborted.returncode == 0, aborted.stdout + aborted.stderr
    assert "stopped: rolled_back" in aborted.stdout and "incident 7" in aborted.stdout
    assert process.returncode == ExitCode.INTERRUPTED and "incident 7" in output, output
    live = deployment(world)
    assert image_of(live) == good and complete(live) and not live["spec"].get("paused")
    assert time.monotonic() - started < 60     # bounded by the rollback, not by the deploy's windows


def test_the_kill_switch_does_not_wait_for_a_running_deploy(world):
    ensure_good(world)
    process = start_deploy(world, "klaviyo-sync:1.7.2")
    lines: list[str] = []
    wait_for_stage(process, "gate 1/3", lines)
    env = {**os.environ, **world.environ}
    flag = subprocess.run([sys.executable, "-m", "invoke", "rollback", "--env", "local", "--via", "flag", "--yes",
                           "--reason", "Klaviyo incident", "--config", str(world.config_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert flag.returncode == 0, flag.stdout + flag.stderr
    output = "".join(lines) + process.communicate(timeout=180)[0]
    # the deploy could not verify Klaviyo with the integration off: it rolled back, leaving the flag OFF
    assert process.returncode == ExitCode.ROLLED_BACK, output
    env_flag = subprocess.run([sys.executable, "-m", "invoke", "flag-on", "--env", "local", "--yes",
                               "--config", str(world.config_path)], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)
    assert env_flag.returncode == 0, env_flag.stdout + env_flag.stderr
