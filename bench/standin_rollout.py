"""Rolling update speed of the kube stand-in: 10 replicas, instantly-ready pods.

Measures, with the real kubectl, the wall time from ``kubectl set image`` to
``kubectl rollout status`` reporting success (both processes included: kubectl's own
start-up and discovery are part of what a user waits for), and, in the same run, the
controllers alone: set image -> deployment complete, observed in-process from store events.

A capacity figure of the stand-in itself, with no baseline to compare with, so it is not one
of ``invoke bench``'s comparisons: run it as ``python bench/standin_rollout.py``.
"""
from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from pipeline.sandbox.harness import Sandbox
from pipeline.sandbox.kube.resources import DEPLOYMENTS
from pipeline.sandbox.kube.store import Event
from pipeline.sandbox.supervisor import kubeconfig

REPLICAS = 10
ROUNDS = 5


def _manifest() -> dict:
    labels = {"app": "bench"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bench", "namespace": "default"},
            "spec": {"replicas": REPLICAS, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "web", "image": "nginx:0"}]}}}}


def _kubectl(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["kubectl", *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed: {done.stderr}")
    return done


def _complete(obj: dict) -> bool:
    status, replicas = obj.get("status") or {}, obj["spec"]["replicas"]
    return (status.get("observedGeneration", 0) >= obj["metadata"]["generation"]
            and status.get("updatedReplicas", 0) == replicas == status.get("replicas", 0)
            == status.get("availableReplicas", 0))


def _controllers_only(sb: Sandbox, tag: str) -> float:
    """Change the image in-process and time until the deployment is complete (no kubectl)."""
    cluster = sb.apps["kube"]["state"]

    async def measure() -> float:
        finished: asyncio.Future[float] = asyncio.get_running_loop().create_future()

        def listener(event: Event) -> None:
            obj = event.object
            if (event.resource == DEPLOYMENTS and not finished.done() and _complete(obj)
                    and obj["spec"]["template"]["spec"]["containers"][0]["image"] == tag):
                finished.set_result(time.perf_counter())
        remove = cluster.store.add_listener(listener)
        try:
            obj = cluster.get(DEPLOYMENTS, "default", "bench")
            obj["spec"]["template"]["spec"]["containers"][0]["image"] = tag
            started = time.perf_counter()
            cluster.update(DEPLOYMENTS, obj)
            return await asyncio.wait_for(finished, 60) - started
        finally:
            remove()
    return float(sb.call(measure, timeout=90))  # type: ignore[arg-type]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, Sandbox(["kube"]) as sb:
        config = Path(tmp) / "kubeconfig"
        config.write_text(kubeconfig(sb.urls["kube"]))
        env = dict(os.environ, KUBECONFIG=str(config), KUBECACHEDIR=str(Path(tmp) / "cache"))
        _kubectl(env, "create", "-f", "-", stdin=json.dumps(_manifest()))
        _kubectl(env, "rollout", "status", "deploy/bench", "--timeout=60s")
        with_kubectl = []
        for round_ in range(1, ROUNDS + 1):
            started = time.perf_counter()
            _kubectl(env, "set", "image", "deploy/bench", f"web=nginx:{round_}")
            out = _kubectl(env, "rollout", "status", "deploy/bench", "--timeout=60s").stdout
            with_kubectl.append(time.perf_counter() - started)
            assert out.splitlines()[-1] == 'deployment "bench" successfully rolled out', out
        alone = [_controllers_only(sb, f"nginx:c{i}") for i in range(ROUNDS)]
    print(f"rollout ({REPLICAS} replicas, maxSurge/maxUnavailable 25%, instant pods), {ROUNDS} rounds:")
    print(f"  kubectl set image -> rollout status success: median {statistics.median(with_kubectl) * 1000:.0f} ms"
          f" (min {min(with_kubectl) * 1000:.0f}, max {max(with_kubectl) * 1000:.0f})")
    print(f"  controllers alone (image change -> complete): median {statistics.median(alone) * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
