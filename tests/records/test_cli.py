"""`invoke history` and `invoke audit.*` as a user runs them, against the kube stand-in."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from pipeline.audit.history import HistoryRow
from pipeline.audit.log import AuditLog
from pipeline.cli.history import table
from pipeline.records import Stored, deploy_record, layout, rollback_record
from pipeline.records.store import open_environment

from .conftest import REPO

KEY = "a-signing-key-of-the-test-environment-0123456789"


@pytest.fixture(scope="module")
def setup(cluster, tmp_path_factory):
    """A config for environment ``test`` whose store already holds a deploy, a failed deploy and a rollback."""
    base = tmp_path_factory.mktemp("cli")
    config = cluster.config_file(base / "pipeline.toml")
    environ = {"PATH": os.environ["PATH"], "HOME": str(base), "PYTHONPATH": str(REPO), "COLUMNS": "80",
               "PIPELINE_RECORDS_SIGNING_KEY": KEY, "no_proxy": "127.0.0.1,localhost", "USER": "ada"}
    from pipeline.config import load_config

    store = open_environment(load_config("test", config, environ))
    assert store.key is not None
    store.actor = {"name": "runner", "github_actor": "octocat"}
    store.append("deploy", deploy_record({"image": "klaviyo-sync:1.3.0", "outcome": "deployed", "commit": "3" * 40,
                                          "duration_seconds": 42.0}, pod_template_hash="h13"))
    store.append("deploy", deploy_record({"image": "klaviyo-sync:1.4.0-bad-auth", "outcome": "rolled_back",
                                          "commit": "4" * 40, "rollback": [{"mechanism": "flag"},
                                                                           {"mechanism": "undo"}]},
                                         pod_template_hash="hbad"))
    store.append("rollback", rollback_record({"mechanisms": ["undo"], "ok": True, "results": [
        {"mechanism": "undo", "data": {"to_image": "klaviyo-sync:1.3.0"}}]}))
    return config, environ, store, base


def invoke(environ: dict, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """The command as a user runs it (its own process)."""
    return subprocess.run([sys.executable, "-m", "invoke", "-r", str(REPO), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=environ)


@pytest.fixture
def task(monkeypatch, capsys):
    """Run a task in this process (faster than a process per call): returns (exit code, stdout, stderr)."""
    from invoke import Context, Exit

    def run(function, environ: dict, **kwargs) -> tuple[int, str, str]:
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        try:
            function(Context(), **kwargs)
            code = 0
        except Exit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err
    return run


def test_history_at_80_columns_keeps_actor_and_outcome_readable(setup):
    config, environ, _, base = setup
    shown = invoke(environ, base, "history", "--env", "test", "--config", str(config))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = [line for line in lines if re.match(r"\s*\d+\s+\d{4}-\d\d-\d\d", line)]     # first line of each row
    assert len(rows) == 3 and all("octocat" in line for line in rows)
    assert "rolled_back" in shown.stdout and "deployed" in shown.stdout and " done " in shown.stdout
    data = json.loads(invoke(environ, base, "history", "--env", "test", "--config", str(config), "--json").stdout)
    assert data["chain_intact"] and [r["outcome"] for r in data["rows"]] == ["done", "rolled_back", "deployed"]


def test_history_table_at_80_columns_with_long_values():
    rows = [HistoryRow("2026-11-22T17:30:31.000000Z", "deploy", "dependabot-preview", "ghcr.io/acme/klaviyo-sync:"
                       "1.4.0-bad-webhook-secret", "a" * 12, "rollback_failed", 61.0, "9", "flag+undo+git", seq=9),
            HistoryRow("2026-11-22T17:20:00.000000Z", "rollback", "ada", "klaviyo-sync:1.3.0", "", "done", 2.0,
                       "8", "undo", seq=8)]
    console = Console(width=80, record=True, file=open(os.devnull, "w"))
    console.print(table(rows, "prod", 80))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "rollback_failed" in text and "dependabot-" in text and "ada" in text and "2026-11-22" in text
    columns = {line.index("actor") for line in text.splitlines() if "actor" in line}
    assert columns and all(column > 0 for column in columns)


def test_verify_export_and_offline_check(setup, tmp_path, task):
    from pipeline.cli import audit, history

    config, environ, store, base = setup
    code, out, _ = task(audit.verify, environ, env="test", config=str(config))
    assert code == 0 and "intact: 3 records (1..3)" in out and "signatures valid" in out
    bundle = tmp_path / "bundle.json"
    code, _, err = task(audit.export, environ, env="test", config=str(config), since="2000-01-01",
                        output=str(bundle))
    assert code == 0 and "wrote 3 records" in err and json.loads(bundle.read_text())["check"]["ok"]
    code, out, _ = task(audit.verify, environ, path=str(bundle), env="test", config=str(config))
    assert code == 0 and "signatures valid" in out
    code, out, _ = task(audit.head, environ, env="test", config=str(config))
    assert out.strip() == store.verify().head_hash
    for function, bad in ((audit.export, dict(env="test", config=str(config), output="x", since="last week")),
                          (audit.verify, {}), (audit.verify, dict(env="nope", config=str(config))),
                          (history.history, dict(env="test", config=str(config), limit="0"))):
        assert task(function, environ, **bad)[0] == 2, bad


def test_tampering_fails_verify_and_a_repair_lets_writers_continue(cluster, tmp_path, task):
    from pipeline.cli import audit
    from pipeline.config import load_config

    config = cluster.config_file(tmp_path / "pipeline.toml", env="tamper")
    environ = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(REPO), "COLUMNS": "120",
               "no_proxy": "127.0.0.1,localhost"}
    store = open_environment(load_config("tamper", config, environ))
    for image in ("app:1", "app:2", "app:3"):
        store.append("deploy", deploy_record({"image": image, "outcome": "deployed"}))
    store.driver.delete(layout.record_name("klaviyo-sync", "tamper", 2))
    broken = invoke(environ, tmp_path, "audit.verify", "--env", "tamper", "--config", str(config))
    assert broken.returncode == 1 and "BROKEN" in broken.stdout
    assert "record(s) 2 missing after record 1 (before record 3 (deploy" in broken.stdout
    code, _, err = task(audit.repair, environ, env="tamper", config=str(config), reason="x")
    assert code == 2 and "--yes" in err
    code, out, _ = task(audit.repair, environ, env="tamper", config=str(config),
                        reason="ada: record 2 deleted by mistake (ticket 7)", yes=True)
    assert code == 0 and "repair record 4 accepts 1 problem(s)" in out
    assert task(audit.verify, environ, env="tamper", config=str(config))[0] == 0
    stored = store.driver.get(layout.record_name("klaviyo-sync", "tamper", 3))
    store.driver.update(Stored(stored.name, "record", stored.labels, {**stored.document, "kind": "rollback"}))
    assert task(audit.verify, environ, env="tamper", config=str(config))[0] == 1


def test_import_a_legacy_log_then_history_lists_it(cluster, tmp_path, task):
    from pipeline.cli import audit, history

    config = cluster.config_file(tmp_path / "pipeline.toml", env="migrate")
    environ = {"COLUMNS": "120"}
    log_path = tmp_path / "migrate.jsonl"
    log = AuditLog(log_path, "migrate", "klaviyo-sync", actor={"name": "old"})
    log.append("deploy_started", {"image": "klaviyo-sync:0.9.0", "commit": "9" * 40})
    log.append("deploy_finished", {"outcome": "deployed"})
    code, out, err = task(audit.import_, environ, env="migrate", config=str(config), path=str(log_path))
    assert code == 0 and "imported 2 entries" in out, err
    code, out, _ = task(audit.import_, environ, env="migrate", config=str(config), path=str(log_path))
    assert code == 0 and "nothing new" in out
    code, out, _ = task(history.history, environ, env="migrate", config=str(config))
    assert "klaviyo-sync:0.9.0" in out and "deployed" in out
    code, out, _ = task(audit.prune, environ, env="migrate", config=str(config), dry_run=True)
    assert code == 0 and "0 record(s) older than" in out and "(365 days)" in out
