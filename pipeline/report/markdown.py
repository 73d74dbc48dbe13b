"""GitHub job summary Markdown for deploy and rollback results (pure: dict in, text out).

Works from the ``to_json()`` dicts, so a summary can also be made later from an uploaded
result artifact.
"""
from __future__ import annotations

from typing import Any, Iterable

ICONS = {"pass": "✅", "passed": "✅", "done": "✅", "already": "✅", "deployed": "✅", "ok": "✅",
         "warn": "⚠️", "skipped": "⏭️", "dry_run": "📝", "pending_approval": "⏳",
         "fail": "❌", "failed": "❌", "error": "💥", "refused": "⛔", "rolled_back": "↩️",
         "rollback_failed": "🚨"}


def cell(value: Any) -> str:
    """A table cell: pipes escaped, newlines folded."""
    return str(value if value is not None else "").replace("|", "\\|").replace("\n", " ")


def table(headers: list[str], rows: Iterable[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def icon(status: str) -> str:
    return f"{ICONS.get(str(status).lower(), '')} {status}".strip()


def preflight_section(preflight: dict[str, Any] | None) -> str:
    if not preflight:
        return ""
    rows = [[c.get("name"), icon(c.get("verdict", "")), c.get("detail", ""),
             f"{c.get('duration_seconds', 0):.2f}s"] for c in preflight.get("checks", [])]
    skipped = preflight.get("skipped") or []
    note = f"\n\nSkipped on request: {', '.join(skipped)}" if skipped else ""
    return "### Preflight\n\n" + table(["check", "verdict", "detail", "time"], rows) + note


def verdicts_section(verdicts: list[dict[str, Any]]) -> str:
    if not verdicts:
        return ""
    rows = [[v.get("stage", ""), v.get("name"), icon("pass" if v.get("passed") else "fail"),
             v.get("value"), v.get("threshold"), v.get("source", ""), v.get("detail", "")] for v in verdicts]
    return "### Verification\n\n" + table(["stage", "verdict", "result", "value", "threshold", "source", "detail"], rows)


def rollback_section(actions: list[dict[str, Any]]) -> str:
    if not actions:
        return ""
    rows = [[a.get("mechanism"), icon(a.get("outcome", "")), a.get("detail", ""),
             f"{a.get('duration_seconds', 0):.2f}s"] for a in actions]
    return "### Rollback\n\n" + table(["mechanism", "outcome", "detail", "time"], rows)


def deploy_summary(result: dict[str, Any]) -> str:
    head = (f"## Deploy {cell(result.get('app'))} to {cell(result.get('env'))}: {icon(result.get('outcome', ''))}\n\n"
            f"{cell(result.get('reason'))}\n\n"
            + table(["image", "previous image", "commit", "actor", "exit code", "duration"],
                    [[result.get("image"), result.get("previous_image") or "—", (result.get("commit") or "—")[:12],
                      result.get("actor"), result.get("exit_code"), f"{result.get('duration_seconds', 0):.1f}s"]]))
    stages = table(["stage", "status", "detail", "time"],
                   [[s["name"], icon(s["status"]), s["detail"], f"{s.get('duration_seconds', 0):.2f}s"]
                    for s in result.get("stages", [])])
    parts = [head, "### Stages\n\n" + stages, preflight_section(result.get("preflight")),
             verdicts_section(result.get("verdicts", [])), rollback_section(result.get("rollback", []))]
    if result.get("audit_head"):
        parts.append(f"Release record head: `{result['audit_head']}`")
    return "\n\n".join(p for p in parts if p) + "\n"


def rollback_summary(result: dict[str, Any]) -> str:
    status = "ok" if result.get("ok") else "rollback_failed"
    head = (f"## Rollback of {cell(result.get('app', ''))} in {cell(result.get('env'))}: {icon(status)}\n\n"
            f"Reason: {cell(result.get('reason'))}\n\n{cell(result.get('summary', ''))}")
    return "\n\n".join(p for p in [head, rollback_section(result.get("results", []))] if p) + "\n"


def append_summary(path: str | None, markdown: str) -> bool:
    """Append to ``$GITHUB_STEP_SUMMARY`` when running in GitHub Actions; False elsewhere."""
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(markdown)
    return True
