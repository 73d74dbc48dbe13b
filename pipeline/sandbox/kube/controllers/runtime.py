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
from collections import deque
from typing import Callable, Generic, Hashable, TypeVar

from pipeline.sandbox.kube.objects import ApiError

log = logging.getLogger(__name__)
Clock = Callable[[], float]
K = TypeVar("K", bound=Hashable)   # a queue's key type, e.g. (namespace, name)


class WorkQueue(Generic[K]):
    def __init__(self, loop: asyncio.AbstractEventLoop, handler: Callable[[K], None],
                 name: str, clock: Clock = time.time) -> None:
        self._loop, self._handler, self.name, self._clock = loop, handler, name, clock
        self._pending: set[K] = set()
        self._timers: dict[K, tuple[float, asyncio.TimerHandle]] = {}
        self._failures: dict[K, int] = {}
        self._stopped = False

    def add(self, key: K) -> None:
        if self._stopped or key in self._pending:
            return
        self._pending.add(key)
        self._loop.call_soon(self._run, key)

    def idle(self) -> bool:
        """No reconcile waiting to run (timers do not count)."""
        return not self._pending

    def add_at(self, key: K, when: float) -> None:
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

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def _run(self, key: K) -> None:
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

    def _retry(self, key: K, exc: ApiError | None) -> None:
        count = self._failures.get(key, 0) + 1
        self._failures[key] = count
        if exc is not None and exc.code == 404:
            return
        delay = min(0.005 * 2 ** count, 5.0)
        self.add_at(key, self._clock() + delay)


class Pacer:
    """Runs submitted transitions one at a time, each once every controller queue is idle.

    The simulated kubelet starts containers through it: a real kubelet's pods become
    ready one by one, seconds apart, while the controllers react in milliseconds; so each
    start is seen (and reacted to) by the ReplicaSet and Deployment controllers before the
    next, and an instant rollout takes as many steps as on a real cluster. Deterministic:
    no timing is involved, only "the controllers have nothing left to do".
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, idle: Callable[[], bool]) -> None:
        self._loop, self._idle = loop, idle
        self._waiting: deque[Callable[[], None]] = deque()
        self._scheduled = False
        self._stopped = False

    def submit(self, transition: Callable[[], None]) -> None:
        if not self._stopped:
            self._waiting.append(transition)
            self._schedule()

    def stop(self) -> None:
        self._stopped = True
        self._waiting.clear()

    def _schedule(self) -> None:
        if not self._scheduled and self._waiting:
            self._scheduled = True
            self._loop.call_soon(self._step)

    def _step(self) -> None:
        self._scheduled = False
        if self._stopped or not self._waiting:
            return
        if self._idle():
            transition = self._waiting.popleft()
            try:
                transition()
            except Exception:  # a bad transition must not stall every later start
                log.exception("paced transition failed")
        self._schedule()
