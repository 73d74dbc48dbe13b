"""Usage errors exit 2 (the runbook's 1 is a failed check), name the input and what is accepted;
each command imports only the client libraries it uses."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from pipeline.exit_codes import ExitCode
from tests.cli_tasks import REPO

HEAVY = ["kubernetes", "ldclient", "aiohttp", "rich", "git", "httpx", "pipeline.sandbox"]   # (invoke itself loads yaml)
# Runs invoke in-process (exit=False), then prints which heavy libraries ended up imported.
DRIVER = """
import json, sys
from invoke.main import program
program.run(["invoke", "-r", sys.argv[1], *sys.argv[2:]], exit=False)
print("\\nLOADED " + json.dumps(sorted(h for h in %r if h in sys.modules)))
""" % HEAVY


def invoke(*args: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "invoke", "-r", str(REPO), *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})}, cwd=cwd)


def loaded(*args: str, env: dict | None = None, cwd=None) -> list[str]:
    done = subprocess.run([sys.executable, "-c", DRIVER, str(REPO), *args], capture_output=True, text=True,
                          timeout=90, env={**os.environ, **(env or {})}, cwd=cwd)
    return json.loads(done.stdout.rsplit("LOADED ", 1)[1])


@pytest.mark.parametrize("args, says", [
    (["deploy", "--bogus"], ["'--bogus'", "deploy accepts:", "--skip", "invoke deploy --help"]),
    (["rollback", "--env"], ["--env needed value"]),
    (["history", "--limit", "abc", "--env", "x"], ["'abc'", "type"]),
    (["nosuch"], ["'nosuch'", "invoke --list"]),
    (["--help", "nosuch"], ["'nosuch'"]),
])
def test_usage_errors_exit_2_and_say_what_is_accepted(args, says):
    done = invoke(*args)
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert all(text in done.stderr for text in says), done.stderr


def test_old_option_name_still_reaches_the_new_option():
    """deploy --skip-check was renamed --skip; the old spelling is the same option (hidden)."""
    done = invoke("preflight", "--env", "local", "--skip-check", "dns")
    assert done.returncode == ExitCode.USAGE
    assert "--skip: unknown check 'dns'" in done.stderr
    assert "skip-check" not in invoke("deploy", "--help").stdout


def test_listing_and_help_load_no_client_library():
    assert loaded("--list") == []
    assert loaded("rollback", "--help") == []
    assert loaded("deploy", "--help") == []


def test_commands_load_only_what_they_use(tmp_path):
    """A dry-run kill switch needs no Kubernetes client (no lock is taken) and no git; preflight needs
    neither the Kubernetes client nor the LaunchDarkly SDK; nothing but sandbox.* loads the stand-ins."""
    unreachable = "http://127.0.0.1:9"
    config = tmp_path / "pipeline.toml"
    config.write_text(f"""
[defaults.klaviyo]
base_url = "{unreachable}"
status_page_url = "{unreachable}"
timeout_seconds = 1
[defaults.flags]
api_url = "{unreachable}"
stream_url = "{unreachable}"
events_url = "{unreachable}"
observe_timeout_seconds = 1
[env.x]
""")
    env = {"KLAVIYO_PRIVATE_KEY": "pk_" + "a" * 34, "LAUNCHDARKLY_API_TOKEN": "api-x",
           "PIPELINE_AUDIT_DIR": str(tmp_path / "audit")}
    flag = loaded("rollback", "--env", "x", "--via", "flag", "--dry-run", "--config", str(config), env=env)
    assert not {"kubernetes", "git", "aiohttp", "pipeline.sandbox"} & set(flag), flag
    preflight = loaded("preflight", "--env", "x", "--skip", "sdk-pin,hardcoded-keys", "--config", str(config),
                       env=env)
    assert not {"kubernetes", "ldclient", "git", "aiohttp", "pipeline.sandbox"} & set(preflight), preflight


def test_the_pipelines_modules_keep_their_bytecode(tmp_path):
    """invoke turns bytecode caching off for tasks.py's sake; the pipeline's modules get it back
    (unless the interpreter was told not to write any), so a command does not recompile them."""
    cache = tmp_path / "pycache"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    subprocess.run([sys.executable, "-m", "invoke", "-r", str(REPO), "bench", "--only", "no-such-benchmark"],
                   env=env, capture_output=True, timeout=60)
    ours = cache / str(REPO).lstrip("/")          # the prefix mirrors each source's directory
    cached = {p.name.split(".")[0] for p in (ours / "pipeline").rglob("*.pyc")}
    assert {"catalog", "bench", "exit_codes"} <= cached, cached
    assert not list(ours.glob("tasks.*.pyc"))      # invoke's own choice for tasks.py stands
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    shutil.rmtree(cache)
    subprocess.run([sys.executable, "-m", "invoke", "-r", str(REPO), "bench", "--only", "no-such-benchmark"],
                   env=env, capture_output=True, timeout=60)
    assert not list(ours.rglob("*.pyc"))
