"""`invoke audit.*`: the release records in the cluster (docs/audit.md).

* ``audit.verify --env ENV``: check the chain (hashes, links, head, signatures); ``--path FILE``
  checks an exported bundle, a records JSONL export or a legacy local JSONL log instead.
* ``audit.head --env ENV``: print the head hash of an intact chain.
* ``audit.export --env ENV [--since DATE] --output FILE``: a verified bundle for archival.
* ``audit.import --env ENV --path FILE``: import a legacy local JSONL log (once).
* ``audit.repair --env ENV --reason TEXT --yes``: accept the chain's problems in a record.
* ``audit.prune --env ENV [--dry-run] --yes``: delete records older than records.retention_days.

Exit codes: 0 intact / done, 1 the chain is broken (nothing written), 2 bad input,
3 the cluster could not be read or written.
"""
from __future__ import annotations

import json as jsonlib
import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NoReturn

from invoke import Exit, task
from rich.console import Console

from pipeline.exit_codes import ExitCode

CONFIG_HELP = "configuration file (default pipeline.toml)"


# --------------------------------------------------------------------------- plumbing

def fail(message: str, code: ExitCode) -> NoReturn:
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[red]error:[/] {message}")
    raise Exit(code=int(code))


def open_store(env: str, config: str) -> Any:
    """The environment's record store; bad input exits 2."""
    from pipeline.config import ConfigError, load_config
    from pipeline.kube.client import KubeConfigError
    from pipeline.records.store import open_environment

    if not env:
        fail("give --env ENV (an environment in pipeline.toml)", ExitCode.USAGE)
    try:
        return open_environment(load_config(env, config))
    except (ConfigError, KubeConfigError) as exc:
        fail(str(exc), ExitCode.USAGE)


def cluster_errors() -> tuple[type[BaseException], ...]:
    from pipeline.records.driver import RecordsError

    return (RecordsError,)


def failed(exc: BaseException) -> NoReturn:
    """A refusal (broken chain, bad import, missing key) exits 1; the cluster failing exits 3."""
    from pipeline.records.store import Refused

    fail(str(exc), ExitCode.FAILED_CHECK if isinstance(exc, Refused) else ExitCode.CHECK_ERROR)


def parse_since(text: str, now: datetime | None = None) -> datetime | None:
    """``2026-01-31``, an RFC 3339 time, or ``30d`` (days ago); empty: everything."""
    if not text:
        return None
    now = now or datetime.now(timezone.utc)
    if re.fullmatch(r"\d+d", text):
        return now - timedelta(days=int(text[:-1]))
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since {text!r} is not a date (2026-01-31), an RFC 3339 time or a number of "
                         "days (30d)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _print_check(check: Any, json: bool, extra: dict[str, Any] | None = None) -> None:
    if json:
        sys.stdout.write(jsonlib.dumps({**(extra or {}), **check.to_json()}, indent=2) + "\n")
        return
    console = Console(highlight=False, soft_wrap=True)
    style = "green" if check.ok else "bold red"
    first, _, rest = check.describe().partition("\n")
    console.print(f"[{style}]{first}[/]" + (f"\n{rest}" if rest else ""), markup=True)
    if check.ok and check.head_hash:
        console.print(f"head: {check.head_hash}")


# --------------------------------------------------------------------------- tasks

@task(help={"env": "environment whose release records to check (in its cluster)", "config": CONFIG_HELP,
            "path": "check this file instead: an exported bundle, a records JSONL export or a legacy JSONL log",
            "expect_head": "a hash recorded earlier (a job summary, an archive) that must be in the chain",
            "json": "print the result as JSON"})
def verify(c, env="", config="pipeline.toml", path="", expect_head="", json=False):
    """Verify the release records: hashes, links, the head, signatures; exit 0 intact, 1 broken."""
    from pipeline.records import files

    if path:
        check = files.verify_file(path, files.key_for(env, config) if env else None, expect_head or None)
        _print_check(check, json, {"path": path})
    else:
        store = open_store(env, config)
        try:
            check = files.anchored(store.verify(), store.view().documents, expect_head or None)
        except cluster_errors() as exc:
            failed(exc)
        _print_check(check, json, {"env": env, "store": store.driver.name})
    if not check.ok:
        raise Exit(code=int(ExitCode.FAILED_CHECK))


@task(help={"env": "environment (its cluster's release records)", "config": CONFIG_HELP,
            "path": "read this file instead (bundle, records JSONL or legacy JSONL)"})
def head(c, env="", config="pipeline.toml", path=""):
    """Print only the head hash of an intact chain (to anchor it elsewhere, e.g. a job summary)."""
    from pipeline.records import files

    try:
        check = files.verify_file(path, None, None) if path else open_store(env, config).verify()
    except cluster_errors() as exc:
        failed(exc)
    if not check.ok:
        sys.stderr.write(check.describe() + "\n")
        raise Exit(code=int(ExitCode.FAILED_CHECK))
    sys.stdout.write(f"{check.head_hash or check.last_hash}\n")


@task(help={"env": "environment whose release records to export", "config": CONFIG_HELP,
            "since": "records from this date on: 2026-01-31, an RFC 3339 time, or 30d (default: all)",
            "output": "file to write (\"-\": stdout)", "format": "bundle (default: records, head, check) or jsonl"})
def export(c, env="", config="pipeline.toml", since="", output="", format="bundle"):
    """Export the release records with their head and verification result, for write-once archival."""
    from pipeline.records import files

    if not output:
        fail("give --output FILE (or - for stdout)", ExitCode.USAGE)
    if format not in ("bundle", "jsonl"):
        fail(f"--format {format!r} is not one of bundle, jsonl", ExitCode.USAGE)
    try:
        start = parse_since(since)
    except ValueError as exc:
        fail(str(exc), ExitCode.USAGE)
    store = open_store(env, config)
    try:
        bundle = store.export(start)
    except cluster_errors() as exc:
        failed(exc)
    text = files.render(bundle, format)
    if output == "-":
        sys.stdout.write(text)
    else:
        Path(output).write_text(text, encoding="utf-8")
        Console(stderr=True, highlight=False).print(
            f"wrote {len(bundle['records'])} records to {output}; chain "
            f"{'intact' if bundle['check']['ok'] else 'BROKEN'}, signatures {bundle['check']['signature']}")
    if not bundle["check"]["ok"]:
        raise Exit(code=int(ExitCode.FAILED_CHECK))


@task(name="import", help={"env": "environment whose store receives the log", "config": CONFIG_HELP,
                           "path": "the local JSONL audit log (e.g. .pipeline/audit/prod.jsonl)"})
def import_(c, env="", config="pipeline.toml", path=""):
    """Import a local JSONL audit log into the release records, once, keeping its chain verifiable."""
    if not path or not Path(path).is_file():
        fail(f"give --path FILE, an existing JSONL audit log (got {path!r})", ExitCode.USAGE)
    store = open_store(env, config)
    try:
        written = store.import_log(path)
    except cluster_errors() as exc:
        failed(exc)
    count = sum(r["data"]["count"] for r in written)
    where = f"records {written[0]['seq']}..{written[-1]['seq']}" if written else "nothing new"
    Console(highlight=False).print(f"imported {count} entries of {path} ({where})")


@task(help={"env": "environment whose chain to repair", "config": CONFIG_HELP,
            "reason": "who looked and what they found (recorded)", "yes": "write the repair record"})
def repair(c, env="", config="pipeline.toml", reason="", yes=False):
    """Accept the chain's current problems in a signed repair record, so writers can continue."""
    if not reason.strip():
        fail("give --reason TEXT: who looked at the problems and what they found", ExitCode.USAGE)
    store = open_store(env, config)
    try:
        check = store.verify()
        _print_check(check, False)
        if check.ok:
            return
        if not yes:
            fail("the repair record accepts every problem listed above; run again with --yes", ExitCode.USAGE)
        record = store.repair(reason)
    except cluster_errors() as exc:
        failed(exc)
    Console(highlight=False).print(f"repair record {record['seq']} accepts {len(record['data']['accepted'])} "
                                   f"problem(s); head {record['hash']}")


@task(help={"env": "environment whose old records to prune", "config": CONFIG_HELP,
            "dry_run": "say what would be deleted", "yes": "delete them"})
def prune(c, env="", config="pipeline.toml", dry_run=False, yes=False):
    """Delete records older than records.retention_days (export them first); never younger ones."""
    store = open_store(env, config)
    try:
        plan = store.prune(dry_run=True)
        console = Console(highlight=False)
        console.print(f"{plan.pruned} record(s) older than {plan.cutoff} ({store.retention_days} days)"
                      + (f", through record {plan.through_seq}" if plan.pruned else ""))
        if dry_run or not plan.pruned:
            return
        if not yes:
            fail("run again with --yes to delete them (export them first: invoke audit.export)", ExitCode.USAGE)
        done = store.prune()
    except cluster_errors() as exc:
        failed(exc)
    console.print(f"pruned {done.pruned} record(s) through {done.through_seq}; prune record "
                  f"{done.record['seq'] if done.record else '-'}")
