"""GitHub Deployments against a local stand-in of the REST API: what is created and posted for each
outcome, and that no failure of GitHub ever reaches the caller."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.github_deployments import for_run

from .github_standin import TOKEN, GitHubStandIn

IMAGE = "ghcr.io/acme/klaviyo-sync@sha256:" + "a" * 64


@pytest.fixture
def github():
    with GitHubStandIn() as server:
        yield server


@pytest.fixture
def config(tmp_path: Path):
    path = tmp_path / "pipeline.toml"
    path.write_text('[env.staging.github]\nenvironment_url = "https://staging.klaviyo-sync.example"\n')
    return load_config("staging", path, environ={})


def tracker(config, github, warnings, image=IMAGE, **kw):
    return for_run(config, github.environ(), image, warnings.append, **kw)


def previous_success(github, environment="staging") -> int:
    """A deployment that is live in the environment before ours."""
    warnings: list[str] = []
    config = load_config_for(environment)
    old = for_run(config, github.environ(), "ghcr.io/acme/klaviyo-sync@sha256:" + "0" * 64, warnings.append)
    assert old.start() and old.finish("deployed", "deployed"), warnings
    return old.id


def load_config_for(environment):
    import tempfile

    path = Path(tempfile.mkdtemp()) / "pipeline.toml"
    path.write_text(f"[env.{environment}]\n")
    return load_config(environment, path, environ={})


def test_outside_actions_nothing_is_sent(config, github):
    warnings: list[str] = []
    off = for_run(config, {"CI": "true", "GITHUB_TOKEN": TOKEN}, IMAGE, warnings.append)
    assert not off.active and off.off_because == "not in GitHub Actions (or no GITHUB_TOKEN)"
    assert off.start() is False and off.status("in_progress", "x") is False and off.finish("deployed", "") is False
    assert github.seen == [] and warnings == []


def test_turned_off_in_the_configuration(tmp_path, github):
    path = tmp_path / "pipeline.toml"
    path.write_text("[env.staging.github]\ndeployments = false\n")
    off = for_run(load_config("staging", path, environ={}), github.environ(), IMAGE, print)
    assert off.off_because == "github.deployments is off" and not off.start() and github.seen == []


def test_a_good_deploy_is_created_in_progress_then_success_and_the_replaced_one_inactive(config, github):
    replaced = previous_success(github)
    github.seen.clear()
    warnings: list[str] = []
    deployment = tracker(config, github, warnings)
    assert deployment.start() and deployment.finish("deployed", "deployed: rolled out through every gate")
    assert warnings == []
    created = next(s for s in github.seen if s.method == "POST" and s.path.endswith("/deployments")).json()
    assert created["ref"] == github.environ()["GITHUB_SHA"] and created["task"] == "deploy"
    assert created["environment"] == "staging" and created["auto_merge"] is False
    assert created["required_contexts"] == []
    assert created["payload"] == {"image": IMAGE, "digest": "sha256:" + "a" * 64, "app": "klaviyo-sync"}
    assert github.states(deployment.id) == ["in_progress", "success"]
    assert github.states(replaced) == ["in_progress", "success", "inactive"]
    final = github.state.statuses[deployment.id][-1]
    assert final["log_url"] == "https://github.example/acme/klaviyo-sync/actions/runs/4242"
    assert final["environment_url"] == "https://staging.klaviyo-sync.example"
    assert final["description"] == "deployed: rolled out through every gate"
    posted = [s.json() for s in github.seen if s.path.endswith("/statuses") and s.method == "POST"]
    assert all(p["auto_inactive"] is False for p in posted)
    assert github.state.statuses[replaced][-1]["description"] == f"replaced by deployment {deployment.id}"
    assert {s.headers["x-github-api-version"] for s in github.seen} == {"2022-11-28"}
    assert {s.headers["accept"] for s in github.seen} == {"application/vnd.github+json"}


def test_an_automatic_rollback_says_so_then_fails_and_the_previous_one_stays_active(config, github):
    replaced = previous_success(github)
    deployment = tracker(config, github, [])
    deployment.start()
    assert deployment.status("in_progress", "rolling back: auth_errors at gate 1/3")
    assert deployment.finish("rolled_back", "rolled back: auth_errors at gate 1/3; rollback complete: flag, undo")
    assert github.states(deployment.id) == ["in_progress", "in_progress", "failure"]
    assert github.states(replaced) == ["in_progress", "success"]
    assert github.state.statuses[deployment.id][1]["description"] == "rolling back: auth_errors at gate 1/3"


@pytest.mark.parametrize("outcome, state", [("rollback_failed", "error"), ("aborted", "failure"),
                                            ("nothing_to_do", "success"), ("something new", "error")])
def test_each_outcome_has_its_state(config, github, outcome, state):
    deployment = tracker(config, github, [])
    deployment.start()
    deployment.finish(outcome, outcome)
    assert github.states(deployment.id)[-1] == state


def test_an_on_call_rollback_is_a_deployment_of_its_own(config, github):
    bad = previous_success(github)                  # the release on-call rolls back
    rollback = tracker(config, github, [], task="rollback", payload={"via": "flag,undo", "reason": "5xx"})
    assert rollback.start("rollback by flag, undo: 5xx")
    assert rollback.finish("done", "rollback complete: flag, undo")
    created = github.state.deployments[-1]
    assert created["task"] == "rollback" and created["payload"]["reason"] == "5xx"
    assert github.states(rollback.id) == ["in_progress", "success"]
    assert github.states(bad)[-1] == "inactive"


def test_descriptions_are_clipped_to_what_github_accepts(config, github):
    warnings: list[str] = []
    deployment = tracker(config, github, warnings)
    deployment.start()
    assert deployment.finish("rolled_back", "rolled back: " + "x" * 300)
    assert warnings == []
    assert len(github.state.statuses[deployment.id][-1]["description"]) == 140


@pytest.mark.parametrize("route, status", [("POST /deployments", 500), ("POST /deployments", 422),
                                           ("POST /deployments/{id}/statuses", 503)])
def test_github_errors_are_warnings_never_exceptions(config, github, route, status):
    github.state.fail[route] = status
    warnings: list[str] = []
    deployment = tracker(config, github, warnings)
    assert deployment.start() is False
    assert deployment.finish("deployed", "deployed") is False
    assert warnings and f"HTTP {status}" in warnings[0]
    assert all(TOKEN not in w for w in warnings)


def test_a_bad_token_is_a_warning_naming_githubs_answer(config, github):
    warnings: list[str] = []
    environ = {**github.environ(), "GITHUB_TOKEN": "ghs_wrong"}
    deployment = for_run(config, environ, IMAGE, warnings.append)
    assert deployment.start() is False
    assert any("HTTP 401: Bad credentials" in w for w in warnings)
    assert all("ghs_wrong" not in w for w in warnings)


def test_an_unreachable_github_costs_one_attempt(config):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environ = GitHubStandIn().environ(GITHUB_API_URL=f"http://127.0.0.1:{port}")
    warnings: list[str] = []
    deployment = for_run(config, environ, IMAGE, warnings.append)
    assert deployment.start() is False and deployment.finish("deployed", "x") is False
    assert len(warnings) == 1 and "ConnectError" in warnings[0]
    assert deployment.off_because.startswith("GitHub unreachable")


def test_a_github_that_never_answers_costs_one_timeout(config):
    with GitHubStandIn() as github:
        github.hang()
        warnings: list[str] = []
        deployment = for_run(config, github.environ(), IMAGE, warnings.append, timeout=0.5)
        started = time.monotonic()
        assert deployment.start() is False
        deployment.status("in_progress", "rolling back")
        deployment.finish("rolled_back", "x")
        elapsed = time.monotonic() - started
    assert elapsed < 3, elapsed
    assert len(github.seen) == 1 and len(warnings) == 1 and "no answer within 0.5 s" in warnings[0]
