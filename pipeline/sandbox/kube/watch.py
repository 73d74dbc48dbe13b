"""Watch streams: chunked JSON lines, one ``{"type":..., "object":...}`` per event.

One :class:`WatchHub` listens to the store and fans events out to every open watch whose
filter matches; each event is serialised once per encoding, however many watchers get it.
A watch starts with synthetic ADDED events when no resourceVersion (or "0") is given,
else replays the store history after that version; a version that has left the history
gets ``ERROR`` 410 Expired and the stream ends. ``timeoutSeconds`` ends the stream cleanly;
with ``allowWatchBookmarks`` a BOOKMARK is sent on idle intervals and just before the end.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Callable

from aiohttp import web

from pipeline.sandbox.kube.store import Event, Obj, Resource, Store, TooOld

Encoder = Callable[[str, Obj], Obj]   # (event type, object) -> what goes in "object"
DEFAULT_TIMEOUT = 1800.0


def encode(type_: str, obj: Obj) -> bytes:
    return json.dumps({"type": type_, "object": obj}, separators=(",", ":")).encode() + b"\n"


def expired(requested: int, oldest: int) -> Obj:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": f"too old resource version: {requested} ({oldest})", "reason": "Expired", "code": 410}


@dataclass(eq=False)
class Watcher:
    resource: Resource
    namespace: str | None
    predicate: Callable[[Obj], bool]
    encoding: str = "json"                      # cache key for the encoder's output
    encoder: Encoder | None = None
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)

    def wants(self, obj: Obj) -> bool:
        if self.namespace is not None and obj.get("metadata", {}).get("namespace", "") != self.namespace:
            return False
        return self.predicate(obj)

    def line(self, type_: str, obj: Obj) -> bytes:
        return encode(type_, self.encoder(type_, obj) if self.encoder else obj)


class WatchHub:
    def __init__(self, store: Store, bookmark_interval: float = 60.0) -> None:
        self.store = store
        self.bookmark_interval = bookmark_interval
        self._watchers: dict[Resource, set[Watcher]] = {}
        self._unsubscribe = store.add_listener(self._on_event)

    @property
    def count(self) -> int:
        return sum(len(w) for w in self._watchers.values())

    def _on_event(self, event: Event) -> None:
        watchers = self._watchers.get(event.resource)
        if not watchers:
            return
        lines: dict[str, bytes] = {}
        for watcher in watchers:
            if watcher.wants(event.object):
                line = lines.get(watcher.encoding)
                if line is None:
                    line = lines[watcher.encoding] = watcher.line(event.type, event.object)
                watcher.queue.put_nowait(line)

    def add(self, watcher: Watcher) -> None:
        self._watchers.setdefault(watcher.resource, set()).add(watcher)

    def remove(self, watcher: Watcher) -> None:
        self._watchers.get(watcher.resource, set()).discard(watcher)

    def close(self) -> None:
        """End every open stream (server shutdown)."""
        for watchers in self._watchers.values():
            for watcher in watchers:
                watcher.queue.put_nowait(None)

    def start(self, watcher: Watcher, resource_version: str | None, send_initial: bool | None) -> list[bytes]:
        """Register ``watcher`` and return its opening lines, atomically (no await in between).

        Raises :class:`TooOld` when ``resource_version`` has left the history.
        """
        if resource_version in (None, "", "0") or send_initial:
            rv = self.store.resource_version
            opening = [watcher.line("ADDED", obj) for obj in self.store.scan(watcher.resource, watcher.namespace,
                                                                             watcher.predicate)]
            if send_initial:
                opening.append(self.bookmark(watcher, rv, initial_end=True))
        else:
            events = self.store.events_since(int(resource_version))
            opening = [watcher.line(e.type, e.object) for e in events
                       if e.resource == watcher.resource and watcher.wants(e.object)]
        self.add(watcher)
        return opening

    def bookmark(self, watcher: Watcher, rv: int | None = None, initial_end: bool = False) -> bytes:
        meta: Obj = {"resourceVersion": str(self.store.resource_version if rv is None else rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return encode("BOOKMARK", {"kind": watcher.resource.kind, "apiVersion": watcher.resource.api_version,
                                   "metadata": meta})


class Cut(Exception):
    """The stream was cut on purpose (an injected fault): stop writing."""


@dataclass
class Budget:
    """How many more events a stream may carry before it is cut (None: unlimited)."""
    left: int | None = None

    def split(self, lines: list[bytes]) -> tuple[list[bytes], bool]:
        """The lines that may still be sent, and whether the stream must be cut after them."""
        if self.left is None:
            return lines, False
        allowed = lines[:self.left]
        self.left -= len(allowed)
        return allowed, self.left == 0


async def _send(request: web.Request, response: web.StreamResponse, lines: list[bytes], budget: Budget) -> None:
    allowed, cut = budget.split(lines)
    if allowed:
        await response.write(b"".join(allowed))
    if cut:
        if request.transport is not None:
            request.transport.close()   # flushes what was written, then FIN mid-chunked body
        raise Cut()


async def serve(request: web.Request, hub: WatchHub, watcher: Watcher, resource_version: str | None,
                timeout: float | None, bookmarks: bool, send_initial: bool | None = None,
                cut_after: int | None = None) -> web.StreamResponse:
    """Stream events to the client; with ``cut_after``, close the TCP connection after that many lines."""
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                       "Cache-Control": "no-cache, private"})
    response.enable_chunked_encoding()
    budget = Budget(cut_after)
    try:
        opening = hub.start(watcher, resource_version, send_initial)
    except TooOld as exc:
        await response.prepare(request)
        await response.write(encode("ERROR", expired(exc.requested, exc.oldest)))
        await response.write_eof()
        return response
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (timeout if timeout is not None else DEFAULT_TIMEOUT)
    try:
        await response.prepare(request)
        await _send(request, response, opening, budget)
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                if bookmarks:
                    await _send(request, response, [hub.bookmark(watcher)], budget)
                break
            try:
                first = await asyncio.wait_for(watcher.queue.get(), min(remaining, hub.bookmark_interval))
            except asyncio.TimeoutError:
                if bookmarks and deadline - loop.time() > 0:
                    await _send(request, response, [hub.bookmark(watcher)], budget)
                continue
            batch = [first]
            while not watcher.queue.empty():
                batch.append(watcher.queue.get_nowait())
            await _send(request, response, [line for line in batch if line is not None], budget)
            if None in batch:
                break
        await response.write_eof()
    except (ConnectionResetError, asyncio.CancelledError, Cut):
        pass
    finally:
        hub.remove(watcher)
    return response
