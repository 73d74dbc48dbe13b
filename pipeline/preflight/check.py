"""The check interface and its results.

A check is an object with a ``name``, a ``title``, a ``timeout`` (seconds) and
``async def run(ctx) -> Finding``. The runner times each run and turns its Finding (or its
exception / timeout) into a :class:`CheckResult`. A Finding's ``detail`` is one sentence
naming the measured value and the threshold it was held against.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Mapping, Protocol

if TYPE_CHECKING:
    from pipeline.preflight.context import PreflightContext


class Verdict(str, Enum):
    PASS = "PASS"
    WARN = "WARN"          # safe to deploy, but look at this
    FAIL = "FAIL"          # not safe to deploy
    ERROR = "ERROR"        # the check could not run: never a pass
    SKIPPED = "SKIPPED"    # --skip, or nothing to check


SEVERITY = {Verdict.SKIPPED: -1, Verdict.PASS: 0, Verdict.WARN: 1, Verdict.ERROR: 2, Verdict.FAIL: 3}


def worst(verdicts: list[Verdict]) -> Verdict:
    """The most severe verdict (FAIL > ERROR > WARN > PASS > SKIPPED); PASS for an empty list."""
    return max(verdicts, key=lambda v: SEVERITY[v], default=Verdict.PASS)


@dataclass(frozen=True)
class Finding:
    """What a check concluded: a verdict, one sentence of detail, the values it measured."""
    verdict: Verdict
    detail: str
    measured: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    name: str
    title: str
    verdict: Verdict
    detail: str
    measured: Mapping[str, Any]
    started: float          # seconds since the preflight started
    finished: float
    timeout: float

    @property
    def duration(self) -> float:
        return self.finished - self.started

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        data["measured"] = dict(self.measured)
        data["duration"] = round(self.duration, 4)
        data["started"], data["finished"] = round(self.started, 4), round(self.finished, 4)
        return data


class Check(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def timeout(self) -> float: ...

    async def run(self, ctx: "PreflightContext") -> Finding: ...
