"""Admin routes of the controllers (``/_sandbox/...``), for tests and scenarios.

  GET  /_sandbox/images                     {"behaviours": {image: {...}}, "processes": {repo: {...}}}
  PUT  /_sandbox/images                     merge {image: behaviour | null}; 400 names the bad field
  PUT  /_sandbox/processes                  merge {repository: {command, env, cwd} | [argv] | null}
  GET  /_sandbox/pods/{namespace}/{name}/log[?container=c]   a real-process container's log
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from aiohttp import web

from pipeline.sandbox.kube.objects import Cluster

if TYPE_CHECKING:
    from pipeline.sandbox.kube.controllers import ControllerState


def routes(cluster: Cluster, state: "ControllerState") -> list[web.RouteDef]:
    catalog = state.catalog

    def snapshot() -> dict[str, Any]:
        return catalog.to_json()

    async def read_body(request: web.Request) -> Any:
        try:
            return json.loads(await request.text())
        except json.JSONDecodeError as exc:
            raise web.HTTPBadRequest(text=json.dumps({"error": f"body is not JSON: {exc}"}),
                                     content_type="application/json")

    async def get_images(request: web.Request) -> web.Response:
        return web.json_response(snapshot())

    def updater(update: Callable[[Any], None]) -> Callable[[web.Request], Awaitable[web.Response]]:
        """PUT handler: validate and apply the body with ``update``; 400 naming the field if bad."""
        async def put(request: web.Request) -> web.Response:
            try:
                update(await read_body(request))
            except ValueError as exc:
                return web.json_response({"error": str(exc)}, status=400)
            state.save_catalog()
            return web.json_response(snapshot())
        return put

    put_images = updater(catalog.update_behaviours)
    put_processes = updater(catalog.update_processes)

    async def get_log(request: web.Request) -> web.Response:
        from pipeline.sandbox.kube.controllers import pod_log
        text = pod_log(cluster, request.match_info["namespace"], request.match_info["name"],
                       request.query.get("container"))
        if text is None:
            return web.json_response({"error": "no such pod"}, status=404)
        return web.Response(text=text)

    return [web.get("/_sandbox/images", get_images), web.put("/_sandbox/images", put_images),
            web.get("/_sandbox/processes", get_images), web.put("/_sandbox/processes", put_processes),
            web.get("/_sandbox/pods/{namespace}/{name}/log", get_log)]
