"""Render a PreflightReport: a rich table for people, JSON for machines."""
from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from pipeline.preflight.check import Verdict
from pipeline.preflight.runner import PreflightReport

STYLE = {Verdict.PASS: "green", Verdict.WARN: "yellow", Verdict.FAIL: "bold red",
         Verdict.ERROR: "magenta", Verdict.SKIPPED: "dim"}


def to_json(report: PreflightReport) -> str:
    return json.dumps(report.to_dict(), indent=2, default=str)


def table(report: PreflightReport) -> Table:
    out = Table(title=f"preflight --env {report.env} (revision {report.revision})", expand=False)
    out.add_column("check", no_wrap=True)
    out.add_column("verdict", no_wrap=True)
    out.add_column("detail", overflow="fold")
    out.add_column("time", justify="right", no_wrap=True)
    for r in report.results:
        out.add_row(r.name, f"[{STYLE[r.verdict]}]{r.verdict.value}[/]", r.detail,
                    "-" if r.verdict is Verdict.SKIPPED else f"{r.duration * 1000:.0f} ms")
    return out


def summary(report: PreflightReport) -> str:
    code = report.exit_code
    counts = {v: sum(1 for r in report.results if r.verdict is v) for v in Verdict}
    parts = ", ".join(f"{n} {v.value.lower()}" for v, n in counts.items() if n)
    return (f"{'safe to deploy' if report.ok else 'NOT safe to deploy'}: {parts}; "
            f"{report.duration:.2f} s; exit {int(code)} ({code.name})")


def render(report: PreflightReport, console: Console | None = None) -> None:
    console = console or Console()
    console.print(table(report))
    console.print(summary(report))
