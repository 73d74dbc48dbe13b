"""What server-side SDKs talk to (FDv1): the ``/all`` stream, ``/sdk/latest-all`` polling, events.

Authorization is the raw SDK key; it selects the project and environment (``LdStore.sdk_keys``).
"""
from __future__ import annotations

import asyncio
import hashlib
import json

from aiohttp import web

from pipeline.sandbox.launchdarkly.model import LdError
from pipeline.sandbox.launchdarkly.store import LdStore, SdkEnvironment, sse

LOG_ENTRY = web.RequestKey("log_entry", dict)  # set by the app's middleware
HEARTBEAT = ":\n"  # an SSE comment; keeps the SDK's 5-minute read timeout from firing


def sdk_environment(request: web.Request) -> SdkEnvironment:
    store: LdStore = request.app["state"]
    where = store.sdk_keys.get(request.headers.get("Authorization", ""))
    if where is None:
        raise LdError(401, "unauthorized", "invalid or missing SDK key")
    return where


async def stream_all(request: web.Request) -> web.StreamResponse:
    """``GET /all``: a ``put`` of every flag, then a ``patch``/``delete`` per change, heartbeats between."""
    store: LdStore = request.app["state"]
    where = sdk_environment(request)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                           "Cache-Control": "no-cache"})
    await response.prepare(request)
    request.get(LOG_ENTRY, {})["status"] = 200
    queue = store.subscribe(where)
    try:
        await response.write(sse("put", {"path": "/", "data": store.sdk_payload(where)}).encode())
        while True:
            try:
                message = await asyncio.wait_for(queue.get(), store.heartbeat_seconds)
            except asyncio.TimeoutError:
                message = HEARTBEAT
                store.heartbeats_sent += 1
            if message is None:
                break
            await response.write(message.encode())
    except (ConnectionError, RuntimeError):
        pass  # the SDK went away
    finally:
        store.unsubscribe(where, queue)
    return response


async def latest_all(request: web.Request) -> web.Response:
    """``GET /sdk/latest-all``: the polling payload, with an ETag; a matching If-None-Match gets 304."""
    store: LdStore = request.app["state"]
    payload = store.sdk_payload(sdk_environment(request))
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    etag = '"' + hashlib.sha1(body.encode()).hexdigest() + '"'
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers={"ETag": etag})
    return web.Response(text=body, content_type="application/json", headers={"ETag": etag})


async def accept_events(request: web.Request) -> web.Response:
    """``POST /bulk`` and ``/diagnostic``: accepted and dropped (evaluation never depends on events)."""
    sdk_environment(request)
    await request.read()
    return web.Response(status=202)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/all", stream_all)
    app.router.add_get("/sdk/latest-all", latest_all)
    app.router.add_post("/bulk", accept_events)
    app.router.add_post("/diagnostic", accept_events)
