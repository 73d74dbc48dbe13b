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
from pipeline.sandbox.kube.controllers.runtime import Clock, Pacer, WorkQueue
from pipeline.sandbox.kube.controllers.spec import Obj, format_time, parse_time
from pipeline.sandbox.kube.objects import ApiError, Cluster
from pipeline.sandbox.kube.resources import PODS

log = logging.getLogger(__name__)
Key = tuple[str, str]
NODE_NAME = "sandbox-node"


class Driver(Protocol):
    state: ContainerState

    def start(self) -> None: ...
    async def stop(self, grace: float | None = None) -> None:
        """Stop the container: SIGTERM, SIGKILL after ``grace`` seconds (None: the sandbox is
        shutting down, stop fast). Afterwards ``state`` is terminated with the exit code."""


class SimContainer:
    """A container whose behaviour is simulated with timers (no process)."""

    def __init__(self, spec: Obj, behaviour: Behaviour, previous: Obj | None,
                 loop: asyncio.AbstractEventLoop, clock: Clock, notify: Callable[[], None],
                 pace: Callable[[Callable[[], None]], None] | None = None) -> None:
        self.spec, self.behaviour, self.loop, self.clock, self.notify = spec, behaviour, loop, clock, notify
        self.pace = pace or (lambda transition: transition())
        self.state = ContainerState(spec.get("name", ""), spec.get("image", ""))
        self._previous = previous or {}
        self._handles: list[asyncio.TimerHandle] = []

    def start(self) -> None:
        state = self.state
        state.container_id = f"sandbox://{state.name}"
        state.restart_count = int(self._previous.get("restartCount") or 0)
        if self.behaviour.pull_error:
            state.reason = "ErrImagePull"
            state.message = f'failed to pull and unpack image "{state.image}": not found'
            self._later(0.5, self._pull_backoff)
            return
        if self.behaviour.crash:
            self._crash()
            return
        self.pace(self._run)

    def _run(self) -> None:
        """The container starts (paced: one container start at a time across the kubelet)."""
        if self.state.state == "terminated":
            return
        now = self.clock()
        running = (self._previous.get("state") or {}).get("running")
        started = (parse_time(running.get("startedAt")) if running else None) or now
        state = self.state
        state.state, state.reason, state.started_at = "running", "", started
        if not self.behaviour.never_ready:
            ready_at = started + self.behaviour.ready_after_seconds
            if ready_at <= now:
                state.ready = True
            else:
                self._later(ready_at - now, lambda: self.pace(self._become_ready))
        self.notify()

    def _pull_backoff(self) -> None:
        self.state.reason = "ImagePullBackOff"
        self.state.message = f'Back-off pulling image "{self.state.image}"'
        self.notify()

    def _become_ready(self) -> None:
        if self.state.state == "running":
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

    async def stop(self, grace: float | None = None) -> None:
        for handle in self._handles:
            handle.cancel()
        if grace is None or self.state.state != "running":
            self.state.terminate(0 if self.state.state == "running" else 137, self.clock())
            return
        takes = grace if self.behaviour.ignore_sigterm else min(self.behaviour.stop_seconds, grace)
        await asyncio.sleep(takes)
        killed = self.behaviour.ignore_sigterm or self.behaviour.stop_seconds > grace
        self.state.terminate(137 if killed else 0, self.clock())


@dataclass
class PodRuntime:
    uid: str
    drivers: list[Driver] = field(default_factory=list)
    terminating: asyncio.Task[None] | None = None


class Kubelet:
    def __init__(self, cluster: Cluster, catalog: ImageCatalog, ctx: SandboxContext,
                 queue_factory: Callable[[Callable[[Key], None], str], WorkQueue[Key]],
                 loop: asyncio.AbstractEventLoop, clock: Clock, log_dir: Path,
                 idle: Callable[[], bool] = lambda: True) -> None:
        self.cluster, self.catalog, self.ctx, self.loop, self.clock = cluster, catalog, ctx, loop, clock
        self.log_dir = log_dir
        self.queue = queue_factory(self.sync, "kubelet")
        self.pacer = Pacer(loop, idle)
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
        if runtime is not None and (pod is None or runtime.uid != pod["metadata"]["uid"]):
            self._teardown(key)
            runtime = None
        if pod is None:
            return
        if pod["metadata"].get("deletionTimestamp"):
            self._terminate(key, pod, runtime)
            return
        if not (pod.get("spec") or {}).get("nodeName"):
            self._bind(pod)
            return
        if runtime is None:
            runtime = self._adopt(key, pod)
        self._write_status(pod, runtime)

    def _bind(self, pod: Obj) -> None:
        """What the scheduler does for a pod created without a node: bind it to the sandbox node."""
        pod["spec"]["nodeName"] = NODE_NAME
        pod["metadata"].pop("resourceVersion", None)
        _unless_gone(lambda: self.cluster.update(PODS, pod, manager="kube-scheduler"))

    def _terminate(self, key: Key, pod: Obj, runtime: PodRuntime | None) -> None:
        """A deleted pod: stop its containers (SIGTERM, SIGKILL at the end of the grace period),
        report them terminated, then delete the pod for good, as the kubelet's status manager does."""
        if runtime is None:
            runtime = PodRuntime(pod["metadata"]["uid"])
            self.pods[key] = runtime
        if runtime.terminating is None:
            grace = float(pod["metadata"].get("deletionGracePeriodSeconds") or 0)
            runtime.terminating = self.loop.create_task(self._stop_and_delete(key, pod, runtime, grace))
            self._stopping.add(runtime.terminating)
            runtime.terminating.add_done_callback(self._stopping.discard)
        elif runtime.drivers:
            self._write_status(pod, runtime)

    async def _stop_and_delete(self, key: Key, pod: Obj, runtime: PodRuntime, grace: float) -> None:
        await asyncio.gather(*(driver.stop(grace) for driver in runtime.drivers), return_exceptions=True)
        current = self.cluster.store.get(PODS, *key)
        if current is None or current["metadata"]["uid"] != runtime.uid:
            return
        if runtime.drivers:
            self._write_status(current, runtime)
        self.pods.pop(key, None)
        _unless_gone(lambda: self.cluster.delete(PODS, key[0], key[1], grace_period=0))

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
                                      self.loop, self.clock, notify, self.pacer.submit)
            runtime.drivers.append(driver)
            driver.start()
        return runtime

    def _teardown(self, key: Key) -> None:
        """Stop a pod's containers at once (the pod is gone, or the sandbox stops)."""
        runtime = self.pods.pop(key)
        if runtime.terminating is not None and not runtime.terminating.done():
            runtime.terminating.cancel()
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
        _unless_gone(lambda: self.cluster.update_status(PODS, pod, manager="kubelet"))

    async def stop(self) -> None:
        self.queue.stop()
        self.pacer.stop()
        for key in list(self.pods):
            self._teardown(key)
        if self._stopping:
            await asyncio.gather(*list(self._stopping), return_exceptions=True)


def _unless_gone(write: Callable[[], object]) -> None:
    """A write about a pod; the pod having been deleted meanwhile is not an error."""
    try:
        write()
    except ApiError as exc:
        if exc.code != 404:
            raise
