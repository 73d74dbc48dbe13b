"""Asking a running deploy to stop: an abort request is data on the deploy's Lease.

Like Argo Rollouts' ``status.abort``, the request is a field the running engine reads, not a
signal to a process on some other machine: ``invoke abort`` (or ``invoke rollback`` while a
deploy holds the lock) writes the annotation ``pipeline.deploy/abort-request`` (who, when,
why) on the Lease with optimistic concurrency. The deploy watches its own Lease through the
shared informer (one long-lived watch, no polling); on seeing the request it stops at once and
rolls an unverified release back by its policy, exactly as on Ctrl-C, and releases the lock.
The requester waits for the release and reports the outcome. If the holder is dead (its lease
expired) there is nobody to ask: the requester takes over, as the runbook says.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from kubernetes import client

from pipeline.kube.api import KubeApi
from pipeline.kube.informer import Informer
from pipeline.lock import ABORT_ANNOTATION, ApiStatusError, LeaseApi, micro_time


@dataclass(frozen=True)
class AbortRequest:
    by: str
    reason: str
    at: str

    def describe(self) -> str:
        return f"aborted by {self.by} at {self.at}: {self.reason}"


def request_of(lease: dict[str, Any] | None) -> AbortRequest | None:
    """The abort request on a Lease, if any (pure)."""
    raw = (((lease or {}).get("metadata") or {}).get("annotations") or {}).get(ABORT_ANNOTATION)
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return AbortRequest(str(data["by"]), str(data.get("reason") or "abort requested"), str(data.get("at") or ""))
    except (ValueError, KeyError, TypeError):
        return AbortRequest("unknown", "abort requested (unreadable request)", "")


def with_request(lease: dict[str, Any], request: AbortRequest) -> dict[str, Any]:
    body = json.loads(json.dumps(lease))
    annotations = body.setdefault("metadata", {}).setdefault("annotations", {})
    annotations[ABORT_ANNOTATION] = json.dumps({"by": request.by, "reason": request.reason, "at": request.at},
                                               sort_keys=True)
    return body


def request_abort(leases: LeaseApi, name: str, by: str, reason: str, attempts: int = 5) -> AbortRequest | None:
    """Write the request on Lease ``name`` (re-read and retry on 409). None: no Lease to write on."""
    request = AbortRequest(by, reason, micro_time(datetime.now(timezone.utc)))
    for _ in range(attempts):
        lease = leases.get(name)
        if lease is None:
            return None
        try:
            leases.replace(name, with_request(lease, request))
            return request
        except ApiStatusError as exc:
            if exc.status != 409:
                raise
    raise ApiStatusError(409, f"lease {name}: could not write the abort request after {attempts} conflicts")


class AbortWatch:
    """Watch one Lease; call ``on_abort(request)`` once when an abort request appears."""

    def __init__(self, api_client: client.ApiClient, namespace: str, lease: str,
                 on_abort: Callable[[AbortRequest], None]) -> None:
        self._stop = threading.Event()
        self._fired = False
        self.on_abort = on_abort
        self.informer = Informer("lease", KubeApi(api_client).list_namespaced_lease, namespace,
                                 {"field_selector": f"metadata.name={lease}"}, self._changed, self._stop)
        self._thread = threading.Thread(target=self.informer.run, daemon=True, name=f"abort watch {lease}")

    def start(self) -> "AbortWatch":
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()

    def _changed(self, item: object) -> None:
        if isinstance(item, BaseException) or self._fired:
            return                                  # a failing watch never aborts a deploy by itself
        with self.informer.lock:
            leases = list(self.informer.items.values())
        request = request_of(leases[0] if leases else None)
        if request is not None:
            self._fired = True
            self.on_abort(request)


@dataclass(frozen=True)
class Stopped:
    """How an abort ended: the holder's own outcome (from the released Lease), or why not."""
    stopped: bool
    outcome: dict[str, Any]
    detail: str

    @property
    def converged(self) -> bool:
        return self.stopped and self.outcome.get("outcome") != "rollback_failed"


def wait_for_release(leases: LeaseApi, name: str, holder: str, timeout: float,
                     clock: Callable[[], float] | None = None, pause: Callable[[float], None] | None = None
                     ) -> Stopped:
    """Until ``holder`` no longer holds Lease ``name``; then the outcome it left there."""
    import time

    from pipeline.lock import OUTCOME_ANNOTATION

    clock, pause = clock or time.monotonic, pause or time.sleep
    deadline = clock() + timeout
    while clock() < deadline:
        lease = leases.get(name) or {}
        if (lease.get("spec") or {}).get("holderIdentity") != holder:
            raw = ((lease.get("metadata") or {}).get("annotations") or {}).get(OUTCOME_ANNOTATION) or "{}"
            try:
                outcome = json.loads(raw)
            except ValueError:
                outcome = {}
            return Stopped(True, outcome, f"{outcome.get('outcome', 'stopped')}: {outcome.get('reason', '')}")
        pause(0.25)
    return Stopped(False, {}, f"the deploy held by {holder} did not stop within {timeout:.0f}s; it keeps its "
                              "lock; if its process is gone the lock expires and the next command takes over")
