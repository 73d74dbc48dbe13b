"""`invoke rollback`: validation before anything changes, confirmation, dry run, exit codes, --json."""
from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from pipeline.cli.rollback import Request, UsageError, main, parse
from pipeline.records import MemoryDriver, Records, deploy_record
from pipeline.exit_codes import ExitCode

REPO = Path(__file__).resolve().parents[2]


def write_config(path: Path, flags_url: str = "http://127.0.0.1:9") -> Path:
    path.write_text(f"""
[defaults]
[env.test]
[env.test.flags]
api_url = "{flags_url}"
stream_url = "{flags_url}"
events_url = "{flags_url}"
observe_timeout_seconds = 1
[env.test.https]
allow_http = ["flags.api_url", "flags.stream_url", "flags.events_url"]
reason = "a loopback test server"
[env.test.rollback]
via = ["git"]
git_push_branch = "main"
[env.both]
[env.both.flags]
api_url = "{flags_url}"
stream_url = "{flags_url}"
events_url = "{flags_url}"
observe_timeout_seconds = 1
[env.both.https]
allow_http = ["flags.api_url", "flags.stream_url", "flags.events_url"]
reason = "a loopback test server"
[env.both.rollback]
via = ["git", "flag"]
git_push_branch = "main"
""")
    return path


@pytest.fixture
def setup(remote, tmp_path, monkeypatch):
    """A deploy commit on the remote; the command runs in our clone with a test config."""
    sha = remote.commit(remote.work, "app/version.txt", "2.0.0\n", "Release 2.0.0")
    remote.publish(remote.work)
    monkeypatch.chdir(remote.work.working_tree_dir)
    config = write_config(tmp_path / "pipeline.toml")
    environ = {"PIPELINE_AUDIT_DIR": str(tmp_path / "audit"), "LAUNCHDARKLY_API_TOKEN": "api-secret-token"}
    return sha, str(config), environ


def invoke_main(request: Request, environ, isatty=False, answer="n", records=None):
    out, err = io.StringIO(), io.StringIO()
    code = main(request, environ, Console(file=out, width=200), Console(file=err, width=200), isatty,
                ask=lambda prompt: answer, records=records)
    return code, out.getvalue(), err.getvalue()


def memory_records() -> Records:
    """The release records on the memory driver (these tests have no cluster)."""
    return Records(MemoryDriver(), "klaviyo-sync", "test", actor={"name": "ada"})


@pytest.mark.parametrize("kwargs, message", [
    (dict(via="undo,helm"), "unknown mechanism 'helm'; accepted: flag, undo, git"),
    (dict(to_revision="two"), "--to-revision 'two' must be a revision number"),
    (dict(to_revision="-1"), "--to-revision '-1' must be a revision number"),
    (dict(commit="HEAD~1"), "--commit 'HEAD~1' is not a commit sha"),
    (dict(via="git", to_revision="3"), "--to-revision applies to rollout undo"),
    (dict(env=""), "--env is required"),
])
def test_bad_input_is_a_usage_error(kwargs, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        parse(**{"env": "test", **kwargs})


def test_unknown_environment_is_usage(setup):
    sha, config, environ = setup
    code, _, err = invoke_main(parse("nope", commit=sha, yes=True, config=config), environ)
    assert code == ExitCode.USAGE and "unknown environment 'nope'" in err


def test_dry_run_changes_nothing(setup, remote, tmp_path):
    sha, config, environ = setup
    before = remote.remote_head()
    records = memory_records()
    code, out, _ = invoke_main(parse("test", commit=sha, dry_run=True, config=config), environ, records=records)
    assert code == ExitCode.OK
    assert "would push a commit reverting" in out and "dry run" in out
    assert remote.remote_head() == before and remote.work.head.commit.hexsha == sha
    assert records.view().documents == []


@pytest.mark.parametrize("environ_extra, isatty, why", [
    ({"CI": "true"}, True, "in CI (CI=true) without --yes"),
    ({}, False, "without a terminal without --yes"),
])
def test_refuses_without_yes_where_it_cannot_ask(setup, remote, environ_extra, isatty, why):
    sha, config, environ = setup
    before = remote.remote_head()
    code, _, err = invoke_main(parse("test", commit=sha, config=config), {**environ, **environ_extra}, isatty)
    assert code == ExitCode.USAGE
    assert why in err and "nothing changed" in err
    assert remote.remote_head() == before


def test_asks_on_a_terminal(setup, remote):
    sha, config, environ = setup
    before = remote.remote_head()
    code, _, err = invoke_main(parse("test", commit=sha, config=config), environ, isatty=True, answer="n")
    assert code == ExitCode.USAGE and "not confirmed" in err and remote.remote_head() == before
    code, out, _ = invoke_main(parse("test", commit=sha, config=config), environ, isatty=True, answer="y")
    assert code == ExitCode.OK and "rollback complete: git" in out
    assert remote.remote_file("app/version.txt") == "1.0.0"


def test_yes_reverts_prints_json_and_records_the_rollback(setup, remote, tmp_path):
    sha, config, environ = setup
    records = memory_records()
    code, out, err = invoke_main(parse("test", commit=sha, yes=True, json=True, reason="5xx storm",
                                       config=config), environ, records=records)
    assert code == ExitCode.OK
    document = json.loads(out)
    assert document["ok"] and document["done"] == ["git"] and document["remaining"] == []
    assert document["results"][0]["outcome"] == "done"
    assert document["plans"][0]["mechanism"] == "git"
    assert "Rollback plan" in err                          # narration on stderr with --json
    [record] = records.view().documents                     # one record per invocation
    assert record["kind"] == "rollback" and record["data"]["via"] == ["git"] and record["data"]["outcome"] == "done"
    assert document["audit_head"] == record["hash"] and document["exit_code"] == 0
    assert "Reason: 5xx storm" in remote.work.git.log("-1", "--format=%B", "origin/main")


def test_commit_defaults_to_the_last_deployed_one_in_the_release_records(setup, remote, tmp_path):
    sha, config, environ = setup
    records = memory_records()
    records.append("deploy", deploy_record({"image": "app:2", "commit": sha, "outcome": "deployed"}))
    code, out, _ = invoke_main(parse("test", yes=True, config=config), environ, records=records)
    assert code == ExitCode.OK, out
    assert remote.remote_file("app/version.txt") == "1.0.0"


def test_partial_failure_is_rollback_failed_naming_what_remains(setup, remote):
    sha, config, environ = setup
    code, out, _ = invoke_main(parse("both", via="git,flag", commit=sha, yes=True, json=True,
                                     config=config), environ)
    document = json.loads(out)
    assert code == ExitCode.ROLLBACK_FAILED
    assert [r["mechanism"] for r in document["results"]] == ["flag", "git"]     # flag first
    assert document["summary"] == "rollback incomplete: done: git; remains: flag"
    assert "api-secret-token" not in out


def test_via_is_limited_to_what_the_environment_allows(setup):
    """`local` does not push git reverts; typing --via git must not push one anyway."""
    sha, config, environ = setup
    code, _, err = invoke_main(parse("test", via="flag", yes=True, config=config), environ)
    assert code == ExitCode.USAGE
    assert "--via flag: not allowed in this environment; its rollback.via allows: git" in err


def test_exit_codes_through_invoke(setup):
    sha, config, environ = setup
    env = {**os.environ, **environ, "CI": "true"}
    run = lambda *args: subprocess.run([sys.executable, "-m", "invoke", "-r", str(REPO), "rollback", *args],
                                       capture_output=True, text=True, env=env, timeout=60)
    bad = run("--env", "test", "--via", "nope", "--config", config)
    assert bad.returncode == 2 and "unknown mechanism 'nope'" in bad.stderr
    refused = run("--env", "test", "--commit", sha, "--config", config)
    assert refused.returncode == 2 and "without --yes" in refused.stderr
    done = run("--env", "test", "--commit", sha, "--yes", "--config", config)
    assert done.returncode == 0, done.stdout + done.stderr
    again = run("--env", "test", "--commit", sha, "--yes", "--config", config)
    assert again.returncode == 0 and "already reverted" in again.stdout


def kube_config(path: Path, kubeconfig: Path, deployment: str) -> str:
    path.write_text(f"""
[defaults]
[env.test]
[env.test.kube]
kubeconfig = "{kubeconfig}"
deployment = "{deployment}"
container = "app"
[env.test.https]
allow_http = ["flags.api_url", "flags.stream_url", "flags.events_url"]
reason = "a loopback test server"
[env.test.rollback]
via = ["undo"]
""")
    return str(path)


def test_undo_through_the_command_and_dry_run(kube, tmp_path):
    kube.history("cli-undo", "web:1", "web:2", "web:3")
    config = kube_config(tmp_path / "pipeline.toml", kube.kubeconfig, "cli-undo")
    environ = {"PIPELINE_AUDIT_DIR": str(tmp_path / "audit")}
    before = kube.read("cli-undo")["metadata"]["resourceVersion"]
    code, out, _ = invoke_main(parse("test", dry_run=True, config=config), environ)
    assert code == ExitCode.OK and "image web:3 at revision 3" in out and "image web:2 (revision 2)" in out
    assert kube.read("cli-undo")["metadata"]["resourceVersion"] == before
    code, out, err = invoke_main(parse("test", to_revision="1", yes=True, json=True, config=config), environ)
    document = json.loads(out)
    assert code == ExitCode.OK, err
    assert document["results"][0]["data"]["to_image"] == "web:1"
    assert kube.read("cli-undo")["spec"]["template"]["spec"]["containers"][0]["image"] == "web:1"
    code, out, _ = invoke_main(parse("test", to_revision="7", yes=True, config=config), environ)
    assert code == ExitCode.ROLLBACK_FAILED and "unable to find specified revision 7 in history" in out
    assert "remains: undo" in out


def test_json_file_and_github_job_summary(setup, tmp_path):
    sha, config, environ = setup
    summary = tmp_path / "summary.md"
    environ = {**environ, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    code, _, _ = invoke_main(parse("test", commit=sha, yes=True, config=config,
                                   json_file=str(tmp_path / "result.json"), reason="bad"), environ)
    assert code == ExitCode.OK
    assert json.loads((tmp_path / "result.json").read_text())["done"] == ["git"]
    assert "## Rollback of klaviyo-sync in test" in summary.read_text()


def test_options_for_mechanisms_that_will_not_run_are_usage_errors(setup):
    sha, config, environ = setup                       # the config's rollback.via is ["git"]
    code, _, err = invoke_main(parse("test", to_revision="2", yes=True, config=config), environ)
    assert code == ExitCode.USAGE and "--to-revision applies to rollout undo" in err
    code, _, err = invoke_main(parse("both", via="flag", commit=sha, yes=True, config=config), environ)
    assert code == ExitCode.USAGE and "--commit applies to git revert" in err
