"""`invoke bench`: run the benchmarks in bench/ and print their figures.

Each ``bench/bench_*.py`` is a script whose ``main() -> int`` compares whole commands with
their baseline (bench/compare.py: alternated, n >= 5, median and min-max, the ratio and its
target) and returns non-zero when a target is missed. Each runs in its own Python process,
so one benchmark's servers, threads and children never skew another's figures. The machine's
load average is printed before and after: the figures mean little without it.
"""
import os
import subprocess
import sys
from pathlib import Path

from invoke import Exit, task

from pipeline.exit_codes import ExitCode

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


@task(help={"only": "run only benchmarks whose file name contains this text (default: all)"})
def bench(c, only=""):
    """Run the benchmarks (bench/bench_*.py), each in its own process; exit 1 if a target is missed."""
    scripts = [p for p in sorted(BENCH.glob("bench_*.py")) if not only or only in p.stem]
    if not scripts:
        raise Exit(f"--only {only!r}: no benchmark in {BENCH} matches", code=int(ExitCode.USAGE))
    failed = []
    print(f"before: {load()}", flush=True)
    for path in scripts:
        print(f"== {path.stem}", flush=True)
        if subprocess.run([sys.executable, str(path)], cwd=str(BENCH.parent)).returncode != 0:
            failed.append(path.stem)
    print(f"after: {load()}")
    if failed:
        print(f"benchmarks that failed or missed a target: {', '.join(failed)}")
        raise Exit(code=int(ExitCode.FAILED_CHECK))
