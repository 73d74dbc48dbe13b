"""Deploys and rollbacks as rows, read from a local JSONL audit log (pure over entries).

The cluster's record store (``pipeline.records``) makes rows of the same shape from its
records (``pipeline.records.facts.history``), and of a legacy log it imported through this module.

One row per ``run`` that started a deploy or an on-demand rollback. The entries it reads
(the data contract, docs/audit.md):

* ``deploy_started``  data ``{image, commit?, previous_image?}``
* ``rollback_started`` data ``{via, reason?, automatic?, target?}`` (inside a deploy's run:
  the automatic rollback of that deploy)
* ``deploy_finished`` / ``rollback_finished`` data ``{outcome, exit_code?, reason?}``

A run without a ``*_finished`` entry is shown as ``unfinished`` (still running, or killed).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable


@dataclass(frozen=True)
class HistoryRow:
    time: str                      # when the run started (RFC 3339 UTC)
    kind: str                      # deploy | rollback
    actor: str
    image: str
    commit: str
    outcome: str                   # deployed | rolled_back | failed | ... | unfinished
    duration_seconds: float | None
    run: str
    rollback: str = ""             # for a deploy rolled back automatically: the mechanisms used
    run_url: str = ""
    seq: int | None = None         # the record in the cluster's store (None: a row of a local JSONL log)

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


def history(entries: Iterable[dict[str, Any]], limit: int | None = None) -> list[HistoryRow]:
    """Newest first; at most ``limit`` rows."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        runs.setdefault(str(entry.get("run", "")), []).append(entry)
    rows = [row for run, items in runs.items() if (row := _row(run, items)) is not None]
    rows.sort(key=lambda r: r.time, reverse=True)
    return rows[:limit] if limit is not None else rows


def _row(run: str, items: list[dict[str, Any]]) -> HistoryRow | None:
    by_kind: dict[str, dict[str, Any]] = {}
    for entry in items:
        by_kind.setdefault(entry.get("kind", ""), entry)
    start = by_kind.get("deploy_started") or by_kind.get("rollback_started")
    if start is None:
        return None
    kind = "deploy" if start.get("kind") == "deploy_started" else "rollback"
    finish = by_kind.get(f"{kind}_finished")
    data = start.get("data") or {}
    actor = start.get("actor") or {}
    rollbacks = [_names((e.get("data") or {}).get("via", "")) for e in items
                 if e.get("kind") == "rollback_started"] if kind == "deploy" else []
    image = str(data.get("image") or data.get("target") or "")
    return HistoryRow(
        time=str(start.get("time", "")), kind=kind,
        actor=str(actor.get("github_actor") or actor.get("name") or "unknown"),
        image=image, commit=str(data.get("commit") or "")[:12],
        outcome=str((finish.get("data") or {}).get("outcome", "finished")) if finish else "unfinished",
        duration_seconds=_duration(start, finish), run=run,
        rollback=",".join(r for r in rollbacks if r), run_url=str(actor.get("run_url", "")))


def _names(via: Any) -> str:
    """``["flag", "undo"]`` (as recorded) -> ``flag+undo``; a string passes through."""
    return "+".join(str(v) for v in via) if isinstance(via, (list, tuple)) else str(via or "")


def _duration(start: dict[str, Any], finish: dict[str, Any] | None) -> float | None:
    if finish is None:
        return None
    try:
        began = datetime.fromisoformat(str(start["time"]))
        ended = datetime.fromisoformat(str(finish["time"]))
    except (KeyError, ValueError):
        return None
    return round((ended - began).total_seconds(), 3)
