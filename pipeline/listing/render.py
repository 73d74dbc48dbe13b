"""The listing report for people (a terminal table), machines (JSON) and the submission (Markdown)."""
from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from pipeline.listing.model import ListingReport, Verdict
from pipeline.report.markdown import table as markdown_table

STYLE = {Verdict.PASS: "green", Verdict.FAIL: "red", Verdict.NOT_CHECKED: "yellow"}
ICON = {Verdict.PASS: "✅ PASS", Verdict.FAIL: "❌ FAIL", Verdict.NOT_CHECKED: "❔ NOT CHECKED"}


def summary(report: ListingReport) -> str:
    counts = report.to_dict()["counts"]
    parts = ", ".join(f"{n} {v.lower()}" for v, n in counts.items() if n)
    code = report.exit_code
    return f"listing readiness ({report.env}): {parts}; exit {int(code)} ({code.name})"


def render(report: ListingReport, console: Console | None = None) -> None:
    console = console or Console()
    out = Table(title=f"listing readiness --env {report.env} ({report.generated_at})")
    out.add_column("row", no_wrap=True)
    out.add_column("verdict", no_wrap=True)
    out.add_column("detail")
    for row in report.rows:
        out.add_row(row.name, f"[{STYLE[row.verdict]}]{row.verdict.value}[/]", row.detail)
    console.print(out)
    console.print(summary(report), highlight=False)


def to_json(report: ListingReport) -> str:
    return json.dumps(report.to_dict(), indent=2)


def to_markdown(report: ListingReport) -> str:
    rows = [[row.requirement, ICON[row.verdict], row.detail] for row in report.rows]
    return (f"# Klaviyo app listing readiness: `{report.env}`\n\n"
            f"Generated {report.generated_at} by `invoke listing --env {report.env}`. Each row passes, fails, "
            "or says why it could not be checked; requirements a program cannot check (MFA, the company's "
            "security review, installs by real merchants) are in docs/klaviyo-listing.md.\n\n"
            + markdown_table(["requirement", "verdict", "evidence"], rows) + f"\n\n{summary(report)}\n")
