"""Fault injection for the Kubernetes stand-in: scripted 409s, 503s, slow answers, cut watches.

A test (or a person with curl) registers faults on the stand-in's own server::

  POST   /_sandbox/faults        {"method": "PATCH", "path": "/deployments/web$", "action": "status",
                                  "status": 409, "times": 1}            -> 201 {"id": "f1", ...}
  GET    /_sandbox/faults        every fault with its ``remaining`` count and ``hits``
  DELETE /_sandbox/faults        clear all
  DELETE /_sandbox/faults/<id>   clear one

Each API request (``/api``, ``/apis``, pod proxy included; never ``/_sandbox``) is matched
against the faults in the order they were added; the first live one that matches method,
path (``re.search`` on the request path) and watch-ness acts on it:

- ``status``: answer ``status`` with a real Kubernetes ``Status`` body (reason ``Conflict``,
  ``TooManyRequests``, ``ServiceUnavailable``, ``InternalError``, ``Timeout``, ...), plus a
  ``Retry-After`` header when ``retry_after`` is set;
- ``delay``: wait ``delay_seconds``, then serve the request normally;
- ``drop``: a plain request gets its connection closed without any response; a watch gets
  ``after_events`` events (default 0) and then its TCP stream is cut mid-chunk, so the client
  sees an incomplete chunked read (urllib3 ``ProtocolError``).

``times`` limits how many requests a fault affects (``null``: until cleared). Parsing and
matching are pure; :func:`middleware` and :func:`routes` are the thin aiohttp part.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from pipeline.sandbox.kube import resources as R
from pipeline.sandbox.kube.objects import ApiError
from pipeline.sandbox.kube.routing import resolve, split

ACTIONS = ("status", "drop", "delay")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "*")
CUT_AFTER = "sandbox.fault.cut_after"   # request key: a watch must be cut after this many events

# code -> (reason, message) as k8s.io/apimachinery/pkg/api/errors builds them
REASONS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "Unauthorized"),
    403: ("Forbidden", "forbidden: the server does not allow access to the requested resource"),
    404: ("NotFound", "the server could not find the requested resource"),
    405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
    409: ("Conflict", "the object has been modified; please apply your changes to the latest version and "
                      "try again"),
    410: ("Expired", "the resource version requested is too old"),
    413: ("RequestEntityTooLarge", "the request is too large"),
    415: ("UnsupportedMediaType", "the body of the request was in an unknown format"),
    422: ("Invalid", "the server rejected our request due to an error in our request"),
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: injected fault"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "Timeout: request did not complete within the allowed duration"),
}


class FaultError(ValueError):
    """A fault body that cannot be used; the message names the field and what is accepted."""


@dataclass
class Fault:
    id: str
    action: str
    method: str = "*"
    path: str = ""
    watch: bool | None = None
    status: int | None = None
    retry_after: int | None = None
    delay_seconds: float = 0.0
    after_events: int = 0
    times: int | None = None
    message: str | None = None
    hits: int = 0
    _pattern: re.Pattern[str] = field(default=re.compile(""), repr=False, compare=False)

    @property
    def remaining(self) -> int | None:
        return None if self.times is None else max(self.times - self.hits, 0)

    def matches(self, method: str, path: str, is_watch: bool) -> bool:
        if self.remaining == 0:
            return False
        if self.method != "*" and self.method != method.upper():
            return False
        if self.watch is not None and self.watch != is_watch:
            return False
        return self._pattern.search(path) is not None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "method": self.method, "path": self.path, "watch": self.watch,
                "action": self.action, "status": self.status, "retry_after": self.retry_after,
                "delay_seconds": self.delay_seconds, "after_events": self.after_events, "times": self.times,
                "message": self.message, "remaining": self.remaining, "hits": self.hits}


def _optional_int(body: dict[str, Any], key: str, minimum: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise FaultError(f"{key}: must be an integer >= {minimum} or null, got {json.dumps(value)}")
    return value


def parse(body: Any, fault_id: str) -> Fault:
    """A :class:`Fault` from a POST body; :class:`FaultError` naming the bad field otherwise."""
    if not isinstance(body, dict):
        raise FaultError("body: must be a JSON object")
    unknown = sorted(set(body) - {"method", "path", "watch", "action", "status", "retry_after", "delay_seconds",
                                  "after_events", "times", "message"})
    if unknown:
        raise FaultError(f"{unknown[0]}: unknown field; accepted: method, path, watch, action, status, "
                         "retry_after, delay_seconds, after_events, times, message")
    action = body.get("action")
    if action not in ACTIONS:
        raise FaultError(f"action: must be one of {', '.join(ACTIONS)}, got {json.dumps(action)}")
    method = str(body.get("method") or "*").upper()
    if method not in METHODS:
        raise FaultError(f"method: must be one of {', '.join(METHODS)}, got {json.dumps(body.get('method'))}")
    path = body.get("path", "")
    if not isinstance(path, str):
        raise FaultError("path: must be a string (a Python regular expression)")
    try:
        pattern = re.compile(path)
    except re.error as exc:
        raise FaultError(f"path: not a valid regular expression: {exc}") from None
    watch = body.get("watch")
    if watch not in (True, False, None):
        raise FaultError(f"watch: must be true, false or null, got {json.dumps(watch)}")
    status = _optional_int(body, "status", 100)
    if action == "status" and (status is None or not 400 <= status <= 599):
        raise FaultError(f"status: action status needs an HTTP error code 400-599, got {json.dumps(status)}")
    delay = body.get("delay_seconds", 0.0)
    if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
        raise FaultError(f"delay_seconds: must be a number >= 0, got {json.dumps(delay)}")
    if action == "delay" and not delay:
        raise FaultError("delay_seconds: action delay needs a number > 0")
    message = body.get("message")
    if message is not None and not isinstance(message, str):
        raise FaultError("message: must be a string or null")
    return Fault(fault_id, action, method, path, watch, status, _optional_int(body, "retry_after", 0),
                 float(delay), _optional_int(body, "after_events", 0) or 0, _optional_int(body, "times", 1),
                 message, _pattern=pattern)


def status_body(fault: Fault, path: str) -> dict[str, Any]:
    """The Kubernetes ``Status`` a real API server sends with ``fault.status``."""
    code = fault.status or 500
    reason, message = REASONS.get(code, ("InternalError" if code >= 500 else "BadRequest", f"injected {code}"))
    details: dict[str, Any] = {}
    gv = split(path)
    if gv is not None:
        try:
            target = resolve(gv, R.ALL)
            details = {"group": target.resource.group, "kind": target.resource.plural}
            if target.name:
                details["name"] = target.name
            if code == 409:
                message = (f'Operation cannot be fulfilled on {target.resource.qualified} "{target.name or ""}": '
                           f"{message}")
        except ApiError:   # a path that names no resource gets no details
            details = {}
    if fault.retry_after is not None and code in (429, 503, 504, 500):
        details["retryAfterSeconds"] = fault.retry_after
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": fault.message or message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


class FaultTable:
    """The registered faults, in order; ``take`` finds the first live match and counts the hit."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, body: Any) -> Fault:
        fault = parse(body, f"f{next(self._ids)}")
        self.faults.append(fault)
        return fault

    def take(self, method: str, path: str, is_watch: bool) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path, is_watch):
                fault.hits += 1
                return fault
        return None

    def remove(self, fault_id: str) -> bool:
        before = len(self.faults)
        self.faults = [f for f in self.faults if f.id != fault_id]
        return len(self.faults) != before

    def clear(self) -> None:
        self.faults.clear()


def is_watch(request: web.Request) -> bool:
    return request.query.get("watch", "").lower() in ("1", "true")


def drop_connection(request: web.Request) -> None:
    """Close the client's connection: buffered bytes go out, then FIN; nothing more is sent."""
    if request.transport is not None:
        request.transport.close()


def middleware(table: FaultTable) -> Middleware:
    @web.middleware
    async def faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_sandbox") or not table.faults:
            return await handler(request)
        watching = is_watch(request)
        fault = table.take(request.method, request.path, watching)
        if fault is None:
            return await handler(request)
        if fault.action == "delay":
            await asyncio.sleep(fault.delay_seconds)
            return await handler(request)
        if fault.action == "drop":
            if watching:
                request[CUT_AFTER] = fault.after_events
                return await handler(request)
            drop_connection(request)
            return web.Response(status=204)   # never written: the transport is closed
        headers = {"Content-Type": "application/json", "Cache-Control": "no-cache, private"}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        return web.Response(body=json.dumps(status_body(fault, request.path)).encode(), status=fault.status or 500,
                            headers=headers)
    return faults


def routes(table: FaultTable) -> list[web.RouteDef]:
    async def listing(request: web.Request) -> web.Response:
        return web.json_response({"faults": [f.to_json() for f in table.faults]})

    async def add(request: web.Request) -> web.Response:
        try:
            fault = table.add(json.loads(await request.text() or "null"))
        except (FaultError, json.JSONDecodeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(fault.to_json(), status=201)

    async def clear(request: web.Request) -> web.Response:
        table.clear()
        return web.json_response({"faults": []})

    async def remove(request: web.Request) -> web.Response:
        fault_id = request.match_info["id"]
        if not table.remove(fault_id):
            return web.json_response({"error": f"no fault with id {fault_id!r}"}, status=404)
        return web.json_response({"faults": [f.to_json() for f in table.faults]})

    return [web.get("/_sandbox/faults", listing), web.post("/_sandbox/faults", add),
            web.delete("/_sandbox/faults", clear), web.delete("/_sandbox/faults/{id}", remove)]
