"""`invoke flag-on`: on-call turns the kill switch back on from the command line, verified
through a connected SDK like the off path, recorded as a release record; refuses without --yes in CI."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.kube.client import api_client
from pipeline.records import Records
from pipeline.sandbox.harness import Sandbox
from pipeline.sandbox.supervisor import kubeconfig
from tests.launchdarkly.conftest import Ld

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ld_and_kube():
    with Sandbox(["launchdarkly", "kube"]) as sb:
        yield Ld(sb)


def config_file(ld: Ld, tmp_path: Path) -> Path:
    (tmp_path / "kubeconfig").write_text(kubeconfig(ld.sb.urls["kube"]))
    path = tmp_path / "pipeline.toml"
    path.write_text(f"""
[defaults]
[env.local.kube]
kubeconfig = "{tmp_path / 'kubeconfig'}"
[env.local.flags]
api_url = "${{SANDBOX_LAUNCHDARKLY_URL}}"
stream_url = "${{SANDBOX_LAUNCHDARKLY_URL}}"
events_url = "${{SANDBOX_LAUNCHDARKLY_URL}}"
environment = "local"
project = "klaviyo-sync"
""")
    return path


def flag_on(ld: Ld, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **ld.sb.env(), "CI": "true"}
    return subprocess.run([sys.executable, "-m", "invoke", "-r", str(REPO), "flag-on", "--env", "local",
                           "--config", str(config_file(ld, tmp_path)), *args], capture_output=True, text=True,
                          env=env, timeout=60, cwd=tmp_path)


def test_flag_on_turns_the_kill_switch_back_on_verified_and_recorded(ld_and_kube, tmp_path):
    ld = ld_and_kube
    assert ld.turn(False).status_code == 200 and ld.flag()["environments"]["local"]["on"] is False
    refused = flag_on(ld, tmp_path)
    assert refused.returncode == 2 and "without --yes" in refused.stderr
    assert ld.flag()["environments"]["local"]["on"] is False          # nothing changed
    done = flag_on(ld, tmp_path, "--yes", "--reason", "incident 42 over")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ld.flag()["environments"]["local"]["on"] is True
    assert "the SDK served" in done.stdout and ld.token not in done.stdout + done.stderr
    config = load_config("local", tmp_path / "pipeline.toml", ld.sb.env())
    newest = Records.for_environment(config, api_client(config.kube), None).view().documents[-1]
    assert newest["kind"] == "flag" and newest["data"]["reason"] == "incident 42 over"
    assert newest["data"]["result"]["outcome"] == "done" and ld.token not in str(newest)
    again = flag_on(ld, tmp_path, "--yes")
    assert again.returncode == 0 and "already ON" in again.stdout
