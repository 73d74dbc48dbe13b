"""What a rollback reads from and writes to the audit log (docs/audit.md's data contract).

Reads: the commit the latest successful deploy recorded (``deploy_started.data.commit`` of a
run whose ``deploy_finished.data.outcome`` is ``deployed``): the commit git revert targets.
Writes, per invocation: ``rollback_started {via, reason, automatic}``, one
``rollback_action`` per mechanism (its result), ``rollback_finished {outcome, exit_code, summary}``.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from pipeline.rollback.result import RollbackResult
from pipeline.rollback.runner import RollbackRun


def last_deployed_commit(entries: Iterable[dict[str, Any]]) -> str | None:
    """The commit of the newest deploy that finished ``deployed`` (pure, over log entries)."""
    started: dict[str, str] = {}
    latest: str | None = None
    for entry in entries:
        data = entry.get("data") or {}
        run = str(entry.get("run", ""))
        if entry.get("kind") == "deploy_started" and data.get("commit"):
            started[run] = str(data["commit"])
        elif entry.get("kind") == "deploy_finished" and data.get("outcome") == "deployed" and run in started:
            latest = started[run]
    return latest


GOOD_OUTCOMES = ("deployed", "nothing_to_do")
BAD_OUTCOMES = ("rolled_back", "rollback_failed")


def verified_images(entries: Iterable[dict[str, Any]]) -> frozenset[str]:
    """Images whose latest deploy verdict was good (deployed and verified); one later rolled back
    by a failed deploy no longer counts (pure, over log entries, oldest first)."""
    started: dict[str, str] = {}
    verdict: dict[str, bool] = {}
    for entry in entries:
        data = entry.get("data") or {}
        run = str(entry.get("run", ""))
        if entry.get("kind") == "deploy_started" and data.get("image"):
            started[run] = str(data["image"])
        elif entry.get("kind") == "deploy_finished" and run in started:
            outcome = data.get("outcome")
            if outcome in GOOD_OUTCOMES or outcome in BAD_OUTCOMES:
                verdict[started[run]] = outcome in GOOD_OUTCOMES
    return frozenset(image for image, good in verdict.items() if good)


def started(via: Sequence[str], reason: str, automatic: bool = False) -> dict[str, Any]:
    return {"via": ",".join(via), "reason": reason, "automatic": automatic}


def action(result: RollbackResult) -> dict[str, Any]:
    return result.to_json()


def finished(run: RollbackRun, exit_code: int) -> dict[str, Any]:
    return {"outcome": "done" if run.ok else "rollback_failed", "exit_code": exit_code,
            "summary": run.summary(), "done": list(run.done), "remaining": list(run.remaining)}
