"""`invoke bench`: run the benchmarks in bench/ and print their figures.

Each ``bench/bench_*.py`` has a ``main() -> int`` that prints what it measured and, where
an issue names one, the ratio against the baseline measured in the same run.
"""
import importlib.util
import sys
from pathlib import Path

from invoke import task


@task(help={"only": "run only benchmarks whose file name contains this text"})
def bench(c, only=""):
    """Run the benchmarks (bench/bench_*.py)."""
    failures = 0
    for path in sorted(Path("bench").glob("bench_*.py")):
        if only and only not in path.stem:
            continue
        print(f"== {path.stem}", flush=True)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(Path.cwd()))
        spec.loader.exec_module(module)
        failures += 1 if module.main() else 0
    if failures:
        raise SystemExit(1)
