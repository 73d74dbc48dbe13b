"""Run rollback mechanisms in order, collect their results, and summarise.

Every mechanism asked for is attempted even when an earlier one fails: at 3 a.m. a failed
flag toggle must not stop the rollout undo. The summary says what is done and what remains
(``done: flag, undo; remains: git``) so the person paged knows what to finish by hand.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from pipeline.rollback.result import Mechanism, Outcome, Plan, RollbackResult


@dataclass(frozen=True)
class RollbackRun:
    results: tuple[RollbackResult, ...]
    reason: str
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)

    @property
    def done(self) -> tuple[str, ...]:
        return tuple(r.mechanism for r in self.results if r.ok)

    @property
    def remaining(self) -> tuple[str, ...]:
        return tuple(r.mechanism for r in self.results if not r.ok)

    def summary(self) -> str:
        return summarise(self.results, self.dry_run)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "dry_run": self.dry_run, "reason": self.reason,
                "done": list(self.done), "remaining": list(self.remaining),
                "summary": self.summary(), "results": [r.to_json() for r in self.results]}


def summarise(results: Sequence[RollbackResult], dry_run: bool = False) -> str:
    """One line: ``rollback complete: flag, undo`` or ``rollback incomplete: done: X; remains: Y``."""
    if not results:
        return "rollback: nothing was asked"
    done = [r.mechanism for r in results if r.ok]
    remains = [r.mechanism for r in results if not r.ok]
    if dry_run and not remains:
        return f"dry run: would roll back by {', '.join(done)}; nothing changed"
    if not remains:
        return f"rollback complete: {', '.join(done)}"
    return f"rollback incomplete: done: {', '.join(done) or 'nothing'}; remains: {', '.join(remains)}"


def run(mechanisms: Sequence[Mechanism], reason: str, dry_run: bool = False,
        on_result: Callable[[RollbackResult], None] | None = None,
        scrub: Callable[[str], str] = str) -> RollbackRun:
    """Execute each mechanism in order; an unexpected exception becomes that mechanism's FAILED.

    ``scrub`` (e.g. ``lambda t: redact(t, secrets)``) cleans an exception's text."""
    results = []
    for mechanism in mechanisms:
        result = _execute(mechanism, reason, dry_run, scrub)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return RollbackRun(tuple(results), reason, dry_run)


def _execute(mechanism: Mechanism, reason: str, dry_run: bool,
             scrub: Callable[[str], str]) -> RollbackResult:
    start = time.monotonic()
    try:
        return mechanism.execute(reason, dry_run=dry_run)
    except Exception as exc:  # a mechanism's bug must not stop the others
        return RollbackResult(mechanism.name, Outcome.FAILED,
                              scrub(f"{type(exc).__name__}: {exc}"), time.monotonic() - start)


@dataclass(frozen=True)
class Unavailable:
    """A mechanism that was asked for but cannot be built (missing module, unreadable kubeconfig).

    It plans and fails with the reason, so the summary lists it under "remains" instead of
    the whole rollback being refused: the other mechanisms still run."""
    name: str
    why: str

    def plan(self) -> Plan:
        return Plan(self.name, "unknown", f"unavailable: {self.why}", data={"error": self.why})

    def execute(self, reason: str, dry_run: bool = False) -> RollbackResult:
        return RollbackResult(self.name, Outcome.FAILED, f"unavailable: {self.why}")
