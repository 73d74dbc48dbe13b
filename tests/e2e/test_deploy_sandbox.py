"""`invoke deploy` end to end on the sandbox: real app processes as pods, real SDKs, every stage.

Tests run in file order on one sandbox: a good release first, then each bad release is
rolled out over a known-good one and must end on it again, healthy, with the kill switch
and Git where the policy puts them and the release record telling the story.
"""
from __future__ import annotations

import pytest

from pipeline.deploy.result import DeployOutcome
from pipeline.exit_codes import ExitCode

from .helpers import complete, deploy, deployment, image_of, last_record, records

pytestmark = pytest.mark.slow
GOOD = "klaviyo-sync:1.0.0"


def flag_on(world) -> bool:
    import httpx

    url = world.sandbox.urls["launchdarkly"]
    token = world.sandbox.credentials.launchdarkly_api_token
    flag = httpx.get(f"{url}/api/v2/flags/klaviyo-sync/klaviyo-enabled", params={"env": "local"},
                     headers={"Authorization": token}).json()
    return flag["environments"]["local"]["on"]


def ensure_good(world) -> None:
    live = None
    try:
        live = deployment(world)
    except Exception:  # noqa: BLE001 - not deployed yet
        pass
    if live is None or image_of(live) != GOOD or not complete(live):
        result = deploy(world, GOOD)
        assert result.outcome in (DeployOutcome.DEPLOYED, DeployOutcome.NOTHING_TO_DO), result.reason


def test_a_good_release_rolls_out_through_every_gate(world):
    ensure_good(world)
    result = deploy(world, "klaviyo-sync:1.1.0")
    assert result.outcome is DeployOutcome.DEPLOYED and result.exit_code == 0, result.reason
    names = [s.name for s in result.stages]
    for stage in ["lock", "preflight", "plan", "apply", "gate 1/3", "verify gate 1/3", "gate 2/3",
                  "verify gate 2/3", "gate 3/3", "verify gate 3/3", "bake"]:
        assert stage in names
    live = deployment(world)
    assert image_of(live) == "klaviyo-sync:1.1.0" and complete(live) and not live["spec"].get("paused")
    assert {v["name"] for v in result.verdicts} >= {"health", "auth_errors", "server_errors", "rate_limited",
                                                     "p95_latency", "webhook_signatures"}
    assert all(v["passed"] for v in result.verdicts)
    record = last_record(world)
    assert record["kind"] == "deploy" and record["data"]["outcome"] == "deployed"
    assert record["data"]["image"] == "klaviyo-sync:1.1.0" and record["data"]["pod_template_hash"]
    assert [s["name"] for s in record["data"]["result"]["stages"]] == names
    assert records(world).verify().ok


@pytest.mark.parametrize("image, kind, mechanisms, stage", [
    ("klaviyo-sync:1.2.0-bad-auth", "auth_errors", ["flag", "undo", "git"], "verify gate 1/3"),
    ("klaviyo-sync:1.2.0-server-errors", "server_errors", ["flag", "undo", "git"], "verify gate 1/3"),
    ("klaviyo-sync:1.2.0-slow", "latency", ["flag", "undo", "git"], "verify gate 1/3"),
    ("klaviyo-sync:1.2.0-crash", "pods_unhealthy", ["undo", "git"], "gate 1/3"),
    ("klaviyo-sync:1.2.0-never-ready", "rollout_stuck", ["undo", "git"], "gate 1/3"),
])
def test_a_bad_release_is_caught_at_the_first_gate_and_rolled_back(world, image, kind, mechanisms, stage):
    ensure_good(world)
    result = deploy(world, image)
    assert result.outcome is DeployOutcome.ROLLED_BACK, result.reason
    assert result.exit_code == ExitCode.ROLLED_BACK
    assert f"automatic: {kind} at" in result.reason
    failed = [s.name for s in result.stages if s.status == "failed"]
    assert failed[0] == stage, failed
    assert [r["mechanism"] for r in result.rollback][:len(mechanisms)] == mechanisms
    assert all(r["ok"] for r in result.rollback)
    live = deployment(world)
    assert image_of(live) == GOOD and complete(live) and not live["spec"].get("paused")
    assert flag_on(world), "the policy restores the kill switch once the previous version is verified"
    world.repo.remote("origin").fetch()
    remote_head = world.repo.commit("origin/main")
    assert remote_head.message.startswith("Revert") and f"This reverts commit {result.commit}." in remote_head.message
    assert f"Reason: automatic: {kind} at" in remote_head.message
    record = last_record(world)
    assert record["data"]["outcome"] == "rolled_back" and record["data"]["image"] == image
    assert record["data"]["rollback"][:len(mechanisms)] == mechanisms
    assert records(world).verify().ok
    world.repo.remote("origin").pull("main")      # the next release builds on the revert
