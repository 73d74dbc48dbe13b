"""The result of one verification check: what was measured, against what, from where."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

P1 = "P1"
P2 = "P2"


@dataclass(frozen=True)
class Verdict:
    name: str                      # auth_errors | server_errors | rate_limited | p95_latency | webhook_signatures | health
    severity: str                  # P1 | P2: the checklist's alert severity when it fails
    source: str                    # the PromQL query, or "pod <name> /metrics", or "pod <name> /health"
    value: float | None            # the measured value (None: nothing measurable, e.g. no latency samples)
    threshold: float | None        # the maximum allowed (None for health)
    window_seconds: float          # the measurement window (0 for point-in-time checks)
    passed: bool
    detail: str                    # human sentence, e.g. "5xx 14.0/min > 10/min over 60s"
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "severity": self.severity, "source": self.source, "value": self.value,
                "threshold": self.threshold, "window_seconds": self.window_seconds, "passed": self.passed,
                "detail": self.detail, "data": self.data}


def failed(verdicts: list[Verdict]) -> list[Verdict]:
    """The verdicts that did not pass, most severe first."""
    return sorted((v for v in verdicts if not v.passed), key=lambda v: v.severity)
