"""`invoke history --env ENV`: deploys and rollbacks, newest first, from the release records in the cluster.

Every runner sees the same history: the records live next to the Deployment (docs/audit.md).
``--path FILE`` reads an export bundle or a legacy local JSONL log instead.
"""
from __future__ import annotations

import json as jsonlib
import sys
from typing import Any, Sequence

from invoke import task
from rich import box
from rich.console import Console
from rich.table import Table

from pipeline.audit.history import HistoryRow
from pipeline.exit_codes import ExitCode

COLOURS = {"deployed": "green", "nothing_to_do": "green", "rolled_back": "yellow", "rollback_failed": "bold red",
           "unfinished": "magenta", "done": "green", "failed": "red", "refused": "dim"}


@task(help={"env": "environment whose release records to list (in its cluster)",
            "config": "configuration file (default pipeline.toml)", "limit": "show at most N rows (default 20)",
            "json": "print the rows as JSON", "path": "read an export bundle or a legacy JSONL log instead"})
def history(c, env="", config="pipeline.toml", limit=20, json=False, path=""):
    """List deploys and rollbacks: time, actor, image, commit, outcome, duration."""
    from pipeline.cli.audit import fail, failed, cluster_errors, open_store

    if not env and not path:
        fail("give --env ENV (or --path FILE)", ExitCode.USAGE)
    try:
        limit = int(limit)
    except ValueError:
        fail(f"--limit {limit!r} is not a number", ExitCode.USAGE)
    if limit < 1:
        fail(f"--limit must be at least 1, got {limit}", ExitCode.USAGE)
    try:
        rows, check = read_file(path, limit) if path else open_store(env, config).history(limit)
    except cluster_errors() as exc:
        failed(exc)
    except (OSError, ValueError) as exc:
        fail(f"--path {path}: {exc}", ExitCode.USAGE)
    source = path or env
    if json:
        sys.stdout.write(jsonlib.dumps({"source": source, "chain_intact": check.ok, "head": check.head_hash,
                                        "rows": [r.to_json() for r in rows]}, indent=2) + "\n")
        return
    console = Console(highlight=False)
    if not check.ok:
        console.print(f"[bold red]warning:[/] the records do not verify:\n{check.describe()}", soft_wrap=True)
    if not rows:
        console.print(f"no deploys or rollbacks recorded for {source}")
        return
    console.print(table(rows, source, console.width))


def read_file(path: str, limit: int) -> tuple[list[HistoryRow], Any]:
    """Rows from an export bundle (its records) or a legacy JSONL log, and the file's check."""
    from pathlib import Path

    from pipeline.audit.history import history as legacy_rows
    from pipeline.audit.log import entries
    from pipeline.records import bundle, facts, files

    check = files.verify_file(path, None, None)
    document = files.load_json(Path(path).read_text(encoding="utf-8"))
    if bundle.is_bundle(document):
        return facts.history(document.get("records") or [], limit), check
    return legacy_rows(entries(path), limit), check


def table(rows: Sequence[HistoryRow], title: str, width: int) -> Table:
    """The rows as a table that stays readable at 80 columns (a CI log, a narrow terminal):
    the narrow layout drops the seconds and the duration column, wraps the time after the date, folds images,
    and actor and outcome wrap rather than vanish."""
    narrow = width < 110
    table = Table(title=f"history: {title}", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("time (UTC)", no_wrap=not narrow, max_width=10 if narrow else None)
    table.add_column("kind", no_wrap=True)
    table.add_column("actor", min_width=8, overflow="fold", ratio=2 if narrow else None)
    table.add_column("image", min_width=12, overflow="fold", ratio=3 if narrow else None)
    table.add_column("commit", no_wrap=True)
    table.add_column("outcome", min_width=15, overflow="fold", ratio=2 if narrow else None)
    if not narrow:
        table.add_column("duration", justify="right", no_wrap=True)
    for row in rows:
        outcome = row.outcome + (f" (via {row.rollback})" if row.rollback else "")
        cells = [str(row.seq) if row.seq is not None else "-", _time(row.time, narrow), row.kind, row.actor,
                 row.image or "-", (row.commit or "-")[: 7 if narrow else 12],
                 f"[{COLOURS.get(row.outcome, 'white')}]{outcome}[/]"]
        if not narrow:
            cells.append("-" if row.duration_seconds is None else f"{row.duration_seconds:.0f}s")
        table.add_row(*cells)
    return table


def _time(text: str, narrow: bool) -> str:
    """``2026-11-22 17:30:31``; narrow: ``2026-11-22 17:30``, which wraps after the date."""
    full = text[:19].replace("T", " ")
    return full[:16] if narrow else full
