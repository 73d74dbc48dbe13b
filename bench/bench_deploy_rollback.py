"""Klaviyo-401 release: ``invoke deploy`` (automatic rollback) against the checklist's manual procedure.

The figure, read from the cluster by this process (polling the kube stand-in every 50 ms, not
from either tool's own report): from the first pod of the bad release being Ready to the
previous version being fully available again (Deployment complete on the good image). The
most bad pods Ready at once (customer exposure) is printed per run as well.
* ours: ``invoke deploy --env local --image klaviyo-sync:1.2.0-bad-auth`` (exits 5: rolled back);
* baseline: the seed checklist's procedure scripted as tightly as a script can be:
  ``kubectl set image``, ``kubectl rollout status``, the checklist's health check on a new pod
  (through the pod proxy), then ``kubectl rollout undo`` and ``kubectl rollout status``. It
  reacts instantly, which no human at 3 a.m. does.
Both are whole processes, alternated, on the same Deployment (the good release deployed first).
Target (issue 12, item 3): ours >= 10x faster, i.e. ours / baseline <= 0.1.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import Command, Comparison, run_all, time_once  # noqa: E402
from standins import ROOT, Standins, running  # noqa: E402

from pipeline.sandbox.pipeline_toml import sandbox_toml  # noqa: E402

GOOD, BAD = "klaviyo-sync:1.0.0", "klaviyo-sync:1.2.0-bad-auth"
TARGET = 0.1
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
INVOKE = str(Path(sys.executable).parent / "invoke")
# as tests/e2e: windows long enough for the evidence floor (rollout.min_requests) at one scrape a second
ROLLOUT = {"gate_verify_seconds": 8, "bake_seconds": 4, "scrape_interval_seconds": 1.0,
           "progress_deadline_seconds": 60}
MANUAL = """set -eu
kubectl set image deploy/klaviyo-sync app={bad}
kubectl rollout status deploy/klaviyo-sync --timeout=120s
pod=$(kubectl get pods -l app=klaviyo-sync -o "jsonpath={{.items[?(@.spec.containers[0].image=='{bad}')].metadata.name}}" | cut -d' ' -f1)
kubectl get --raw "/api/v1/namespaces/default/pods/$pod:8080/proxy/health" >/dev/null 2>&1 || echo unhealthy
kubectl rollout undo deploy/klaviyo-sync
kubectl rollout status deploy/klaviyo-sync --timeout=120s
"""
DEPLOYMENT = "/apis/apps/v1/namespaces/default/deployments/klaviyo-sync"
PODS = "/api/v1/namespaces/default/pods"


def image(spec: dict) -> str:
    return spec["containers"][0]["image"]


def ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def restored(deployment: dict) -> bool:
    spec, status = deployment["spec"], deployment.get("status") or {}
    return (image(spec["template"]["spec"]) == GOOD and not spec.get("paused")
            and status.get("observedGeneration") == deployment["metadata"]["generation"]
            and status.get("updatedReplicas") == status.get("replicas") == status.get("availableReplicas")
            == spec["replicas"])


class Timeline:
    """Polls the cluster: when the first bad pod is Ready, and when the good version is back."""

    def __init__(self, url: str, bad: str = BAD) -> None:
        self.http = httpx.Client(base_url=url, timeout=5)
        self.bad = bad
        self.runs: list[dict] = []

    def settle(self, timeout: float = 120) -> None:
        """Untimed, before a run: the good version complete and no pod of the bad one left, so that a
        run never sees the previous run's bad pods."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            pods = self.http.get(PODS, params={"labelSelector": "app=klaviyo-sync"}).json()["items"]
            if not any(image(p["spec"]) == self.bad for p in pods) and restored(self.http.get(DEPLOYMENT).json()):
                return
            time.sleep(0.1)
        raise RuntimeError("the cluster did not settle on the good version between runs")

    def restore_seconds(self, started: float, timeout: float = 180) -> float | None:
        bad_ready_at = restored_at = None
        most_bad = 0
        deadline = time.perf_counter() + timeout
        while restored_at is None and time.perf_counter() < deadline:
            now = time.perf_counter()
            pods = self.http.get(PODS, params={"labelSelector": "app=klaviyo-sync"}).json()["items"]
            bad = [p for p in pods if image(p["spec"]) == self.bad and ready(p)]
            most_bad = max(most_bad, len(bad))
            if bad and bad_ready_at is None:
                bad_ready_at = now
            if bad_ready_at is not None and restored(self.http.get(DEPLOYMENT).json()):
                restored_at = now
            time.sleep(0.05)
        self.runs.append({"most_bad_ready": most_bad})
        return None if restored_at is None or bad_ready_at is None else restored_at - bad_ready_at


def comparison(standins: Standins, timeline: Timeline) -> Comparison:
    config = standins.directory / "pipeline.toml"
    config.write_text(sandbox_toml(ROOT, ROLLOUT, ["flag", "undo"]))
    script = standins.directory / "manual.sh"
    script.write_text(MANUAL.format(bad=BAD))
    first = Command.of("deploy the good release", [INVOKE, "deploy", "--env", "local", "--image", GOOD,
                                                  "--config", str(config)], env=standins.env, cwd=str(ROOT))
    time_once(first)

    def figure(started: float) -> float | None:
        return timeline.restore_seconds(started)

    options = dict(env=standins.env, cwd=str(ROOT), figure=figure, timeout=300, prepare=timeline.settle)
    return Comparison("deploy-rollback", "bad-auth release: first bad pod Ready -> previous version fully available",
                      Command.of("invoke deploy (auto rollback)",
                                 [INVOKE, "deploy", "--env", "local", "--image", BAD, "--config", str(config)],
                                 ok=(5,), **options),
                      Command.of("checklist by hand", ["bash", str(script)], **options),
                      TARGET, RUNS)


def main() -> int:
    with running() as standins:
        timeline = Timeline(standins.urls["kube"])
        code = run_all([comparison(standins, timeline)])
        exposure = [r["most_bad_ready"] for r in timeline.runs]
        print(f"  most bad pods Ready at once, per run (ours, baseline alternating, warm-up first): {exposure}")
        return code


if __name__ == "__main__":
    raise SystemExit(main())
