"""What every rollback mechanism returns, and the two-method interface it implements."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol


class Outcome(str, Enum):
    DONE = "done"                      # changed, and verified
    ALREADY = "already"                # nothing to do: already in the target state
    PENDING_APPROVAL = "pending_approval"  # an approval request was created; a human must apply it
    FAILED = "failed"                  # did not happen, or could not be verified: see detail
    DRY_RUN = "dry_run"                # would have acted; nothing changed

    @property
    def ok(self) -> bool:
        return self in (Outcome.DONE, Outcome.ALREADY, Outcome.DRY_RUN)


@dataclass(frozen=True)
class Plan:
    """What a mechanism is about to do, shown before the on-call engineer confirms."""
    mechanism: str                     # "flag" | "undo" | "git"
    current: str                       # e.g. "image klaviyo-sync:1.4.0 at revision 7"
    target: str                        # e.g. "image klaviyo-sync:1.3.2 (revision 6)"
    noop: bool = False                 # already in the target state
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RollbackResult:
    mechanism: str
    outcome: Outcome
    detail: str                        # human sentence: what was done/measured, or why it failed
    duration_seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)  # machine facts (revisions, versions, sha, latency)

    @property
    def ok(self) -> bool:
        return self.outcome.ok

    def to_json(self) -> dict[str, Any]:
        return {"mechanism": self.mechanism, "outcome": self.outcome.value, "ok": self.ok,
                "detail": self.detail, "duration_seconds": round(self.duration_seconds, 3), "data": self.data}


class Mechanism(Protocol):
    @property
    def name(self) -> str: ...

    def plan(self) -> Plan:
        """Read the current state and say what ``execute`` would change. Changes nothing."""
        ...

    def execute(self, reason: str, dry_run: bool = False) -> RollbackResult:
        """Act, then verify; never raises for an expected failure (returns FAILED with why)."""
        ...
