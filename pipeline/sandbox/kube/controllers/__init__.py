"""Controllers of the Kubernetes stand-in: Deployment, ReplicaSet and a simulated kubelet.

The API server calls, on its running loop:

    stop = start_controllers(cluster, ctx)   # at app startup; ``await stop()`` at shutdown
    app.add_routes(admin_routes(cluster))    # /_sandbox/images, /_sandbox/processes, pod logs

Controllers react to store events (``cluster.store.add_listener``): a listener only
enqueues keys; reconciles run from the loop; deadlines are timers. Nothing polls.
"""
from __future__ import annotations

import asyncio
import json
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

from aiohttp import web

from pipeline.sandbox.harness import REPO_ROOT, SandboxContext
from pipeline.sandbox.kube.controllers.deployment import DeploymentController
from pipeline.sandbox.kube.controllers.events import EventRecorder
from pipeline.sandbox.kube.controllers.images import ImageCatalog, ProcessSpec, default_processes
from pipeline.sandbox.kube.controllers.kubelet import Kubelet
from pipeline.sandbox.kube.controllers.replicaset import ReplicaSetController
from pipeline.sandbox.kube.controllers.runtime import WorkQueue
from pipeline.sandbox.kube.objects import Cluster
from pipeline.sandbox.kube.resources import CONFIGMAPS, DEPLOYMENTS, PODS, REPLICASETS, SECRETS
from pipeline.sandbox.kube.store import Event

__all__ = ["start_controllers", "admin_routes", "controller_state", "pod_log"]
_ATTR = "_sandbox_controllers"
ObjectKey = tuple[str, str]   # (namespace, name): what every controller queue is keyed by


@dataclass
class ControllerState:
    """Per-cluster controller state, reachable from the cluster (admin routes, tests)."""
    catalog: ImageCatalog
    kubelet: Kubelet | None = None
    deployments: DeploymentController | None = None
    replicasets: ReplicaSetController | None = None
    log_dir: Path | None = None
    catalog_path: Path | None = None     # <state_dir>/kube-images.json: admin changes survive restarts
    extra: dict[str, object] = field(default_factory=dict)

    def save_catalog(self) -> None:
        if self.catalog_path is not None:
            tmp = self.catalog_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.catalog.to_json(), indent=1))
            tmp.replace(self.catalog_path)


def controller_state(cluster: Cluster) -> ControllerState:
    state = getattr(cluster, _ATTR, None)
    if state is None:
        state = ControllerState(ImageCatalog(default_processes(REPO_ROOT)))
        setattr(cluster, _ATTR, state)
    return state


def start_controllers(cluster: Cluster, ctx: SandboxContext) -> Callable[[], Awaitable[None]]:
    loop = asyncio.get_running_loop()
    state = controller_state(cluster)
    if ctx.repo_root != REPO_ROOT:
        state.catalog.processes.update(default_processes(ctx.repo_root))
    if ctx.state_dir is not None:
        state.catalog_path = Path(ctx.state_dir) / "kube-images.json"
        if state.catalog_path.exists():
            state.catalog.load_json(json.loads(state.catalog_path.read_text()))
    configured = ctx.extra.get("kube_processes")
    if isinstance(configured, dict):
        state.catalog.update_processes({k: (v.to_json() if isinstance(v, ProcessSpec) else v)
                                        for k, v in configured.items()})
    clock = time.time
    queues: list[WorkQueue[ObjectKey]] = []

    def queue(handler: Callable[[ObjectKey], None], name: str) -> WorkQueue[ObjectKey]:
        q = WorkQueue(loop, handler, name, clock)
        queues.append(q)
        return q

    log_dir, temporary_logs = _log_dir(ctx)
    events = EventRecorder(cluster, clock)
    deployments = DeploymentController(cluster, queue, clock, events)
    replicasets = ReplicaSetController(cluster, queue, clock, random.Random(), events)
    kubelet = Kubelet(cluster, state.catalog, ctx, queue, loop, clock, log_dir,
                      idle=lambda: all(q.idle() for q in queues))
    state.kubelet, state.deployments, state.replicasets, state.log_dir = kubelet, deployments, replicasets, log_dir

    def on_event(event: Event) -> None:
        obj = event.object
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if event.resource == DEPLOYMENTS:
            deployments.queue.add(key)
        elif event.resource == REPLICASETS:
            replicasets.queue.add(key)
            deployments.enqueue_for_rs(obj)
        elif event.resource == PODS:
            replicasets.enqueue_for_pod(obj)
            kubelet.on_pod(event.type, obj)
            if event.type == "DELETED":
                deployments.enqueue_for_pod_deleted(obj)
        elif event.resource in (SECRETS, CONFIGMAPS):
            kubelet.on_config()

    unsubscribe = cluster.store.add_listener(on_event)
    for resource in (DEPLOYMENTS, REPLICASETS, PODS):
        for obj in cluster.list(resource):
            on_event(Event("ADDED", resource, obj, 0))

    async def stop() -> None:
        unsubscribe()
        for q in queues:
            q.stop()
        await kubelet.stop()
        state.kubelet = state.deployments = state.replicasets = None
        if temporary_logs:
            state.log_dir = None
            shutil.rmtree(log_dir, ignore_errors=True)

    return stop


def _log_dir(ctx: SandboxContext) -> tuple[Path, bool]:
    """Pod logs live in the state dir (kept), else in a temp dir removed at stop."""
    if ctx.state_dir is not None:
        path = Path(ctx.state_dir) / "pod-logs"
        path.mkdir(parents=True, exist_ok=True)
        return path, False
    return Path(tempfile.mkdtemp(prefix="sandbox-pod-logs-")), True


def pod_log(cluster: Cluster, namespace: str, name: str, container: str | None = None) -> str | None:
    """A pod container's log text (real-process containers), or None when there is none."""
    state = controller_state(cluster)
    if state.log_dir is None:
        return None
    pod = cluster.store.get(PODS, namespace, name)
    if pod is None:
        return None
    names = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
    container = container or (names[0] if names else "")
    path = state.log_dir / f"{namespace}_{name}_{container}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def admin_routes(cluster: Cluster) -> list[web.RouteDef]:
    from pipeline.sandbox.kube.controllers.admin import routes
    return routes(cluster, controller_state(cluster))
