"""Counts the API requests the stand-in serves, so a benchmark can compare clients' costs.

``GET /_sandbox/requests`` answers ``{"total": N, "by_verb": {...}, "by_user_agent": {...}}``
counting every Kubernetes API request (discovery, CRUD, watch; not ``/_sandbox`` routes);
``DELETE`` resets the counts. A watch counts once, when it is opened, as on a real server's
``apiserver_request_total``.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware


@dataclass
class RequestLog:
    by_verb: Counter[str] = field(default_factory=Counter)
    by_user_agent: Counter[str] = field(default_factory=Counter)

    def count(self, request: web.Request) -> None:
        verb = "WATCH" if request.query.get("watch") in ("1", "true", "True") else request.method
        self.by_verb[verb] += 1
        agent = request.headers.get("User-Agent", "").split("/")[0] or "unknown"
        self.by_user_agent[agent] += 1

    def summary(self) -> dict[str, object]:
        return {"total": sum(self.by_verb.values()), "by_verb": dict(self.by_verb),
                "by_user_agent": dict(self.by_user_agent)}

    def middleware(self) -> Middleware:
        @web.middleware
        async def counting(request: web.Request, handler: Handler) -> web.StreamResponse:
            if not request.path.startswith("/_sandbox"):
                self.count(request)
            return await handler(request)
        return counting

    def routes(self) -> list[web.RouteDef]:
        async def show(request: web.Request) -> web.Response:
            return web.json_response(self.summary())

        async def reset(request: web.Request) -> web.Response:
            self.by_verb.clear()
            self.by_user_agent.clear()
            return web.json_response(self.summary())
        return [web.get("/_sandbox/requests", show), web.delete("/_sandbox/requests", reset)]
