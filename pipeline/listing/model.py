"""A listing row and the report: verdict, one sentence of detail, the values measured."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping

from pipeline.exit_codes import ExitCode


class Verdict(str, Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    NOT_CHECKED = "NOT CHECKED"     # the detail says why; never counted as a pass


@dataclass(frozen=True)
class Row:
    name: str                       # oauth | data-exchanged | tls | vulnerabilities | retention | rate-limits
    requirement: str                # the listing requirement, in its words
    verdict: Verdict
    detail: str
    measured: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "requirement": self.requirement, "verdict": self.verdict.value,
                "detail": self.detail, "measured": dict(self.measured)}


def passed(name: str, requirement: str, detail: str, **measured: Any) -> Row:
    return Row(name, requirement, Verdict.PASS, detail, measured)


def failed(name: str, requirement: str, detail: str, **measured: Any) -> Row:
    return Row(name, requirement, Verdict.FAIL, detail, measured)


def not_checked(name: str, requirement: str, why: str, **measured: Any) -> Row:
    return Row(name, requirement, Verdict.NOT_CHECKED, f"not checked: {why}", measured)


@dataclass(frozen=True)
class ListingReport:
    env: str
    generated_at: str               # ISO 8601 UTC
    rows: tuple[Row, ...]

    @property
    def exit_code(self) -> ExitCode:
        verdicts = {r.verdict for r in self.rows}
        if Verdict.FAIL in verdicts:
            return ExitCode.FAILED_CHECK
        if Verdict.NOT_CHECKED in verdicts:
            return ExitCode.CHECK_ERROR
        return ExitCode.OK

    def row(self, name: str) -> Row:
        return next(r for r in self.rows if r.name == name)

    def to_dict(self) -> dict[str, Any]:
        counts = {v.value: sum(1 for r in self.rows if r.verdict is v) for v in Verdict}
        return {"env": self.env, "generated_at": self.generated_at, "exit_code": int(self.exit_code),
                "counts": counts, "rows": [r.to_dict() for r in self.rows]}
