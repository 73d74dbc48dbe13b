"""core/v1 Events as the controllers record them (``kubectl describe`` shows them).

The same (object, reason, message) seen again bumps ``count`` and ``lastTimestamp`` of the
existing Event, as client-go's correlator does. Events are capped (oldest deleted first),
standing in for a real cluster's one-hour TTL.
"""
from __future__ import annotations

import time
from collections import OrderedDict

from pipeline.sandbox.kube.controllers.runtime import Clock
from pipeline.sandbox.kube.controllers.spec import Obj, format_time
from pipeline.sandbox.kube.objects import ApiError, Cluster
from pipeline.sandbox.kube.resources import EVENTS

MAX_EVENTS = 500


def new_event(involved: Obj, type_: str, reason: str, message: str, component: str, now: float) -> Obj:
    meta = involved["metadata"]
    stamp = format_time(now)
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{int(now * 1e9):x}", "namespace": meta.get("namespace", "default")},
        "involvedObject": {"kind": involved.get("kind", ""), "namespace": meta.get("namespace", ""),
                           "name": meta["name"], "uid": meta.get("uid", ""),
                           "apiVersion": involved.get("apiVersion", ""),
                           "resourceVersion": meta.get("resourceVersion", "")},
        "reason": reason, "message": message, "source": {"component": component},
        "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1, "type": type_,
        "eventTime": None, "reportingComponent": component, "reportingInstance": "",
    }


class EventRecorder:
    def __init__(self, cluster: Cluster, clock: Clock = time.time, limit: int = MAX_EVENTS) -> None:
        self.cluster, self.clock, self.limit = cluster, clock, limit
        self._recent: OrderedDict[tuple[str, str, str, str], tuple[str, str]] = OrderedDict()

    def record(self, involved: Obj, type_: str, reason: str, message: str, component: str) -> None:
        meta = involved["metadata"]
        key = (meta.get("uid", ""), reason, message, component)
        try:
            if key in self._recent and self._bump(self._recent[key]):
                self._recent.move_to_end(key)
                return
            event = self.cluster.create(EVENTS, new_event(involved, type_, reason, message, component, self.clock()))
        except ApiError:
            return   # events are best effort, as in client-go
        self._recent[key] = (event["metadata"]["namespace"], event["metadata"]["name"])
        while len(self._recent) > self.limit:
            _, (namespace, name) = self._recent.popitem(last=False)
            try:
                self.cluster.delete(EVENTS, namespace, name)
            except ApiError:
                pass

    def _bump(self, where: tuple[str, str]) -> bool:
        event = self.cluster.store.get(EVENTS, *where)
        if event is None:
            return False
        event["count"] = int(event.get("count") or 1) + 1
        event["lastTimestamp"] = format_time(self.clock())
        event["metadata"].pop("resourceVersion", None)
        self.cluster.update(EVENTS, event)
        return True
