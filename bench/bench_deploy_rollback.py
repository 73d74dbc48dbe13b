"""Klaviyo-401 release on the sandbox: our deploy's automatic rollback vs the checklist's manual procedure.

Measured per run, from a watch on the cluster (not from either tool's own report):
* restore time: from the first pod of the bad release becoming Ready to the previous
  version being fully available again (Deployment complete on the good image);
* Kubernetes API requests the tool made (the stand-in's request counter);
* the most bad pods that were Ready at once (customer exposure).

Baseline, in the same run on the same cluster: the seed checklist's procedure scripted as
tightly as a script can be: `kubectl set image`, `kubectl rollout status`, the checklist's
health check on a new pod (through the pod proxy), then `kubectl rollout undo` and
`kubectl rollout status`. It reacts instantly, which no human at 3 a.m. does.
Target (issue 6): our restore time under 10 s with instant pods.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import load_config  # noqa: E402
from pipeline.deploy.gated_rollout import is_ready  # noqa: E402
from pipeline.deploy.observe import RolloutObserver  # noqa: E402
from pipeline.deploy.engine import Deploy, DeployRequest  # noqa: E402
from pipeline.kube.client import api_client  # noqa: E402
from pipeline.sandbox.harness import Sandbox  # noqa: E402
from pipeline.sandbox.supervisor import kubeconfig  # noqa: E402

GOOD, BAD = "klaviyo-sync:1.0.0", "klaviyo-sync:1.2.0-bad-auth"
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
CONFIG = """
[defaults.kube]
kubeconfig = "${{KUBECONFIG}}"
manifests = "{root}/k8s"
[defaults.klaviyo]
base_url = "${{SANDBOX_KLAVIYO_URL}}"
status_page_url = "${{SANDBOX_STATUS_URL}}"
app_source = "{root}/examples/klaviyo-sync"
[defaults.flags]
api_url = "${{SANDBOX_LAUNCHDARKLY_URL}}"
stream_url = "${{SANDBOX_LAUNCHDARKLY_URL}}"
events_url = "${{SANDBOX_LAUNCHDARKLY_URL}}"
project = "klaviyo-sync"
environment = "local"
[defaults.rollout]
gate_verify_seconds = 2
bake_seconds = 1
progress_deadline_seconds = 60
[defaults.rollback]
via = ["flag", "undo"]
[env.local]
"""


class Timeline:
    """Watches the cluster; notes when bad pods get Ready and when the good version is back."""

    def __init__(self, api, namespace: str = "default", name: str = "klaviyo-sync") -> None:
        self.observer = RolloutObserver(api, namespace, name, {"app": "klaviyo-sync"})
        self.bad_ready_at: float | None = None
        self.restored_at: float | None = None
        self.max_bad_ready = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Timeline":
        self.observer.__enter__()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.observer.__exit__()

    def _run(self) -> None:
        while not self.done.is_set():
            snapshot = self.observer.next(time.monotonic() + 0.5)
            if snapshot is None or snapshot.deployment is None:
                continue
            now = time.monotonic()
            bad_ready = [p for p in snapshot.pods if image(p["spec"]) == BAD and is_ready(p)]
            self.max_bad_ready = max(self.max_bad_ready, len(bad_ready))
            if bad_ready and self.bad_ready_at is None:
                self.bad_ready_at = now
            if self.bad_ready_at is not None and self.restored_at is None and restored(snapshot.deployment):
                self.restored_at = now

    @property
    def restore_seconds(self) -> float | None:
        if self.bad_ready_at is None or self.restored_at is None:
            return None
        return self.restored_at - self.bad_ready_at


def image(pod_spec: dict) -> str:
    return pod_spec["containers"][0]["image"]


def restored(deployment: dict) -> bool:
    spec, status = deployment["spec"], deployment.get("status") or {}
    return (image(spec["template"]["spec"]) == GOOD and not spec.get("paused")
            and status.get("observedGeneration") == deployment["metadata"]["generation"]
            and status.get("updatedReplicas") == status.get("replicas") == status.get("availableReplicas")
            == spec["replicas"])


def requests(url: str, reset: bool = False) -> int:
    if reset:
        return httpx.delete(f"{url}/_sandbox/requests").json()["total"]
    return httpx.get(f"{url}/_sandbox/requests").json()["total"]


def ours(config, environ, api, kube_url) -> tuple[float | None, int, int, str]:
    requests(kube_url, reset=True)
    with Timeline(api) as timeline:
        result = Deploy(config, DeployRequest(BAD), environ=environ).run()
        wait(lambda: timeline.restored_at is not None, 30)
    return timeline.restore_seconds, requests(kube_url), timeline.max_bad_ready, result.outcome.value


def manual(environ, api, kube_url) -> tuple[float | None, int, int, str]:
    def kubectl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["kubectl", *args], env=environ, capture_output=True, text=True, check=check,
                              timeout=120)
    requests(kube_url, reset=True)
    with Timeline(api) as timeline:
        kubectl("set", "image", "deploy/klaviyo-sync", f"app={BAD}")
        kubectl("rollout", "status", "deploy/klaviyo-sync", "--timeout=120s")
        pod = kubectl("get", "pods", "-l", "app=klaviyo-sync", "-o",
                      "jsonpath={.items[?(@.spec.containers[0].image=='" + BAD + "')].metadata.name}").stdout.split()[0]
        health = kubectl("get", "--raw", f"/api/v1/namespaces/default/pods/{pod}:8080/proxy/health", check=False)
        verdict = "unhealthy" if health.returncode else "healthy"
        kubectl("rollout", "undo", "deploy/klaviyo-sync")
        kubectl("rollout", "status", "deploy/klaviyo-sync", "--timeout=120s")
        wait(lambda: timeline.restored_at is not None, 30)
    return timeline.restore_seconds, requests(kube_url), timeline.max_bad_ready, f"health {verdict}, undone"


def wait(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, Sandbox() as sandbox:
        environ = {**os.environ, **sandbox.env(), "KUBECONFIG": f"{tmp}/kubeconfig",
                   "PIPELINE_AUDIT_DIR": f"{tmp}/audit", "KUBECACHEDIR": f"{tmp}/kubecache"}
        Path(f"{tmp}/kubeconfig").write_text(kubeconfig(sandbox.urls["kube"]))
        Path(f"{tmp}/pipeline.toml").write_text(CONFIG.format(root=ROOT))
        config = load_config("local", f"{tmp}/pipeline.toml", environ)
        api = api_client(config.kube)
        first = Deploy(config, DeployRequest(GOOD), environ=environ).run()
        if first.exit_code:
            print(f"could not deploy the good release: {first.reason}")
            return 1
        rows = []
        for run in range(RUNS):
            rows.append(("ours", *ours(config, environ, api, sandbox.urls["kube"])))
            rows.append(("manual", *manual(environ, api, sandbox.urls["kube"])))
        report(rows)
        times = [r[1] for r in rows if r[0] == "ours" and r[1] is not None]
        return 0 if len(times) == RUNS and max(times) < 10 else 1


def report(rows: list[tuple]) -> None:
    print(f"{'run':<8}{'restore s':>10}{'k8s requests':>14}{'bad pods Ready (max)':>22}  result")
    for name, seconds, count, bad, outcome in rows:
        shown = f"{seconds:.2f}" if seconds is not None else "n/a"
        print(f"{name:<8}{shown:>10}{count:>14}{bad:>22}  {outcome}")
    for name in ("ours", "manual"):
        times = [r[1] for r in rows if r[0] == name and r[1] is not None]
        counts = [r[2] for r in rows if r[0] == name]
        print(f"{name}: restore median {statistics.median(times):.2f}s (max {max(times):.2f}s), "
              f"k8s requests median {statistics.median(counts):.0f}")
    ours_t = statistics.median([r[1] for r in rows if r[0] == "ours" and r[1] is not None])
    manual_t = statistics.median([r[1] for r in rows if r[0] == "manual" and r[1] is not None])
    ours_n = statistics.median([r[2] for r in rows if r[0] == "ours"])
    manual_n = statistics.median([r[2] for r in rows if r[0] == "manual"])
    print(f"ratio manual/ours: restore time {manual_t / ours_t:.2f}x, k8s requests {manual_n / ours_n:.2f}x "
          f"(target: ours < 10 s)")


if __name__ == "__main__":
    raise SystemExit(main())
