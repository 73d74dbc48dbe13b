"""Preflight: ``invoke preflight --env local`` against the checklist's bash pre-flight script.

Both run as whole processes against the same stand-ins, alternated, with ONE stand-in slowed
by 1 s per response (first the Klaviyo API, then the status page), the other answering at
once: the setting where our checks' concurrency cannot hide our start-up. The script is
tests/preflight/fixtures/preflight-klaviyo.sh (the seed's, verbatim) with its two URLs
pointed at the stand-ins by sed, as tests/preflight does. Before every run, untimed, the
stand-ins' scenarios are reset (which also refills the Klaviyo rate-limit windows: accounts
allows 1 request/s) and the delay set again.
Target (issue 12): ours <= 1x the script.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import Command, Comparison, run_all  # noqa: E402
from standins import ROOT, Standins, running  # noqa: E402

SCRIPT = ROOT / "tests" / "preflight" / "fixtures" / "preflight-klaviyo.sh"
DELAY_SECONDS = 1.0
TARGET = 1.0
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
INVOKE = str(Path(sys.executable).parent / "invoke")


def seed_script(standins: Standins) -> Path:
    script = standins.directory / "preflight-klaviyo.sh"
    with script.open("w") as out:
        subprocess.run(["sed", "-e", f"s#https://status.klaviyo.com#{standins.urls['status']}#g",
                        "-e", f"s#https://a.klaviyo.com#{standins.urls['klaviyo']}#g", str(SCRIPT)],
                       stdout=out, check=True)
    return script


def slowed(standins: Standins, name: str) -> Comparison:
    def prepare() -> None:
        for each in ("klaviyo", "status"):
            standins.scenario(each, None)
        standins.scenario(name, {"latency_seconds": DELAY_SECONDS})

    options = dict(env=standins.env, cwd=str(ROOT), prepare=prepare)
    return Comparison(f"preflight-{name}-slow", f"whole run, the {name} stand-in answering {DELAY_SECONDS:g} s late",
                      Command.of("invoke preflight", [INVOKE, "preflight", "--env", "local"], **options),
                      Command.of("seed script", ["bash", str(seed_script(standins))], **options),
                      TARGET, RUNS)


def main() -> int:
    with running() as standins:
        return run_all([slowed(standins, "klaviyo"), slowed(standins, "status")])


if __name__ == "__main__":
    raise SystemExit(main())
