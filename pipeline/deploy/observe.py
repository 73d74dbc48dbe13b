"""Watch a Deployment, its ReplicaSets and its Pods at once, as one stream of snapshots.

An informer in miniature: one thread per resource lists (for a resourceVersion), then
watches from it, re-listing on 410 Expired and resuming when the server closes the
stream; every change lands on one queue. :meth:`RolloutObserver.next` returns the next
:class:`Snapshot` (all three caches, consistent as of that event) or ``None`` at the
caller's deadline. Nothing here sleeps or polls: the API server pushes every change.
"""
from __future__ import annotations

import copy
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from pipeline.kube.client import read_json

Obj = dict[str, Any]
WATCH_SECONDS = 60             # one watch request; resumed after, as client-go's reflector does


@dataclass(frozen=True)
class Snapshot:
    deployment: Obj | None
    replica_sets: tuple[Obj, ...]
    pods: tuple[Obj, ...]
    events: int                 # changes seen so far (for the request/observation count)


@dataclass
class _Feed:
    name: str
    list_call: Callable[..., Any]
    selector: dict[str, str]
    items: dict[str, Obj] = field(default_factory=dict)


class RolloutObserver:
    """``with RolloutObserver(api_client, ns, name, labels) as observer: snap = observer.next(deadline)``."""

    def __init__(self, api_client: client.ApiClient, namespace: str, deployment: str,
                 match_labels: dict[str, str]) -> None:
        apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
        selector = ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))
        self.namespace = namespace
        self.feeds = {
            "deployment": _Feed("deployment", apps.list_namespaced_deployment,
                                {"field_selector": f"metadata.name={deployment}"}),
            "replicasets": _Feed("replicasets", apps.list_namespaced_replica_set, {"label_selector": selector}),
            "pods": _Feed("pods", core.list_namespaced_pod, {"label_selector": selector}),
        }
        self._changes: queue.Queue[str | BaseException] = queue.Queue()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._events = 0
        self._synced = {name: threading.Event() for name in self.feeds}
        self._threads = [threading.Thread(target=self._run, args=(feed,), daemon=True,
                                          name=f"watch {feed.name}") for feed in self.feeds.values()]
        self.requests = 0       # list + watch requests made

    def __enter__(self) -> "RolloutObserver":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def snapshot(self) -> Snapshot:
        with self._lock:
            deployments = list(self.feeds["deployment"].items.values())
            return Snapshot(copy.deepcopy(deployments[0]) if deployments else None,
                            tuple(copy.deepcopy(list(self.feeds["replicasets"].items.values()))),
                            tuple(copy.deepcopy(list(self.feeds["pods"].items.values()))), self._events)

    def next(self, deadline: float) -> Snapshot | None:
        """Block until something changes (or ``deadline``, a ``time.monotonic()``); then the state."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            item = self._changes.get(timeout=remaining)
        except queue.Empty:
            return None
        if isinstance(item, BaseException):
            raise item
        while True:                       # coalesce a burst of changes into one snapshot
            try:
                more = self._changes.get_nowait()
            except queue.Empty:
                break
            if isinstance(more, BaseException):
                raise more
        if not all(event.is_set() for event in self._synced.values()):
            return self.next(deadline)    # every cache must have listed once before we judge
        return self.snapshot()

    # --- the informer threads ----------------------------------------------------------
    def _run(self, feed: _Feed) -> None:
        try:
            while not self._stop.is_set():
                resource_version = self._list(feed)
                self._watch(feed, resource_version)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, not lost in a thread
            if not self._stop.is_set():
                self._changes.put(exc)

    def _list(self, feed: _Feed) -> str:
        self.requests += 1
        data = read_json(feed.list_call, self.namespace, **feed.selector)
        with self._lock:
            feed.items = {item["metadata"]["name"]: item for item in data.get("items") or []}
            self._events += 1
        self._synced[feed.name].set()
        self._changes.put(feed.name)
        return data["metadata"]["resourceVersion"]

    def _watch(self, feed: _Feed, resource_version: str) -> None:
        watcher = watch.Watch()
        while not self._stop.is_set():
            self.requests += 1
            try:
                for event in watcher.stream(feed.list_call, self.namespace, resource_version=resource_version,
                                            timeout_seconds=WATCH_SECONDS, allow_watch_bookmarks=True,
                                            **feed.selector):
                    if self._stop.is_set():
                        watcher.stop()
                        return
                    self._apply(feed, event)
            except ApiException as exc:
                if exc.status == 410:
                    return                # expired: the caller lists again
                raise
            resource_version = watcher.resource_version or resource_version

    def _apply(self, feed: _Feed, event: dict[str, Any]) -> None:
        if event["type"] in ("BOOKMARK", "ERROR"):
            return
        obj = event["raw_object"]
        with self._lock:
            if event["type"] == "DELETED":
                feed.items.pop(obj["metadata"]["name"], None)
            else:
                feed.items[obj["metadata"]["name"]] = obj
            self._events += 1
        self._changes.put(feed.name)
