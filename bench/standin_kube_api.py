"""Kubernetes API stand-in throughput: GETs per second and watch fan-out to 100 watchers.

Runs the stand-in in a child process (controllers off, so only API traffic is measured)
and drives it with httpx from this one. The Python client is itself a bottleneck
(especially parsing 100 watch streams), so the figures are a floor for the server.

A capacity figure of the stand-in itself, with no baseline to compare with, so it is not one
of ``invoke bench``'s comparisons: run it as ``python bench/standin_kube_api.py``.
"""
from __future__ import annotations

import asyncio
import json
import multiprocessing
import time

import httpx

from pipeline.sandbox.harness import Sandbox
from pipeline.sandbox.kube import server

DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
GET_CLIENTS = 8
GET_REQUESTS = 4000
WATCHERS = 100
UPDATES = 200


def _deployment() -> dict:
    labels = {"app": "web"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "web", "image": "registry.local/web:1"}]}}}}


async def _gets(url: str) -> float:
    per_client = GET_REQUESTS // GET_CLIENTS
    async with httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=GET_CLIENTS)) as client:
        async def worker() -> None:
            for _ in range(per_client):
                response = await client.get(f"{DEPLOYS}/web")
                response.raise_for_status()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(GET_CLIENTS)))
        return per_client * GET_CLIENTS / (time.perf_counter() - started)


async def _fan_out(url: str) -> tuple[float, float]:
    async with httpx.AsyncClient(base_url=url, timeout=120,
                                 limits=httpx.Limits(max_connections=WATCHERS + 10)) as client:
        rv = (await client.get(f"{DEPLOYS}/web")).json()["metadata"]["resourceVersion"]
        done_at: list[float] = []
        opened = 0
        all_open = asyncio.Event()

        async def watcher() -> int:
            nonlocal opened
            seen = 0
            async with client.stream("GET", DEPLOYS, params={"watch": "true", "resourceVersion": rv,
                                                             "timeoutSeconds": "120"}) as response:
                opened += 1          # headers arrive only after the server registered the watch
                if opened == WATCHERS:
                    all_open.set()
                async for line in response.aiter_lines():
                    json.loads(line)
                    seen += 1
                    if seen == UPDATES:
                        done_at.append(time.perf_counter())
                        return seen
            return seen

        tasks = [asyncio.create_task(watcher()) for _ in range(WATCHERS)]
        await asyncio.wait_for(all_open.wait(), 60)
        started = time.perf_counter()
        for replicas in range(UPDATES):
            await client.patch(f"{DEPLOYS}/web", json={"spec": {"replicas": replicas % 5 + 2}},
                               headers={"Content-Type": "application/merge-patch+json"})
        writes_done = time.perf_counter()
        seen = await asyncio.gather(*tasks)
        assert all(s == UPDATES for s in seen), seen
        elapsed = max(done_at) - started
        return WATCHERS * UPDATES / elapsed, UPDATES / (writes_done - started)


def _serve(urls: "multiprocessing.Queue[str]", stop: "multiprocessing.synchronize.Event") -> None:
    server.load_controllers = lambda: None
    with Sandbox(["kube"]) as sandbox:
        urls.put(sandbox.urls["kube"])
        stop.wait()


def main() -> int:
    context = multiprocessing.get_context("spawn")
    urls: multiprocessing.Queue[str] = context.Queue()
    stop = context.Event()
    child = context.Process(target=_serve, args=(urls, stop), daemon=True)
    child.start()
    try:
        url = urls.get(timeout=60)
        httpx.post(f"{url}{DEPLOYS}", json=_deployment()).raise_for_status()
        rps = asyncio.run(_gets(url))
        delivered, writes = asyncio.run(_fan_out(url))
    finally:
        stop.set()
        child.join(timeout=15)
    print(f"kube API GET deployment: {rps:,.0f} requests/s ({GET_CLIENTS} concurrent clients, {GET_REQUESTS} requests)")
    print(f"kube API watch fan-out: {delivered:,.0f} events/s delivered to {WATCHERS} watchers "
          f"({UPDATES} updates; {writes:,.0f} PATCH/s while {WATCHERS} watchers listened)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
