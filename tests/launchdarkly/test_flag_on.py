"""`invoke flag-on`: on-call turns the kill switch back on from the command line, verified
through a connected SDK like the off path, recorded in the audit log; refuses without --yes in CI."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipeline.audit.log import entries

REPO = Path(__file__).resolve().parents[2]


def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "pipeline.toml"
    path.write_text("""
[defaults]
[env.local.flags]
api_url = "${SANDBOX_LAUNCHDARKLY_URL}"
stream_url = "${SANDBOX_LAUNCHDARKLY_URL}"
events_url = "${SANDBOX_LAUNCHDARKLY_URL}"
environment = "local"
project = "klaviyo-sync"
""")
    return path


def flag_on(ld, tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **ld.sb.env(), "CI": "true", "PIPELINE_AUDIT_DIR": str(tmp_path / "audit")}
    return subprocess.run([sys.executable, "-m", "invoke", "-r", str(REPO), "flag-on", "--env", "local",
                           "--config", str(config_file(tmp_path)), *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_flag_on_turns_the_kill_switch_back_on_verified_and_recorded(ld, tmp_path):
    assert ld.turn(False).status_code == 200 and ld.flag()["environments"]["local"]["on"] is False
    refused = flag_on(ld, tmp_path)
    assert refused.returncode == 2 and "without --yes" in refused.stderr
    assert ld.flag()["environments"]["local"]["on"] is False          # nothing changed
    done = flag_on(ld, tmp_path, "--yes", "--reason", "incident 42 over")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ld.flag()["environments"]["local"]["on"] is True
    assert "the SDK served" in done.stdout and ld.token not in done.stdout + done.stderr
    kinds = [(e["kind"], e["data"].get("outcome")) for e in entries(tmp_path / "audit" / "local.jsonl")]
    assert kinds == [("note", None), ("rollback_action", "done")]
    again = flag_on(ld, tmp_path, "--yes")
    assert again.returncode == 0 and "already ON" in again.stdout
