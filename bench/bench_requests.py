"""Verification that costs O(gates): Kubernetes API requests of a good deploy, bake 40 s against bake 10 s.

Both sides are the same whole ``invoke deploy`` process of a good release against the same
stand-ins, alternated; only ``rollout.bake_seconds`` differs. Each run deploys the other of two
good images, so every run is a real rollout (never "nothing to do"). The figure is the deploy's
own count, ``kube_requests.total`` in its result JSON (``--json-file``): every request its
Kubernetes client sent (reads, writes, watches, Lease renewals) plus the pod-proxy requests of
verification. With requests that grew with the bake's length (re-listing each window, scraping
each pod twice, renewing the lock often), 30 s more bake cost 14 % more requests.
Target (issue 12, item 2): requests(bake 40 s) / requests(bake 10 s) <= 1.1.
"""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import Command, Comparison, from_result_json, run_all  # noqa: E402
from standins import ROOT, Standins, running  # noqa: E402

from pipeline.sandbox.pipeline_toml import sandbox_toml  # noqa: E402

TARGET = 1.1
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
INVOKE = str(Path(sys.executable).parent / "invoke")
IMAGES = ("klaviyo-sync:1.5.0", "klaviyo-sync:1.5.1")
# the sandbox's own timings, with the gates shortened so that the bake dominates the difference
ROLLOUT = {"gates": ["1", "100%"], "gate_verify_seconds": 3, "progress_deadline_seconds": 60, "lock_seconds": 15}


class Counts:
    """Prepares each run (the next image; no stale result) and reads its request count."""

    def __init__(self, directory: Path) -> None:
        self.image_file = directory / "next-image"
        self.deployed = 0
        self.runs: list[str] = []

    def prepare(self, result: Path) -> None:
        result.unlink(missing_ok=True)
        self.deployed += 1
        self.image_file.write_text(IMAGES[self.deployed % 2])     # never the image running

    def read(self, data: dict) -> float | None:
        requests = data.get("kube_requests") or {}
        self.runs.append(f"{data['outcome']}: {requests}")
        return float(requests["total"]) if data["outcome"] == "deployed" and requests.get("total") else None


def deploy(standins: Standins, bake: int, counts: Counts) -> Command:
    config = standins.directory / f"pipeline-bake-{bake}.toml"
    config.write_text(sandbox_toml(ROOT, {**ROLLOUT, "bake_seconds": bake}, ["flag", "undo"]))
    result = standins.directory / f"result-bake-{bake}.json"
    # the image is read from a file the untimed preparation writes: the argv stays fixed
    command = (f'exec {shlex.quote(INVOKE)} deploy --env local --config {shlex.quote(str(config))} '
               f'--json-file {shlex.quote(str(result))} --skip rate-limit --image "$(cat {counts.image_file})"')
    return Command.of(f"bake {bake}s", ["sh", "-c", command], env=standins.env, cwd=str(ROOT), timeout=300,
                      prepare=lambda: counts.prepare(result), figure=from_result_json(result, counts.read))


def main() -> int:
    with running() as standins:
        counts = Counts(standins.directory)
        code = run_all([Comparison("requests", "Kubernetes API requests of a good deploy (kube_requests.total)",
                                   deploy(standins, 40, counts), deploy(standins, 10, counts), TARGET, RUNS,
                                   unit="requests")])
        print("  per run (bake 40s, bake 10s alternating, warm-up first):")
        for run in counts.runs:
            print(f"    {run}")
        return code


if __name__ == "__main__":
    raise SystemExit(main())
