"""Watching the API, written once: client-go's informer, in miniature.

An :class:`Informer` keeps a local cache of one resource (a Deployment by name, the
ReplicaSets or Pods of a selector): it LISTs once for a resourceVersion, then WATCHes from
it. A watch the server closes, a silent connection (read timeout) or a cut one
(``ProtocolError``) is resumed from the last resourceVersion seen; ``410 Gone`` (the version
expired) and any other error are answered by listing again, after a bounded backoff. A feed
that keeps failing for ``give_up_seconds`` reports the error to the consumer instead of
retrying forever.

A :class:`ClusterView` runs several informers on one change queue (a shared informer
factory). ``synced()`` is ``HasSynced``: every feed has listed once. Nothing reads a
snapshot before that (``next`` and ``wait_until`` wait for it), so no decision is ever taken
on a half-filled cache. Deploy gates, rollout waits and rollback all watch through this.
"""
from __future__ import annotations

import copy
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

from pipeline.kube.api import KubeApi
from pipeline.kube.client import read_json
from pipeline.kube.retry import backoff, RetryPolicy

Obj = dict[str, Any]
T = TypeVar("T")
WATCH_SECONDS = 290              # one watch request (client-go: 5-10 min); resumed after
CONNECT_SECONDS = 10
GIVE_UP_SECONDS = 60.0           # a feed failing this long is reported, not retried
RELIST_BACKOFF = RetryPolicy(first_wait=0.1, max_wait=5.0)


@dataclass(frozen=True)
class Snapshot:
    """The caches as of one change: at most one Deployment, its ReplicaSets and Pods."""
    deployment: Obj | None
    replica_sets: tuple[Obj, ...]
    pods: tuple[Obj, ...]
    changes: int                 # changes seen so far


@dataclass
class Informer:
    """One resource feed: list, then watch, resuming; ``items`` by name."""
    name: str
    list_call: Callable[..., Any]
    namespace: str
    selector: dict[str, str]
    notify: Callable[[str | BaseException], None]
    stop: threading.Event
    give_up_seconds: float = GIVE_UP_SECONDS
    items: dict[str, Obj] = field(default_factory=dict)
    synced: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    relists: int = 0
    resumes: int = 0

    def run(self) -> None:
        failing_since: float | None = None
        attempt = 0
        while not self.stop.is_set():
            try:
                version = self._list()
                failing_since, attempt = None, 0
                self._watch(version)
            except ApiException as exc:
                if exc.status == 410:
                    self.relists += 1          # expired: list again at once
                    continue
                failing_since, attempt = self._failed(exc, failing_since, attempt)
            except (Urllib3Error, ConnectionError, TimeoutError, ValueError) as exc:
                failing_since, attempt = self._failed(exc, failing_since, attempt)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, never lost in a thread
                self.notify(exc)
                return

    def _failed(self, exc: BaseException, since: float | None, attempt: int) -> tuple[float, int]:
        now = time.monotonic()
        since = now if since is None else since
        if now - since >= self.give_up_seconds or (isinstance(exc, ApiException) and exc.status in (401, 403)):
            self.notify(exc)
            self.stop.wait(self.give_up_seconds)    # reported: idle until stopped
            return since, attempt
        attempt += 1
        self.relists += 1
        self.stop.wait(backoff(attempt, RELIST_BACKOFF, 1.0))
        return since, attempt

    def _list(self) -> str:
        self.requests += 1
        data = read_json(self.list_call, self.namespace, **self.selector)
        with self.lock:
            self.items = {item["metadata"]["name"]: item for item in data.get("items") or []}
        self.synced.set()
        self.notify(self.name)
        return str(data["metadata"]["resourceVersion"])

    def _watch(self, version: str) -> None:
        """Watch from ``version`` until stopped; an ApiException (410 Gone included) goes to a re-list."""
        watcher = watch.Watch()
        while not self.stop.is_set():
            self.requests += 1
            stream = watcher.stream(self.list_call, self.namespace, resource_version=version,
                                    timeout_seconds=WATCH_SECONDS, allow_watch_bookmarks=True,
                                    _request_timeout=(CONNECT_SECONDS, WATCH_SECONDS + 15), **self.selector)
            try:
                for event in stream:
                    if self.stop.is_set():
                        return
                    self._apply(event)
            except (Urllib3Error, ConnectionError, TimeoutError):
                self.resumes += 1              # dropped or silent: resume from the last version seen
            finally:
                stream.close()
            version = watcher.resource_version or version

    def _apply(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "ERROR":
            status = event.get("raw_object") or {}
            raise ApiException(status=int(status.get("code") or 500), reason=str(status.get("reason") or "watch error"))
        if kind == "BOOKMARK":
            return
        obj = event["raw_object"]
        with self.lock:
            if kind == "DELETED":
                self.items.pop(obj["metadata"]["name"], None)
            else:
                self.items[obj["metadata"]["name"]] = obj
        self.notify(self.name)


class Interrupted(Exception):
    """Raised out of a wait when someone asked the waiter to stop (an abort request)."""


class ClusterView:
    """``with ClusterView.of(api, ns, name, labels) as view: view.wait_until(check, deadline)``.

    ``feeds`` chooses what to watch: "deployment" (by name), "replicasets" and "pods" (by the
    Deployment's selector labels; both need ``match_labels``). ``apps``/``core`` are the
    client's AppsV1Api/CoreV1Api, or pipeline.kube.api.KubeApi (anything with the same list methods).
    """

    @classmethod
    def of(cls, api_client: client.ApiClient, namespace: str, deployment: str,
           match_labels: dict[str, str] | None = None,
           feeds: tuple[str, ...] = ("deployment", "replicasets", "pods")) -> "ClusterView":
        api = KubeApi(api_client)
        return cls(api, api, namespace, deployment,
                   match_labels, feeds)

    def __init__(self, apps: Any, core: Any, namespace: str, deployment: str,
                 match_labels: dict[str, str] | None = None,
                 feeds: tuple[str, ...] = ("deployment", "replicasets", "pods"),
                 give_up_seconds: float = GIVE_UP_SECONDS) -> None:
        selector = ",".join(f"{k}={v}" for k, v in sorted((match_labels or {}).items()))
        calls: dict[str, tuple[Callable[..., Any], dict[str, str]]] = {}
        if "deployment" in feeds:
            calls["deployment"] = (apps.list_namespaced_deployment, {"field_selector": f"metadata.name={deployment}"})
        if "replicasets" in feeds:
            calls["replicasets"] = (apps.list_namespaced_replica_set, {"label_selector": selector})
        if "pods" in feeds:
            calls["pods"] = (core.list_namespaced_pod, {"label_selector": selector})
        self._changes: queue.Queue[str | BaseException] = queue.Queue()
        self._stop = threading.Event()
        self._count = 0
        self._interrupt: str | None = None
        self.informers = {name: Informer(name, call, namespace, selector_args, self._changes.put, self._stop,
                                         give_up_seconds) for name, (call, selector_args) in calls.items()}
        self._threads = [threading.Thread(target=inf.run, daemon=True, name=f"informer {name}")
                         for name, inf in self.informers.items()]

    def __enter__(self) -> "ClusterView":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()

    def interrupt(self, reason: str) -> None:
        """Wake whoever waits on this view: their wait raises :class:`Interrupted` (once)."""
        self._interrupt = reason
        self._changes.put("interrupt")

    def cancel_interrupt(self) -> None:
        """The interruption was handled elsewhere: later waits proceed normally."""
        self._interrupt = None

    @property
    def requests(self) -> int:
        return sum(inf.requests for inf in self.informers.values())

    def stats(self) -> dict[str, int]:
        return {"requests": self.requests, "relists": sum(i.relists for i in self.informers.values()),
                "resumes": sum(i.resumes for i in self.informers.values()), "changes": self._count}

    def synced(self) -> bool:
        return all(inf.synced.is_set() for inf in self.informers.values())

    def snapshot(self) -> Snapshot:
        """The caches now (only meaningful once :meth:`synced`)."""
        def items(name: str) -> list[Obj]:
            informer = self.informers.get(name)
            if informer is None:
                return []
            with informer.lock:
                return copy.deepcopy(list(informer.items.values()))
        deployments = items("deployment")
        return Snapshot(deployments[0] if deployments else None, tuple(items("replicasets")),
                        tuple(items("pods")), self._count)

    def next(self, deadline: float) -> Snapshot | None:
        """Block until something changes and every feed has synced, or ``deadline``
        (``time.monotonic()``): then the state, else None. A feed's fatal error is raised."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                item = self._changes.get(timeout=remaining)
            except queue.Empty:
                return None
            self._take(item)
            while True:                   # coalesce a burst of changes into one snapshot
                try:
                    self._take(self._changes.get_nowait())
                except queue.Empty:
                    break
            if self.synced():
                return self.snapshot()

    def _take(self, item: str | BaseException) -> None:
        if isinstance(item, BaseException):
            raise item
        if self._interrupt is not None:
            reason, self._interrupt = self._interrupt, None
            raise Interrupted(reason)
        self._count += 1

    def wait_until(self, check: Callable[[Snapshot], T | None], deadline: float) -> T | None:
        """The first non-None ``check(snapshot)`` over synced snapshots, or None at ``deadline``."""
        if self.synced():
            found = check(self.snapshot())
            if found is not None:
                return found
        while True:
            snapshot = self.next(deadline)
            if snapshot is None:
                return None
            found = check(snapshot)
            if found is not None:
                return found
