"""Rollout undo: time from the command to a complete rollout, 10 replicas, instant pods.

Serves the kube stand-in in-process. A 10-replica Deployment has two revisions; each run
undoes it (alternating between the two images) and measures
  * ours:         ``RolloutUndo.execute`` wall time (read + RS list + JSON Patch + watch
                  until kubectl's "successfully rolled out" rule holds), and its wait part;
  * kubectl:      ``kubectl rollout undo`` + ``kubectl rollout status`` (the by-hand
                  baseline of the runbook, two real kubectl processes), same run, same cluster.
Prints median/p95 of each and the ratio kubectl / ours.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubernetes import client, config as kube_config  # noqa: E402

from pipeline.kube.rollout import wait_for_rollout  # noqa: E402
from pipeline.rollback.result import Outcome  # noqa: E402
from pipeline.rollback.rollout_undo import RolloutUndo  # noqa: E402
from pipeline.sandbox.harness import Sandbox  # noqa: E402
from pipeline.sandbox.supervisor import kubeconfig  # noqa: E402

RUNS = 10
REPLICAS = 10


def deployment(name: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": "web:1"}]}}}}


def prepare(apps: client.AppsV1Api, name: str) -> None:
    apps.create_namespaced_deployment("default", deployment(name))
    assert wait_for_rollout(apps, "default", name, 60).complete
    apps.patch_namespaced_deployment(name, "default", {"spec": {"template": {"spec": {
        "containers": [{"name": "app", "image": "web:2"}]}}}})
    assert wait_for_rollout(apps, "default", name, 60).complete


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def describe(label: str, values: list[float]) -> str:
    return (f"{label:<34} median {statistics.median(values) * 1000:7.1f} ms   "
            f"p95 {percentile(values, 0.95) * 1000:7.1f} ms   (n={len(values)})")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, Sandbox(["kube"]) as sandbox:
        path = Path(tmp) / "kubeconfig"
        path.write_text(kubeconfig(sandbox.urls["kube"]))
        env = {**os.environ, "KUBECONFIG": str(path), "KUBECACHEDIR": str(Path(tmp) / "cache")}
        apps = client.AppsV1Api(kube_config.new_client_from_config(str(path), persist_config=False))
        prepare(apps, "bench-ours")
        prepare(apps, "bench-kubectl")
        ours, waits, events = [], [], []
        for _ in range(RUNS):
            result = RolloutUndo(apps, "default", "bench-ours", "app", timeout_seconds=60).execute("bench")
            if result.outcome is not Outcome.DONE:
                print(f"FAILED: {result.detail}")
                return 1
            ours.append(result.duration_seconds)
            waits.append(result.data["rollout_seconds"])
            events.append(result.data["watch_events"])
        theirs = []
        for _ in range(RUNS):
            start = time.perf_counter()
            for args in (["rollout", "undo", "deploy/bench-kubectl"],
                         ["rollout", "status", "deploy/bench-kubectl", "--timeout=60s"]):
                subprocess.run(["kubectl", *args], env=env, check=True, capture_output=True, timeout=90)
            theirs.append(time.perf_counter() - start)
    print(f"rollout undo of a {REPLICAS}-replica deployment on the kube stand-in (instant pods), {RUNS} runs")
    print(describe("ours: undo -> rollout complete", ours))
    print(describe("  of which watching to complete", waits))
    print(f"{'  watch events per undo':<34} median {statistics.median(events):7.0f}")
    print(describe("kubectl rollout undo + status", theirs))
    print(f"ratio kubectl / ours (median): {statistics.median(theirs) / statistics.median(ours):.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
