"""`invoke bench`: run the benchmarks in bench/ and print their figures.

Each ``bench/bench_*.py`` is a script whose ``main() -> int`` prints what it measured and,
where an issue names one, the ratio against the baseline measured in the same run. Each runs
in its own Python process, so one benchmark's servers, threads and children never skew
another's figures.
"""
import subprocess
import sys
from pathlib import Path

from invoke import Exit, task


@task(help={"only": "run only benchmarks whose file name contains this text"})
def bench(c, only=""):
    """Run the benchmarks (bench/bench_*.py), each in its own process."""
    failed = []
    for path in sorted(Path("bench").glob("bench_*.py")):
        if only and only not in path.stem:
            continue
        print(f"== {path.stem}", flush=True)
        if subprocess.run([sys.executable, str(path)]).returncode != 0:
            failed.append(path.stem)
    if failed:
        print(f"benchmarks that failed or missed their target: {', '.join(failed)}")
        raise Exit(code=1)
