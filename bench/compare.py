"""Whole commands against their baseline: the one way every figure of ``invoke bench`` is taken.

A :class:`Comparison` names our command, the baseline command and the target (the largest
ratio ours / baseline that is acceptable). :func:`measure` runs them alternated, A B A B ...,
``runs`` times each after one warm-up pair that is not counted, each as a whole process (or a
chain of processes, e.g. ``kubectl rollout undo`` then ``kubectl rollout status``) started from
here: interpreter start-up, imports and connection set-up are part of every figure. Untimed
preparation (``prepare``, e.g. re-arm a stand-in) runs before each command. A command that
exits non-zero makes the whole comparison fail: a failed run is not a fast run.

``figure`` replaces "start to exit" by what is seen from outside while the command runs (start
until an already connected SDK client sees the flag OFF; a bad pod Ready until the previous
version is available again); the command still has to finish with one of its ``ok`` codes.

:func:`report` prints each side's median and min-max, the ratio (median of the pair-by-pair
ratios: pairing keeps it meaningful when the machine's speed drifts) with its own min-max,
and the target with "met" or "MISSED". Pure arithmetic lives in :func:`summarise`.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

# ``figure(started)``: called once the command started (``started`` is its perf_counter() start);
# returns what the figure measures (seconds, or a count when the comparison's unit says so), or
# None when what it waits for was not seen in time.
Figure = Callable[[float], "float | None"]


class BenchError(RuntimeError):
    """A command failed or an awaited event never came: no figure can be given."""


@dataclass(frozen=True)
class Command:
    label: str
    argvs: tuple[tuple[str, ...], ...]         # run one after another; all must exit 0
    env: Mapping[str, str] | None = None
    cwd: str | None = None
    prepare: Callable[[], None] | None = None  # untimed, before each run
    figure: Figure | None = None
    ok: tuple[int, ...] = (0,)                 # exit codes that mean the command did its job
    timeout: float = 120.0

    @classmethod
    def of(cls, label: str, *argvs: Sequence[str], **options: object) -> "Command":
        return cls(label, tuple(tuple(a) for a in argvs), **options)  # type: ignore[arg-type]

    def shown(self) -> str:
        return " && ".join(" ".join(_short(a) for a in argv) for argv in self.argvs)


@dataclass(frozen=True)
class Comparison:
    name: str
    what: str                 # the figure, e.g. "start -> an already connected SDK sees OFF"
    ours: Command
    baseline: Command
    target: float | None      # ours / baseline must be <= this; None: a reference figure
    runs: int = 5
    unit: str = "s"           # what a figure counts: "s" (printed in ms) or a count, e.g. "requests"


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> "Spread":
        return cls(statistics.median(values), min(values), max(values))


@dataclass(frozen=True)
class Summary:
    ours: Spread
    baseline: Spread
    ratio: Spread             # of the pair-by-pair ratios ours / baseline
    target: float | None
    runs: int

    @property
    def met(self) -> bool:
        return self.target is None or self.ratio.median <= self.target


@dataclass
class Samples:
    ours: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)


def summarise(samples: Samples, target: float | None) -> Summary:
    if not samples.ours or len(samples.ours) != len(samples.baseline):
        raise ValueError("need as many runs of ours as of the baseline, at least one")
    if min(samples.ours + samples.baseline) <= 0:
        raise BenchError("a figure of 0 s: the measurement saw the end before the start")
    ratios = [a / b for a, b in zip(samples.ours, samples.baseline)]
    return Summary(Spread.of(samples.ours), Spread.of(samples.baseline), Spread.of(ratios), target,
                   len(samples.ours))


def measure(comparison: Comparison, warmup: int = 1) -> Summary:
    """Run the comparison alternated (after ``warmup`` uncounted pairs) and summarise it."""
    if comparison.runs < 5:
        raise ValueError(f"{comparison.name}: at least 5 runs of each command, got {comparison.runs}")
    samples = Samples()
    for number in range(warmup + comparison.runs):
        ours, baseline = time_once(comparison.ours), time_once(comparison.baseline)
        if number >= warmup:
            samples.ours.append(ours)
            samples.baseline.append(baseline)
    return summarise(samples, comparison.target)


def time_once(command: Command) -> float:
    """Seconds from the first process's start to the last one's exit (or ``figure``'s seconds)."""
    if command.prepare is not None:
        command.prepare()
    env = dict(os.environ if command.env is None else command.env)
    started = time.perf_counter()
    if command.figure is None:
        for argv in command.argvs:
            _check(subprocess.run(argv, env=env, cwd=command.cwd, capture_output=True, text=True,
                                  timeout=command.timeout), command)
        return time.perf_counter() - started
    process = subprocess.Popen(command.argvs[0], env=env, cwd=command.cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        seconds = command.figure(started)
        out, err = process.communicate(timeout=command.timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    _check(subprocess.CompletedProcess(process.args, process.returncode, out, err), command)
    if seconds is None:
        raise BenchError(f"{command.label}: what the figure waits for was not seen")
    return seconds


def _check(done: subprocess.CompletedProcess, command: Command) -> None:
    if done.returncode not in command.ok:
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
        raise BenchError(f"{command.label}: {' '.join(map(str, done.args))} exited {done.returncode}: "
                         + " | ".join(tail))


def report(comparison: Comparison, summary: Summary, out: Callable[[str], None] = print) -> None:
    """The figure's lines: each side's median (min-max), then the ratio against its target."""
    width = max(len(comparison.ours.label), len(comparison.baseline.label))
    out(f"{comparison.name}: {comparison.what} (n={summary.runs} each, alternated, whole processes)")
    for label, spread, command in ((comparison.ours.label, summary.ours, comparison.ours),
                                   (comparison.baseline.label, summary.baseline, comparison.baseline)):
        out(f"  {label:<{width}}  {_formatted(spread, comparison.unit)}  $ {command.shown()}")
    if summary.target is None:
        judged = "reference figure, no target"
    else:
        judged = f"target <= {summary.target:g}x: {'met' if summary.met else 'MISSED'}"
    out(f"  ratio {comparison.ours.label}/{comparison.baseline.label}: {summary.ratio.median:.2f}x "
        f"(min {summary.ratio.low:.2f}, max {summary.ratio.high:.2f}); {judged}")


def _formatted(spread: Spread, unit: str = "s") -> str:
    if unit != "s":
        return f"median {spread.median:8.1f} {unit}  (min {spread.low:g}, max {spread.high:g})"
    return (f"median {spread.median * 1000:8.1f} ms  (min {spread.low * 1000:.1f}, "
            f"max {spread.high * 1000:.1f})")


def _short(arg: str) -> str:
    """Long temporary paths shortened for the printed command line."""
    if "/" in arg and len(arg) > 40:
        return "…/" + arg.rsplit("/", 1)[1]
    return arg


def run_all(comparisons: Sequence[Comparison], out: Callable[[str], None] = print) -> int:
    """Measure and report each; 0 when every target is met, 1 otherwise (a failure included)."""
    missed = []
    for comparison in comparisons:
        try:
            summary = measure(comparison)
        except (RuntimeError, subprocess.TimeoutExpired) as error:   # BenchError, a failed prepare
            out(f"{comparison.name}: FAILED: {error}")
            missed.append(comparison.name)
            continue
        report(comparison, summary, out)
        if not summary.met:
            missed.append(comparison.name)
    if missed:
        out(f"targets missed or not measured: {', '.join(missed)}")
    return 1 if missed else 0


def from_result_json(path: Path, read: Callable[[dict[str, Any]], "float | None"], timeout: float = 300.0) -> Figure:
    """A figure read from the JSON a command writes as it ends (``--json-file``): waits until the
    file holds a whole document, then ``read(document)``; None after ``timeout``."""
    def figure(started: float) -> float | None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if path.exists() and path.stat().st_size:
                try:
                    return read(json.loads(path.read_text()))
                except ValueError:               # still being written
                    pass
            time.sleep(0.1)
        return None
    return figure
