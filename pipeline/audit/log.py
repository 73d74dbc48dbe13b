"""The local JSONL audit log: append-only, hash-chained JSON lines, one file per environment.

The pipeline no longer writes it: deploys and rollbacks keep one record each in the cluster
(``pipeline.records``, docs/audit.md). This module stays as the format of logs written before,
which ``invoke audit.import`` migrates once and ``invoke audit.verify --path`` still checks, and
as the shared helpers the record store uses (``canonical``, ``sanitize``, actor, RFC 3339 time).

Default path ``.pipeline/audit/<env>.jsonl`` (relative to the working directory; override
with ``path=`` / ``--path`` or ``$PIPELINE_AUDIT_DIR``). Each line is one entry::

    {"seq": 7, "time": "2026-11-22T17:30:31.336676Z", "run": "<uuid4 hex>",
     "actor": {"name": "Ada", "email": "ada@example.com", "github_actor": "ada",
               "run_url": "https://github.com/o/r/actions/runs/1/attempts/1"},
     "env": "prod", "app": "klaviyo-sync", "kind": "gate", "data": {...},
     "prev_hash": "<hash of entry 6>", "hash": "<sha256 hex>"}

``hash`` = sha256 over the canonical JSON of the entry without ``hash`` (sorted keys, no
spaces, UTF-8); the first entry's ``prev_hash`` is 64 zeros. ``run`` groups the entries
of one ``invoke deploy``/``rollback`` invocation.

What :func:`verify` detects: an edited entry (its hash no longer matches), an inserted,
removed or reordered entry (``seq``/``prev_hash`` break at that line), a torn or
non-JSON line. What it cannot detect on its own: removal of the LAST entries (the
remaining chain is still valid) and a wholesale rewrite that recomputes every hash. Both
are caught only against an external anchor: a head hash recorded elsewhere (the GitHub job
summary, a ticket) and passed as ``verify(path, expect_head=...)``, which must then occur
in the chain.

Secrets are never written: every string (keys and values, nested) goes through
``pipeline.secrets.redact`` with the known secrets, and a key named like
``*key*``/``*token*``/``*secret*``/``*password*``/``*credential*`` holding a string that is
not masked is refused (:class:`AuditError`), so a caller's mistake fails loudly instead of
leaking. Appends take an exclusive ``fcntl.flock`` on the file, so concurrent appenders
(two deploys, a deploy and a rollback) interleave whole entries and the chain stays
consistent; each append is one ``write`` followed by ``fsync``.
"""
from __future__ import annotations

import dataclasses
import enum
import fcntl
import hashlib
import json
import os
import re
import subprocess
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from pipeline.secrets import MASK, Secret, redact

GENESIS = "0" * 64
DEFAULT_DIR = Path(".pipeline") / "audit"
DIR_VARIABLE = "PIPELINE_AUDIT_DIR"
FIELDS = ("seq", "time", "run", "actor", "env", "app", "kind", "data", "prev_hash", "hash")
# The kinds the pipeline writes (docs/audit.md); others are allowed if snake_case.
KINDS = ("deploy_started", "lock_acquired", "preflight", "rollout_step", "gate", "verdict",
         "rollback_started", "rollback_action", "rollback_finished", "deploy_finished", "lock_released", "note")
SENSITIVE_KEY = re.compile(r"key|token|secret|password|passwd|credential", re.IGNORECASE)
_KIND = re.compile(r"[a-z][a-z0-9_]*")
_ENV = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class AuditError(ValueError):
    """The entry cannot be written (it would leak a secret, or the log is damaged)."""


# --------------------------------------------------------------------------- pure parts

def default_path(env: str, environ: Mapping[str, str] | None = None) -> Path:
    """``$PIPELINE_AUDIT_DIR/<env>.jsonl``, else ``.pipeline/audit/<env>.jsonl``."""
    if not _ENV.fullmatch(env):
        raise AuditError(f"environment name {env!r} cannot name an audit file: use letters, digits, . _ -")
    environ = os.environ if environ is None else environ
    return Path(environ.get(DIR_VARIABLE) or DEFAULT_DIR) / f"{env}.jsonl"


def canonical(entry: Mapping[str, Any]) -> bytes:
    """The bytes that are hashed: sorted keys, no spaces, UTF-8, no NaN/Infinity."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def entry_hash(entry: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON of ``entry`` without its ``hash`` field."""
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def utc_now() -> str:
    return rfc3339(datetime.now(timezone.utc))


def rfc3339(moment: datetime) -> str:
    """UTC RFC 3339 with exactly six fraction digits: ``2026-11-22T17:30:31.336676Z``."""
    if moment.tzinfo is None:
        raise AuditError(f"time {moment!r} has no timezone")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def actor_from(environ: Mapping[str, str], git_name: str = "", git_email: str = "") -> dict[str, str]:
    """Who acts: git user/email (else $USER), plus the GitHub actor and run URL in Actions."""
    actor: dict[str, str] = {"name": git_name or environ.get("USER") or environ.get("USERNAME") or "unknown"}
    if git_email:
        actor["email"] = git_email
    if environ.get("GITHUB_ACTIONS") == "true":
        if environ.get("GITHUB_ACTOR"):
            actor["github_actor"] = environ["GITHUB_ACTOR"]
        server = environ.get("GITHUB_SERVER_URL", "https://github.com")
        repo, run_id = environ.get("GITHUB_REPOSITORY"), environ.get("GITHUB_RUN_ID")
        if repo and run_id:
            url = f"{server}/{repo}/actions/runs/{run_id}"
            if environ.get("GITHUB_RUN_ATTEMPT"):
                url += f"/attempts/{environ['GITHUB_RUN_ATTEMPT']}"
            actor["run_url"] = url
    return actor


def current_actor() -> dict[str, str]:
    """:func:`actor_from` with this process's environment and ``git config``."""
    return actor_from(os.environ, _git_config("user.name"), _git_config("user.email"))


def _git_config(key: str) -> str:
    try:
        out = subprocess.run(["git", "config", "--get", key], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def sanitize(value: Any, secrets: Iterable[Secret | None], where: str = "data") -> Any:
    """JSON-ready copy of ``value`` with every string redacted; refuses unmasked secrets by key."""
    secrets = list(secrets)
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, enum.Enum):
        return sanitize(value.value, secrets, where)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        clean: dict[str, Any] = {}
        for key, item in value.items():
            name = redact(str(key), secrets)
            path = f"{where}.{name}"
            if SENSITIVE_KEY.search(name):
                _refuse_unmasked(item, path)
            clean[name] = sanitize(item, secrets, path)
        return clean
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [sanitize(item, secrets, f"{where}[{i}]") for i, item in enumerate(items)]
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact(str(value), secrets)


def _refuse_unmasked(value: Any, path: str) -> None:
    if isinstance(value, Secret) or value is None or isinstance(value, (bool, int, float)):
        return
    if isinstance(value, str):
        if value and MASK not in value:
            raise AuditError(f"audit entry field {path} looks like a credential and holds an unmasked "
                             f"value; pass a pipeline.secrets.Secret or a masked string ('{MASK}')")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _refuse_unmasked(item, f"{path}[{i}]")


# --------------------------------------------------------------------------- verification

@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    path: str
    entries: int                   # entries checked (up to the first bad one)
    head: str                      # hash of the last good entry (GENESIS for an empty log)
    bad_line: int | None = None    # 1-based line number of the first problem
    reason: str = ""               # why the line is bad, or why the anchor failed
    anchored_at: int | None = None  # seq of the entry whose hash equals expect_head

    def describe(self) -> str:
        if self.ok:
            anchor = f"; anchor found at entry {self.anchored_at}" if self.anchored_at else ""
            return f"{self.path}: intact, {self.entries} entries, head {self.head}{anchor}"
        where = f"line {self.bad_line}: " if self.bad_line else ""
        return f"{self.path}: BROKEN at {where}{self.reason}"


def verify(path: str | Path, expect_head: str | None = None) -> VerifyResult:
    """Check the whole chain; name the first bad line and why. See the module docstring."""
    path = Path(path)
    if not path.exists():
        if expect_head:
            return VerifyResult(False, str(path), 0, GENESIS, None,
                                f"no audit log, but the anchor {expect_head} was expected")
        return VerifyResult(True, str(path), 0, GENESIS, reason="no audit log yet")
    head, seq, anchored = GENESIS, 0, None
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            problem = _check_line(raw, seq + 1, head)
            if isinstance(problem, str):
                return VerifyResult(False, str(path), seq, head, number, problem)
            head, seq = problem["hash"], problem["seq"]
            if expect_head and head == expect_head:
                anchored = seq
    if expect_head and anchored is None:
        return VerifyResult(False, str(path), seq, head, None,
                            f"anchor {expect_head} is not in the chain (entries removed from the end, "
                            f"or the log was rewritten); head is now {head} after {seq} entries")
    return VerifyResult(True, str(path), seq, head, anchored_at=anchored)


def _check_line(raw: bytes, expected_seq: int, prev_hash: str) -> dict[str, Any] | str:
    if not raw.endswith(b"\n"):
        return "torn entry: the line does not end with a newline (interrupted write?)"
    try:
        entry = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return f"not JSON ({exc.msg if hasattr(exc, 'msg') else exc})"
    return check_entry(entry, expected_seq, prev_hash)


def check_entry(entry: Any, expected_seq: int, prev_hash: str) -> dict[str, Any] | str:
    """The entry if it follows ``prev_hash`` as entry ``expected_seq``; else why not."""
    if not isinstance(entry, dict):
        return "not a JSON object"
    missing = [name for name in FIELDS if name not in entry]
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    if entry["seq"] != expected_seq:
        return (f"seq {entry['seq']!r} where {expected_seq} was expected "
                "(an entry was removed, inserted or moved)")
    if entry["prev_hash"] != prev_hash:
        return "prev_hash does not match the previous entry's hash (an entry was removed, inserted or moved)"
    if entry["hash"] != entry_hash(entry):
        return "hash does not match the entry's content (the entry was edited)"
    return entry


def entries(path: str | Path) -> Iterator[dict[str, Any]]:
    """Every parseable entry in order (no verification: run :func:`verify` for that)."""
    path = Path(path)
    if not path.exists():
        return
    with path.open("rb") as handle:
        for raw in handle:
            try:
                entry = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(entry, dict):
                yield entry


# --------------------------------------------------------------------------- appending

@dataclass
class AuditLog:
    """Appends entries for one invocation (one ``run`` id) of the pipeline."""
    path: Path
    env: str
    app: str
    secrets: tuple[Secret | None, ...] = ()
    actor: dict[str, str] = field(default_factory=current_actor)
    run: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def for_env(cls, env: str, app: str, secrets: Iterable[Secret | None] = (),
                path: str | Path | None = None, **kwargs: Any) -> "AuditLog":
        return cls(Path(path) if path else default_path(env), env, app, tuple(secrets), **kwargs)

    def append(self, kind: str, data: Mapping[str, Any] | None = None,
               now: datetime | None = None) -> dict[str, Any]:
        """Write one entry and return it (with its ``hash``: the new head)."""
        if not _KIND.fullmatch(kind):
            raise AuditError(f"audit kind {kind!r} must be snake_case, e.g. {', '.join(KINDS[:3])}")
        clean = sanitize(dict(data or {}), self.secrets)
        actor = sanitize(self.actor, self.secrets, "actor")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            seq, prev_hash = _tail(fd, self.path)
            entry = {"seq": seq + 1, "time": rfc3339(now) if now else utc_now(), "run": self.run,
                     "actor": actor, "env": self.env, "app": self.app, "kind": kind, "data": clean,
                     "prev_hash": prev_hash}
            entry["hash"] = entry_hash(entry)
            os.write(fd, canonical(entry) + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)                 # closing releases the flock
        return entry


def _tail(fd: int, path: Path) -> tuple[int, str]:
    """(seq, hash) of the last entry in the open file; (0, GENESIS) when empty."""
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0:
        return 0, GENESIS
    chunk, position = b"", size
    while position > 0:
        step = min(4096, position)
        position -= step
        chunk = os.pread(fd, step, position) + chunk
        if chunk.count(b"\n") >= 2 or position == 0:
            break
    if not chunk.endswith(b"\n"):
        raise AuditError(f"audit log {path} ends with a torn entry; run `invoke audit.verify` and repair "
                         "the file before appending (nothing was written)")
    last = chunk[:-1].rsplit(b"\n", 1)[-1]
    try:
        entry = json.loads(last)
        return int(entry["seq"]), str(entry["hash"])
    except (ValueError, KeyError, TypeError):
        raise AuditError(f"audit log {path}: the last entry is not a valid entry; run `invoke audit.verify` "
                         "(nothing was written)") from None
