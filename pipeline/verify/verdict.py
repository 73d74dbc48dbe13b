"""The result of one verification check: what was measured, against what, from where.

Three states, as Argo Rollouts' analysis has them: ``pass``, ``fail`` and ``inconclusive``.
Inconclusive means "not enough evidence to say": no samples, too few requests, no latency
observations, a source that could not be read, Klaviyo not probed. It never counts as a pass
(``passed`` is true only for ``pass``); a gate turns it into a failure once its wait is over.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

P1 = "P1"
P2 = "P2"

PASS = "pass"
FAIL = "fail"
INCONCLUSIVE = "inconclusive"
STATUSES = (PASS, FAIL, INCONCLUSIVE)


@dataclass(frozen=True)
class Verdict:
    name: str                      # auth_errors | server_errors | rate_limited | p95_latency | webhook_signatures
    #                                | health | synthetic_webhook | metrics_unavailable | inconclusive | interrupted
    severity: str                  # P1 | P2: the checklist's alert severity when it fails
    source: str                    # the PromQL query, or "pod <name> /metrics", or "pod <name> /health"
    value: float | None            # the measured value (None: nothing measurable, e.g. no latency samples)
    threshold: float | None        # the maximum allowed (None for health)
    window_seconds: float          # the measurement window (0 for point-in-time checks)
    status: str                    # pass | fail | inconclusive
    detail: str                    # human sentence, e.g. "5xx 14.0/min > 10/min over 60s"
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"verdict {self.name}: status {self.status!r} is not one of {', '.join(STATUSES)}")

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "severity": self.severity, "source": self.source, "value": self.value,
                "threshold": self.threshold, "window_seconds": self.window_seconds, "status": self.status,
                "passed": self.passed, "detail": self.detail, "data": self.data}


def status_of(passed: bool) -> str:
    return PASS if passed else FAIL


def failed(verdicts: Iterable[Verdict]) -> list[Verdict]:
    """The verdicts that did not pass (fail, then inconclusive), most severe first."""
    return sorted((v for v in verdicts if not v.passed), key=lambda v: (v.status != FAIL, v.severity))


def breaches(verdicts: Iterable[Verdict]) -> list[Verdict]:
    """The verdicts whose status is ``fail``, most severe first."""
    return sorted((v for v in verdicts if v.status == FAIL), key=lambda v: v.severity)


def overall(verdicts: Sequence[Verdict]) -> str:
    """fail if any verdict failed; else inconclusive if any is (or there are none); else pass."""
    if any(v.status == FAIL for v in verdicts):
        return FAIL
    if not verdicts or any(v.status == INCONCLUSIVE for v in verdicts):
        return INCONCLUSIVE
    return PASS


def with_status(verdict: Verdict, status: str, detail: str | None = None) -> Verdict:
    return replace(verdict, status=status, detail=verdict.detail if detail is None else detail)
