"""`invoke audit.verify` / `invoke audit.head`: check the hash-chained audit log (docs/audit.md).

Exit codes: 0 the chain is intact (and contains ``--expect-head`` when given), 1 it is
broken (the first bad line and why are printed), 2 bad input.
"""
from __future__ import annotations

import json as jsonlib
import sys

from invoke import Exit, task
from rich.console import Console

from pipeline.audit import AuditError, default_path, verify as verify_chain
from pipeline.exit_codes import ExitCode


def _path(env: str, path: str) -> str:
    if path:
        return path
    if not env:
        raise Exit("give --env ENV (or --path FILE)", code=int(ExitCode.USAGE))
    try:
        return str(default_path(env))
    except AuditError as exc:
        raise Exit(str(exc), code=int(ExitCode.USAGE)) from None


@task(help={"env": "environment whose log to check (.pipeline/audit/<env>.jsonl)",
            "path": "check this file instead",
            "expect_head": "a head hash recorded earlier (e.g. in a job summary) that must be in the chain",
            "json": "print the result as JSON"})
def verify(c, env="", path="", expect_head="", json=False):
    """Verify the audit log's hash chain; exit 0 intact, 1 broken."""
    result = verify_chain(_path(env, path), expect_head=expect_head or None)
    if json:
        sys.stdout.write(jsonlib.dumps(vars(result), indent=2) + "\n")
    else:
        console = Console(highlight=False)
        style = "green" if result.ok else "bold red"
        console.print(f"[{style}]{'intact' if result.ok else 'BROKEN'}[/] {result.describe()}", soft_wrap=True)
        if result.ok:
            console.print(f"head: {result.head}  (record it elsewhere to detect a truncated tail later)")
    if not result.ok:
        raise Exit(code=int(ExitCode.FAILED_CHECK))


@task(help={"env": "environment (.pipeline/audit/<env>.jsonl)", "path": "read this file instead"})
def head(c, env="", path=""):
    """Print only the head hash of an intact chain (to anchor it, e.g. in $GITHUB_STEP_SUMMARY)."""
    result = verify_chain(_path(env, path))
    if not result.ok:
        sys.stderr.write(result.describe() + "\n")
        raise Exit(code=int(ExitCode.FAILED_CHECK))
    sys.stdout.write(result.head + "\n")
