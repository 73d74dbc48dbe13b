"""Shared helpers for the controller tests: a Cluster (with the API's validation and
defaulting) plus running controllers on an asyncio loop. No tests here."""
from __future__ import annotations

import asyncio
import copy
import time
from typing import Any, Callable

import pytest

from pipeline.sandbox.harness import Credentials, SandboxContext
from pipeline.sandbox.kube import validation
from pipeline.sandbox.kube.controllers import controller_state, start_controllers
from pipeline.sandbox.kube.objects import Cluster
from pipeline.sandbox.kube.resources import DEPLOYMENTS


def deployment(name: str = "web", image: str = "nginx:1", replicas: int = 3, **spec: Any) -> dict:
    body = {"metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": image}]}}}}
    body["spec"].update(spec)
    return body


class Harness:
    """A Cluster plus running controllers; ``wait_for`` waits on store events, not sleeps."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.changed = asyncio.Event()
        cluster.store.add_listener(lambda event: self.changed.set())

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("condition not met before deadline")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(remaining, 0.5))
            except asyncio.TimeoutError:
                pass

    def deploy(self, name: str = "web") -> dict:
        return self.cluster.get(DEPLOYMENTS, "default", name)

    def edit(self, name: str, change: Callable[[dict], None]) -> dict:
        obj = copy.deepcopy(self.deploy(name))
        change(obj)
        return self.cluster.update(DEPLOYMENTS, obj)

    def images(self, behaviours: dict) -> None:
        controller_state(self.cluster).catalog.update_behaviours(behaviours)


@pytest.fixture
def run_cluster(tmp_path):
    """``run_cluster(scenario)`` runs ``async scenario(h: Harness)`` with controllers started."""
    def run(scenario: Callable[[Harness], Any], extra: dict | None = None, cluster: Cluster | None = None) -> Cluster:
        cluster = cluster or new_cluster()

        async def main() -> None:
            harness = Harness(cluster)
            ctx = SandboxContext({}, Credentials.generate(), tmp_path / "state", extra=extra or {})
            stop = start_controllers(cluster, ctx)
            try:
                await scenario(harness)
            finally:
                await stop()
        asyncio.run(main())
        return cluster
    return run


def new_cluster() -> Cluster:
    cluster = Cluster()
    validation.register(cluster)
    return cluster
