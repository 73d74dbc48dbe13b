"""Start-up: ``invoke --list`` against ``python -c pass``, both as whole processes.

Target (issue 12): ``invoke --list`` <= 3x ``python -c pass``. Both run from the interpreter's
own ``bin/`` (under ``invoke bench`` that is what PATH finds first; an interactive pyenv shell
adds a shim to both, which only dilutes the ratio). ``invoke --version`` (invoke alone, no
tasks.py read) is printed as the floor that no change to this project can go below.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import Command, Comparison, run_all  # noqa: E402
from standins import ROOT, command_env  # noqa: E402

TARGET = 3.0
RUNS = int(os.environ.get("BENCH_RUNS", "7"))


def comparisons() -> list[Comparison]:
    env = command_env()
    invoke = str(Path(sys.executable).parent / "invoke")
    python = Command.of("python -c pass", [sys.executable, "-c", "pass"], env=env, cwd=str(ROOT))
    return [
        Comparison("startup", "invoke --list, start to exit",
                   Command.of("invoke --list", [invoke, "--list"], env=env, cwd=str(ROOT)), python, TARGET, RUNS),
        Comparison("startup-floor", "invoke --version: invoke's own start-up, no tasks.py read",
                   Command.of("invoke --version", [invoke, "--version"], env=env, cwd=str(ROOT)), python, None, RUNS),
    ]


def main() -> int:
    return run_all(comparisons())


if __name__ == "__main__":
    raise SystemExit(main())
