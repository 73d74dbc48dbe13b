"""Audit log: chain, what verify detects, secrets, concurrency, actor, history, CLI."""
from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline.audit import GENESIS, AuditError, AuditLog, actor_from, canonical, default_path, entry_hash, verify
from pipeline.audit.history import history
from pipeline.audit.log import entries
from pipeline.secrets import MASK, Secret

REPO = Path(__file__).resolve().parents[2]
ACTOR = {"name": "Ada", "email": "ada@example.com"}
T0 = datetime(2026, 11, 22, 17, 30, 31, 336676, tzinfo=timezone.utc)


def log_at(path: Path, **kwargs) -> AuditLog:
    kwargs.setdefault("actor", dict(ACTOR))
    return AuditLog(path, "prod", "klaviyo-sync", **kwargs)


def write(path: Path, n: int = 5) -> list[dict]:
    log = log_at(path)
    return [log.append("note", {"i": i}, now=T0 + timedelta(seconds=i)) for i in range(n)]


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_entry_shape_and_chain(tmp_path):
    path = tmp_path / "prod.jsonl"
    first, second = write(path, 2)
    assert first["seq"] == 1 and first["prev_hash"] == GENESIS
    assert second["prev_hash"] == first["hash"]
    assert first["time"] == "2026-11-22T17:30:31.336676Z"
    assert set(first) == {"seq", "time", "run", "actor", "env", "app", "kind", "data", "prev_hash", "hash"}
    assert first["hash"] == entry_hash(first) and len(first["hash"]) == 64
    # the line is the canonical JSON itself: sorted keys, no spaces
    assert lines(path)[0] == canonical(first) + b"\n"
    result = verify(path)
    assert result.ok and result.entries == 2 and result.head == second["hash"]


def test_time_is_utc_with_microseconds(tmp_path):
    entry = log_at(tmp_path / "x.jsonl").append("note", now=datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1))))
    assert entry["time"] == "2026-01-01T00:00:00.000000Z"
    assert log_at(tmp_path / "y.jsonl").append("note")["time"].endswith("Z")


def test_empty_and_missing_logs(tmp_path):
    assert verify(tmp_path / "none.jsonl").ok
    assert not verify(tmp_path / "none.jsonl", expect_head="ab" * 32).ok
    (tmp_path / "empty.jsonl").write_text("")
    assert verify(tmp_path / "empty.jsonl").head == GENESIS


def tamper(path: Path, change) -> None:
    content = lines(path)
    change(content)
    path.write_bytes(b"".join(content))


def test_edit_is_detected_at_its_line(tmp_path):
    path = tmp_path / "a.jsonl"
    write(path)
    tamper(path, lambda ls: ls.__setitem__(2, ls[2].replace(b'"i":2', b'"i":9')))
    result = verify(path)
    assert not result.ok and result.bad_line == 3 and "edited" in result.reason and result.entries == 2


def test_insertion_is_detected(tmp_path):
    path = tmp_path / "a.jsonl"
    write(path)
    tamper(path, lambda ls: ls.insert(1, ls[1]))
    result = verify(path)
    assert not result.ok and result.bad_line == 3 and "seq 2" in result.reason


def test_insertion_with_recomputed_hash_is_still_detected(tmp_path):
    path = tmp_path / "a.jsonl"
    entries_ = write(path, 3)
    forged = dict(entries_[0], seq=2, data={"forged": True}, prev_hash=entries_[0]["hash"])
    forged["hash"] = entry_hash(forged)
    tamper(path, lambda ls: ls.insert(1, canonical(forged) + b"\n"))
    result = verify(path)
    assert not result.ok and result.bad_line == 3      # the real entry 2 no longer follows


def test_reorder_is_detected(tmp_path):
    path = tmp_path / "a.jsonl"
    write(path)
    tamper(path, lambda ls: ls.__setitem__(slice(1, 3), [ls[2], ls[1]]))
    result = verify(path)
    assert not result.ok and result.bad_line == 2


def test_deletion_in_the_middle_is_detected(tmp_path):
    path = tmp_path / "a.jsonl"
    write(path)
    tamper(path, lambda ls: ls.pop(1))
    result = verify(path)
    assert not result.ok and result.bad_line == 2 and "removed" in result.reason


def test_truncated_tail_needs_an_anchor(tmp_path):
    path = tmp_path / "a.jsonl"
    anchor = write(path)[-1]["hash"]
    tamper(path, lambda ls: ls.pop())
    assert verify(path).ok                                   # undetectable on its own
    result = verify(path, expect_head=anchor)
    assert not result.ok and "anchor" in result.reason


def test_anchor_from_an_earlier_head_still_verifies_a_grown_log(tmp_path):
    path = tmp_path / "a.jsonl"
    anchor = write(path, 2)[-1]["hash"]
    log_at(path).append("note")
    result = verify(path, expect_head=anchor)
    assert result.ok and result.anchored_at == 2


def test_torn_and_garbage_lines(tmp_path):
    path = tmp_path / "a.jsonl"
    write(path, 2)
    with path.open("ab") as handle:
        handle.write(b'{"seq":3,')
    result = verify(path)
    assert not result.ok and result.bad_line == 3 and "torn" in result.reason
    with pytest.raises(AuditError, match="torn"):
        log_at(path).append("note")
    assert lines(path)[-1] == b'{"seq":3,'                  # nothing written
    path.write_bytes(lines(path)[0] + b"not json\n")
    assert "not JSON" in verify(path).reason


def test_secrets_are_redacted_everywhere(tmp_path):
    key = Secret("KLAVIYO_PRIVATE_KEY", "pk_live_abcdef0123456789")
    hook = Secret("KLAVIYO_WEBHOOK_SIGNING_SECRET", "whsec_s3cr3tvalue")
    path = tmp_path / "a.jsonl"
    log = log_at(path, secrets=(key, hook, None))
    log.append("preflight", {"detail": f"401 for key {key.reveal()}",
                             "nested": [{"msg": "sig " + hook.reveal()}],
                             "api_key": key, "token_masked": MASK, "key_count": 2, "secret_present": True,
                             "other pk_abcdefghij shape": 1})
    text = path.read_text()
    assert key.reveal() not in text and hook.reveal() not in text and "pk_abcdefghij" not in text
    assert verify(path).ok


@pytest.mark.parametrize("data", [
    {"private_key": "pk_whatever_but_not_known"},
    {"LAUNCHDARKLY_API_TOKEN": "api-123"},
    {"inner": {"webhook_secret": "plain"}},
    {"tokens": ["ok" + MASK, "plain"]},
])
def test_sensitive_keys_with_unmasked_values_are_refused(tmp_path, data):
    path = tmp_path / "a.jsonl"
    with pytest.raises(AuditError, match="looks like a credential"):
        log_at(path).append("note", data)
    assert not path.exists() or path.read_text() == ""


def test_bad_kind_is_refused(tmp_path):
    with pytest.raises(AuditError, match="snake_case"):
        log_at(tmp_path / "a.jsonl").append("Deploy Started")


def _append_many(path: str, worker: int, count: int) -> None:
    log = AuditLog(Path(path), "prod", "app", actor={"name": f"w{worker}"})
    for i in range(count):
        log.append("note", {"worker": worker, "i": i})


def test_concurrent_appenders_keep_the_chain(tmp_path):
    path = tmp_path / "a.jsonl"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_many, args=(str(path), w, 25)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    result = verify(path)
    assert result.ok and result.entries == 100


def test_actor_from_git_user_and_github():
    assert actor_from({"USER": "ada"}) == {"name": "ada"}
    assert actor_from({"USER": "ada"}, "Ada L", "ada@x") == {"name": "Ada L", "email": "ada@x"}
    gh = {"GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "octo", "GITHUB_SERVER_URL": "https://github.com",
          "GITHUB_REPOSITORY": "acme/sync", "GITHUB_RUN_ID": "42", "GITHUB_RUN_ATTEMPT": "2", "USER": "runner"}
    assert actor_from(gh) == {"name": "runner", "github_actor": "octo",
                              "run_url": "https://github.com/acme/sync/actions/runs/42/attempts/2"}


def test_default_path(tmp_path):
    assert default_path("prod", {}) == Path(".pipeline/audit/prod.jsonl")
    assert default_path("prod", {"PIPELINE_AUDIT_DIR": str(tmp_path)}) == tmp_path / "prod.jsonl"
    with pytest.raises(AuditError, match="environment name"):
        default_path("../etc", {})


def record_history(path: Path) -> None:
    deploy = log_at(path)
    deploy.append("deploy_started", {"image": "klaviyo-sync:1.4.0", "commit": "a" * 40}, now=T0)
    deploy.append("gate", {"gate": 1}, now=T0 + timedelta(seconds=5))
    deploy.append("deploy_finished", {"outcome": "deployed", "exit_code": 0}, now=T0 + timedelta(seconds=65))
    bad = log_at(path)
    bad.append("deploy_started", {"image": "klaviyo-sync:1.5.0", "commit": "b" * 40}, now=T0 + timedelta(hours=1))
    bad.append("rollback_started", {"via": "undo", "automatic": True}, now=T0 + timedelta(hours=1, seconds=30))
    bad.append("deploy_finished", {"outcome": "rolled_back", "exit_code": 5}, now=T0 + timedelta(hours=1, seconds=40))
    manual = log_at(path, actor={"name": "runner", "github_actor": "oncall"})
    manual.append("rollback_started", {"via": "flag", "target": "kill switch off"}, now=T0 + timedelta(hours=2))
    log_at(path).append("deploy_started", {"image": "klaviyo-sync:1.6.0"}, now=T0 + timedelta(hours=3))


def test_history_rows(tmp_path):
    path = tmp_path / "prod.jsonl"
    record_history(path)
    rows = history(entries(path))
    assert [r.kind for r in rows] == ["deploy", "rollback", "deploy", "deploy"]
    assert [r.outcome for r in rows] == ["unfinished", "unfinished", "rolled_back", "deployed"]
    assert rows[2].rollback == "undo" and rows[2].duration_seconds == 40 and rows[2].commit == "b" * 12
    assert rows[3].duration_seconds == 65 and rows[3].actor == "Ada" and rows[3].image == "klaviyo-sync:1.4.0"
    assert rows[1].actor == "oncall"
    assert len(history(entries(path), limit=2)) == 2


def invoke(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(REPO), "COLUMNS": "200"})


def test_cli_verify_history_and_head(tmp_path):
    path = tmp_path / "prod.jsonl"
    record_history(path)
    ok = invoke("audit.verify", "--path", str(path))
    assert ok.returncode == 0 and "intact" in ok.stdout and verify(path).head in ok.stdout
    head = invoke("audit.head", "--path", str(path))
    assert head.stdout.strip() == verify(path).head
    shown = invoke("history", "--path", str(path), "--json", "--limit", "3")
    data = json.loads(shown.stdout)
    assert shown.returncode == 0 and data["chain_intact"] and len(data["rows"]) == 3
    table = invoke("history", "--path", str(path))
    assert "klaviyo-sync:1.5.0" in table.stdout and "rolled_back" in table.stdout
    tamper(path, lambda ls: ls.pop(1))
    broken = invoke("audit.verify", "--path", str(path))
    assert broken.returncode == 1 and "BROKEN" in broken.stdout and "line 2" in broken.stdout
    assert invoke("audit.verify").returncode == 2
    assert invoke("audit.verify", "--env", "../x").returncode == 2
