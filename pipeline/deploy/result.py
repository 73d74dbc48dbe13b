"""The result of ``invoke deploy``: one value, rendered as a terminal report, JSON and Markdown."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pipeline.exit_codes import ExitCode


class DeployOutcome(str, Enum):
    DEPLOYED = "deployed"                # rolled out through every gate and baked
    DRY_RUN = "dry_run"                  # planned only
    NOTHING_TO_DO = "nothing_to_do"      # the cluster already runs this image, verified
    REFUSED = "refused"                  # stopped before any change (lock, preflight, bad input)
    ROLLED_BACK = "rolled_back"          # failed verification; the previous version is back and healthy
    ROLLBACK_FAILED = "rollback_failed"  # failed, and the rollback did not complete: page someone
    UNHEALTHY = "unhealthy"              # nothing to roll out, but the live release failed verification


EXIT_CODES = {
    DeployOutcome.DEPLOYED: ExitCode.OK,
    DeployOutcome.DRY_RUN: ExitCode.OK,
    DeployOutcome.NOTHING_TO_DO: ExitCode.OK,
    DeployOutcome.ROLLED_BACK: ExitCode.ROLLED_BACK,
    DeployOutcome.ROLLBACK_FAILED: ExitCode.ROLLBACK_FAILED,
    DeployOutcome.UNHEALTHY: ExitCode.FAILED_CHECK,
}


@dataclass
class StageRecord:
    name: str                            # lock | preflight | plan | gate 1/3 | bake | rollback ...
    status: str                          # passed | failed | error | skipped
    detail: str
    duration_seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class DeployResult:
    env: str
    app: str
    image: str
    outcome: DeployOutcome = DeployOutcome.REFUSED
    exit_code: int = ExitCode.USAGE
    reason: str = ""                     # one sentence: why it ended as it did
    previous_image: str | None = None
    commit: str | None = None
    actor: str = ""
    run_url: str | None = None
    stages: list[StageRecord] = field(default_factory=list)
    preflight: dict[str, Any] | None = None
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    rollback: list[dict[str, Any]] = field(default_factory=list)
    audit_head: str | None = None        # hash of the last audit entry written (an anchor)
    duration_seconds: float = 0.0
    kube_requests: dict[str, int] = field(default_factory=dict)   # API requests by verb, pod-proxy requests, total

    def finish(self, outcome: DeployOutcome, reason: str, exit_code: int | None = None) -> "DeployResult":
        self.outcome, self.reason = outcome, reason
        self.exit_code = int(exit_code if exit_code is not None else EXIT_CODES[outcome])
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env, "app": self.app, "image": self.image, "previous_image": self.previous_image,
            "commit": self.commit, "actor": self.actor, "run_url": self.run_url,
            "outcome": self.outcome.value, "exit_code": self.exit_code, "reason": self.reason,
            "duration_seconds": round(self.duration_seconds, 3),
            "stages": [vars(s) | {"duration_seconds": round(s.duration_seconds, 3)} for s in self.stages],
            "preflight": self.preflight, "verdicts": self.verdicts, "rollback": self.rollback,
            "audit_head": self.audit_head, "kube_requests": self.kube_requests,
        }
