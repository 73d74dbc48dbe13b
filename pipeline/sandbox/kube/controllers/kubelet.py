"""The simulated kubelet: gives every pod a lifecycle and reports it in ``pod.status``.

Each container gets a *driver*: a :class:`SimContainer` playing the image's simulated
behaviour (``images.py``: ready instantly by default, ready after N s, never ready, crash
loop), or a :class:`~pipeline.sandbox.kube.controllers.processes.ProcessContainer` running
the image as a real local process. Drivers change their :class:`ContainerState` and call
``notify``; the kubelet then writes the pod status built by ``podstatus.py``.

Pods are adopted when first seen (including all pods in a store loaded from disk: their
processes died with the previous sandbox, so they start afresh) and torn down when deleted.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from pipeline.sandbox.harness import SandboxContext
from pipeline.sandbox.kube.controllers.images import Behaviour, ImageCatalog
from pipeline.sandbox.kube.controllers.podstatus import ContainerState, pod_status
from pipeline.sandbox.kube.controllers.runtime import Clock, WorkQueue
from pipeline.sandbox.kube.controllers.spec import Obj, format_time, parse_time
from pipeline.sandbox.kube.objects import ApiError, Cluster
from pipeline.sandbox.kube.resources import PODS

log = logging.getLogger(__name__)
Key = tuple[str, str]


class Driver(Protocol):
    state: ContainerState

    def start(self) -> None: ...
    async def stop(self) -> None: ...


class SimContainer:
    """A container whose behaviour is simulated with timers (no process)."""

    def __init__(self, spec: Obj, behaviour: Behaviour, previous: Obj | None,
                 loop: asyncio.AbstractEventLoop, clock: Clock, notify: Callable[[], None]) -> None:
        self.spec, self.behaviour, self.loop, self.clock, self.notify = spec, behaviour, loop, clock, notify
        self.state = ContainerState(spec.get("name", ""), spec.get("image", ""))
        self._previous = previous or {}
        self._handles: list[asyncio.TimerHandle] = []

    def start(self) -> None:
        now = self.clock()
        running = (self._previous.get("state") or {}).get("running")
        started = (parse_time(running.get("startedAt")) if running else None) or now
        restarts = int(self._previous.get("restartCount") or 0)
        state = self.state
        state.container_id = f"sandbox://{state.name}"
        state.restart_count = restarts
        if self.behaviour.pull_error:
            state.reason = "ErrImagePull"
            state.message = f'failed to pull and unpack image "{state.image}": not found'
            self._later(0.5, self._pull_backoff)
            return
        if self.behaviour.crash:
            self._crash()
            return
        state.state, state.reason, state.started_at = "running", "", started
        if self.behaviour.never_ready:
            return
        ready_at = started + self.behaviour.ready_after_seconds
        if ready_at <= now:
            state.ready = True
        else:
            self._later(ready_at - now, self._become_ready)

    def _pull_backoff(self) -> None:
        self.state.reason = "ImagePullBackOff"
        self.state.message = f'Back-off pulling image "{self.state.image}"'
        self.notify()

    def _become_ready(self) -> None:
        self.state.ready = True
        self.notify()

    def _crash(self) -> None:
        now = self.clock()
        state = self.state
        if state.state == "running" or state.restart_count:
            state.restart_count += 1
        state.last_terminated = {"exitCode": 1, "reason": "Error", "startedAt": format_time(state.started_at or now),
                                 "finishedAt": format_time(now), "containerID": state.container_id}
        state.state, state.ready, state.reason = "waiting", False, "CrashLoopBackOff"
        state.message = f"back-off 10s restarting failed container={state.name} pod=sandbox"
        state.started_at = now
        self._later(self.behaviour.crash_period_seconds, self._restart)

    def _restart(self) -> None:
        self.state.state, self.state.started_at = "running", self.clock()
        self.notify()
        self._later(min(0.2, self.behaviour.crash_period_seconds), self._crash_and_notify)

    def _crash_and_notify(self) -> None:
        self._crash()
        self.notify()

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        self._handles.append(self.loop.call_later(max(0.0, delay), fn))

    async def stop(self) -> None:
        for handle in self._handles:
            handle.cancel()


@dataclass
class PodRuntime:
    uid: str
    drivers: list[Driver] = field(default_factory=list)


class Kubelet:
    def __init__(self, cluster: Cluster, catalog: ImageCatalog, ctx: SandboxContext,
                 queue_factory: Callable[[Callable[[Key], None], str], WorkQueue],
                 loop: asyncio.AbstractEventLoop, clock: Clock, log_dir: Path) -> None:
        self.cluster, self.catalog, self.ctx, self.loop, self.clock = cluster, catalog, ctx, loop, clock
        self.log_dir = log_dir
        self.queue = queue_factory(self.sync, "kubelet")
        self.pods: dict[Key, PodRuntime] = {}
        self._stopping: set[asyncio.Task[None]] = set()
        self.config_changed = asyncio.Event()

    # --- events ------------------------------------------------------------------------
    def on_pod(self, event_type: str, pod: Obj) -> None:
        self.queue.add((pod["metadata"].get("namespace", ""), pod["metadata"]["name"]))

    def on_config(self) -> None:
        """A Secret or ConfigMap changed: wake containers waiting for their env."""
        self.config_changed.set()
        self.config_changed = asyncio.Event()

    def log_path(self, namespace: str, pod: str, container: str) -> Path:
        return self.log_dir / f"{namespace}_{pod}_{container}.log"

    # --- reconcile ---------------------------------------------------------------------
    def sync(self, key: Key) -> None:
        pod = self.cluster.store.get(PODS, *key)
        runtime = self.pods.get(key)
        if pod is None or pod["metadata"].get("deletionTimestamp") or (
                runtime is not None and runtime.uid != pod["metadata"]["uid"]):
            if runtime is not None:
                self._teardown(key)
            if pod is None or pod["metadata"].get("deletionTimestamp"):
                return
            runtime = None
        if runtime is None:
            runtime = self._adopt(key, pod)
        self._write_status(pod, runtime)

    def _adopt(self, key: Key, pod: Obj) -> PodRuntime:
        runtime = PodRuntime(pod["metadata"]["uid"])
        self.pods[key] = runtime
        previous = {cs.get("name"): cs for cs in (pod.get("status") or {}).get("containerStatuses") or []}
        notify = lambda: self.queue.add(key)  # noqa: E731
        for container in (pod.get("spec") or {}).get("containers") or []:
            image = container.get("image", "")
            process = self.catalog.process(image)
            if process is not None:
                from pipeline.sandbox.kube.controllers.processes import ProcessContainer
                driver: Driver = ProcessContainer(self, key, pod, container, process, notify)
            else:
                driver = SimContainer(container, self.catalog.behaviour(image), previous.get(container.get("name")),
                                      self.loop, self.clock, notify)
            runtime.drivers.append(driver)
            driver.start()
        return runtime

    def _teardown(self, key: Key) -> None:
        runtime = self.pods.pop(key)
        for driver in runtime.drivers:
            task = self.loop.create_task(driver.stop())
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)

    def _write_status(self, pod: Obj, runtime: PodRuntime) -> None:
        status = pod_status(pod, [d.state for d in runtime.drivers], self.clock())
        if status == (pod.get("status") or {}):
            return
        pod["status"] = status
        pod["metadata"].pop("resourceVersion", None)
        try:
            self.cluster.update_status(PODS, pod)
        except ApiError as exc:
            if exc.code != 404:
                raise

    async def stop(self) -> None:
        self.queue.stop()
        for key in list(self.pods):
            self._teardown(key)
        if self._stopping:
            await asyncio.gather(*list(self._stopping), return_exceptions=True)
