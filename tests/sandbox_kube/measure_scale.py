"""How the kube stand-in's cost grows: a rollout's time per replica as the store fills (issue 12).

Runs in-process (controllers and store on the sandbox loop, no HTTP): create a Deployment
of R instantly-ready replicas, wait until complete, change its image, and time until the
Deployment is complete again and the old pods are gone, with the store pre-filled with F
unrelated objects (ConfigMaps and Pods in other namespaces). Prints ms per replica and the
store's own counters (objects examined by lists). Not a pytest test: it prints timings.

    PYTHONPATH=$PWD python tests/sandbox_kube/measure_scale.py [--replicas 10,100] [--filler 0,2000,8000]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from pipeline.sandbox.harness import Sandbox
from pipeline.sandbox.kube import resources as R
from pipeline.sandbox.kube.store import Event

Obj = dict[str, Any]


def deployment(replicas: int, image: str) -> Obj:
    labels = {"app": "scale"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "scale", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"terminationGracePeriodSeconds": 0,
                                           "containers": [{"name": "web", "image": image}]}}}}


def fill(cluster: Any, count: int) -> None:
    for ns in ("filler-a", "filler-b"):
        cluster.create(R.NAMESPACES, {"metadata": {"name": ns}})
    for i in range(count):
        ns = "filler-a" if i % 2 else "filler-b"
        if i % 4 == 0:
            cluster.create(R.PODS, {"metadata": {"name": f"p{i}", "namespace": ns, "labels": {"app": "filler"}},
                                    "spec": {"containers": [{"name": "c", "image": "filler:1"}]}})
        else:
            cluster.create(R.CONFIGMAPS, {"metadata": {"name": f"c{i}", "namespace": ns},
                                          "data": {"k": "v" * 200}})


def complete(obj: Obj, image: str) -> bool:
    status, replicas = obj.get("status") or {}, obj["spec"]["replicas"]
    return (obj["spec"]["template"]["spec"]["containers"][0]["image"] == image
            and status.get("observedGeneration", 0) >= obj["metadata"]["generation"]
            and status.get("updatedReplicas", 0) == replicas == status.get("replicas", 0)
            == status.get("availableReplicas", 0))


async def rollout(cluster: Any, replicas: int, image: str, create: bool) -> float:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()

    def pods_left() -> int:
        return len(cluster.list(R.PODS, "default"))

    def listener(event: Event) -> None:
        if done.done():
            return
        if event.resource in (R.DEPLOYMENTS, R.PODS):
            current = cluster.store.get(R.DEPLOYMENTS, "default", "scale")
            if current is not None and complete(current, image) and pods_left() == replicas:
                done.set_result(time.perf_counter())
    remove = cluster.store.add_listener(listener)
    try:
        started = time.perf_counter()
        if create:
            cluster.create(R.DEPLOYMENTS, deployment(replicas, image))
        else:
            obj = cluster.get(R.DEPLOYMENTS, "default", "scale")
            obj["spec"]["template"]["spec"]["containers"][0]["image"] = image
            cluster.update(R.DEPLOYMENTS, obj)
        return await asyncio.wait_for(done, 300) - started
    finally:
        remove()


def measure(replicas: int, filler: int, rounds: int) -> tuple[list[float], dict[str, int]]:
    with Sandbox(["kube"]) as sb:
        cluster = sb.apps["kube"]["state"]
        sb.call(lambda: fill(cluster, filler), timeout=600)
        sb.call(lambda: rollout(cluster, replicas, "scale:0", True), timeout=600)
        counters = getattr(cluster.store, "counters", None)
        if counters is not None:
            counters.clear()
        times = [float(sb.call(lambda i=i: rollout(cluster, replicas, f"scale:{i + 1}", False),  # type: ignore
                               timeout=600)) for i in range(rounds)]
        return times, dict(counters or {})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", default="10,100")
    parser.add_argument("--filler", default="0,2000,8000")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{'replicas':>8} {'filler':>7} {'median ms':>10} {'ms/replica':>10}  store counters per rollout")
    for replicas in [int(r) for r in args.replicas.split(",")]:
        for filler in [int(f) for f in args.filler.split(",")]:
            times, counters = measure(replicas, filler, args.rounds)
            median = statistics.median(times) * 1000
            per = {k: v // args.rounds for k, v in counters.items()}
            print(f"{replicas:>8} {filler:>7} {median:>10.0f} {median / replicas:>10.2f}  {per}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
