"""Scheduling controller work on the asyncio loop: keyed, de-duplicated queues and timers.

A store listener only *enqueues*; reconciles run later from the loop (``call_soon``), one at
a time, synchronously against the Cluster (no awaits inside, so a reconcile never interleaves
with an API request). Deadlines (readiness, minReadySeconds, progressDeadlineSeconds) are
``call_at`` timers, at most one per key (the earliest); a reconcile re-arms whatever comes next.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Hashable

from pipeline.sandbox.kube.objects import ApiError

log = logging.getLogger(__name__)
Clock = Callable[[], float]


class WorkQueue:
    def __init__(self, loop: asyncio.AbstractEventLoop, handler: Callable[[Hashable], None],
                 name: str, clock: Clock = time.time) -> None:
        self._loop, self._handler, self.name, self._clock = loop, handler, name, clock
        self._pending: set[Hashable] = set()
        self._timers: dict[Hashable, tuple[float, asyncio.TimerHandle]] = {}
        self._failures: dict[Hashable, int] = {}
        self._stopped = False

    def add(self, key: Hashable) -> None:
        if self._stopped or key in self._pending:
            return
        self._pending.add(key)
        self._loop.call_soon(self._run, key)

    def add_at(self, key: Hashable, when: float) -> None:
        """Reconcile ``key`` at wall-clock time ``when`` (epoch seconds)."""
        if self._stopped:
            return
        existing = self._timers.get(key)
        if existing and existing[0] <= when and not existing[1].cancelled():
            return
        if existing:
            existing[1].cancel()
        delay = max(0.0, when - self._clock())
        handle = self._loop.call_later(delay, self._fire, key)
        self._timers[key] = (when, handle)

    def stop(self) -> None:
        self._stopped = True
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    def _fire(self, key: Hashable) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def _run(self, key: Hashable) -> None:
        self._pending.discard(key)
        if self._stopped:
            return
        try:
            self._handler(key)
            self._failures.pop(key, None)
        except ApiError as exc:
            self._retry(key, exc)
        except Exception:  # a controller bug must not kill the loop; retry with backoff
            log.exception("%s: reconcile %s failed", self.name, key)
            self._retry(key, None)

    def _retry(self, key: Hashable, exc: ApiError | None) -> None:
        count = self._failures.get(key, 0) + 1
        self._failures[key] = count
        if exc is not None and exc.code == 404:
            return
        delay = min(0.005 * 2 ** count, 5.0)
        self.add_at(key, self._clock() + delay)
