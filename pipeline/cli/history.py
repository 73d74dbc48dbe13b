"""`invoke history --env ENV`: deploys and rollbacks, newest first, read from the audit log."""
from __future__ import annotations

import json as jsonlib
import sys

from invoke import Exit, task
from rich.console import Console
from rich.table import Table

from pipeline.audit import AuditError, default_path, entries, verify
from pipeline.audit.history import HistoryRow, history as history_rows
from pipeline.exit_codes import ExitCode


@task(help={"env": "environment (reads .pipeline/audit/<env>.jsonl)", "limit": "show at most N rows (default 20)",
            "json": "print the rows as JSON", "path": "read this audit file instead"})
def history(c, env="", limit=20, json=False, path=""):
    """List deploys and rollbacks: time, actor, image, commit, outcome, duration."""
    if not env and not path:
        raise Exit("give --env ENV (or --path FILE)", code=int(ExitCode.USAGE))
    try:
        file = path or str(default_path(env))
        limit = int(limit)
    except (AuditError, ValueError) as exc:
        raise Exit(f"bad input: {exc}", code=int(ExitCode.USAGE)) from None
    if limit < 1:
        raise Exit(f"--limit must be at least 1, got {limit}", code=int(ExitCode.USAGE))
    rows = history_rows(entries(file), limit)
    check = verify(file)
    if json:
        sys.stdout.write(jsonlib.dumps({"path": file, "chain_intact": check.ok, "head": check.head,
                                        "rows": [r.to_json() for r in rows]}, indent=2) + "\n")
        return
    console = Console(highlight=False)
    if not check.ok:
        console.print(f"[bold red]warning:[/] {check.describe()}", soft_wrap=True)
    if not rows:
        console.print(f"no deploys or rollbacks recorded in {file}")
        return
    console.print(_table(rows, env or file))


def _table(rows: list[HistoryRow], title: str) -> Table:
    table = Table(title=f"history: {title}", title_justify="left")
    for column in ("time (UTC)", "kind", "actor", "image", "commit", "outcome", "duration"):
        table.add_column(column, no_wrap=column not in ("actor", "outcome"), min_width=12 if column == "actor" else None)
    colours = {"deployed": "green", "rolled_back": "yellow", "rollback_failed": "bold red",
               "unfinished": "magenta", "done": "green", "failed": "red"}
    for row in rows:
        duration = "-" if row.duration_seconds is None else f"{row.duration_seconds:.0f}s"
        outcome = row.outcome + (f" (via {row.rollback})" if row.rollback else "")
        colour = colours.get(row.outcome, "white")
        table.add_row(row.time[:19].replace("T", " "), row.kind, row.actor, row.image or "-",
                      row.commit or "-", f"[{colour}]{outcome}[/]", duration)
    return table
