"""The Kubernetes API stand-in: an aiohttp app real ``kubectl`` and the python client accept.

``STAND_IN`` plugs it into the sandbox harness; ``make_app`` wires the pieces:
discovery + OpenAPI documents, resource handlers over one :class:`Cluster`, the watch
hub, the pod proxy, persistence, and (if present) the controllers of
``pipeline.sandbox.kube.controllers``. ``app["state"]`` is the Cluster.
"""
from __future__ import annotations

import importlib
import logging
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Awaitable, Callable

import aiohttp
from aiohttp import web

from pipeline.sandbox.harness import SandboxContext, StandIn
from pipeline.sandbox.kube import discovery, faults, openapi, persistence, proxy, validation
from pipeline.sandbox.kube import resources as R
from pipeline.sandbox.kube.handlers import ResourceHandlers, error_response, respond
from pipeline.sandbox.kube.request_log import RequestLog
from pipeline.sandbox.kube.objects import ApiError, Cluster
from pipeline.sandbox.kube.routing import not_found_path, resolve, split
from pipeline.sandbox.kube.store import Store
from pipeline.sandbox.kube.watch import WatchHub

log = logging.getLogger(__name__)
CONTROLLERS = "pipeline.sandbox.kube.controllers"
DEFAULT_NAMESPACES = ("default", "kube-system")


@dataclass
class KubeApi:
    """Everything one running stand-in holds (``app["kube"]``)."""
    cluster: Cluster
    hub: WatchHub
    handlers: ResourceHandlers
    context: SandboxContext
    session: aiohttp.ClientSession | None = None
    saver: persistence.Saver | None = None
    stop_controllers: Callable[[], Awaitable[Any]] | None = None

    # --- discovery ---------------------------------------------------------------------
    async def version(self, request: web.Request) -> web.Response:
        return respond(discovery.VERSION)

    async def api(self, request: web.Request) -> web.Response:
        media = discovery.wants_aggregated(request.headers.get("Accept", ""))
        if media:
            return respond(discovery.aggregated(R.ALL, core=True, media_type=media), content_type=media)
        return respond(discovery.api_versions(request.host))

    async def apis(self, request: web.Request) -> web.Response:
        media = discovery.wants_aggregated(request.headers.get("Accept", ""))
        if media:
            return respond(discovery.aggregated(R.ALL, core=False, media_type=media), content_type=media)
        return respond(discovery.api_group_list(R.ALL))

    async def openapi_root(self, request: web.Request) -> web.Response:
        return respond(openapi.root(_by_group_version()))

    async def openapi_gv(self, request: web.Request) -> web.Response:
        path = request.match_info["tail"].strip("/")
        for (group, version), members in _by_group_version().items():
            if openapi.gv_path(group, version) == path:
                return respond(openapi.gv_document(group, version, members))
        raise not_found_path()

    # --- resources ---------------------------------------------------------------------
    async def resource(self, request: web.Request) -> web.StreamResponse:
        gv = split(request.path)
        if gv is None:
            raise not_found_path()
        members = _by_group_version().get((gv.group, gv.version))
        if members is None:
            raise not_found_path()
        if not gv.tail:
            if request.method != "GET":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                               "resource", {})
            return respond(discovery.resource_list(gv.group, gv.version, members))
        target = resolve(gv, R.ALL)
        if target.subresource == "proxy":
            if self.session is None:
                raise ApiError(503, "ServiceUnavailable", "the proxy is not ready", {})
            return await proxy.forward(request, self.cluster, self.session, target.namespace or "",
                                       target.name or "")
        return await self.handlers.handle(request, target)

    async def group(self, request: web.Request) -> web.Response:
        name = request.match_info["group"]
        for (group, version) in _by_group_version():
            if group == name:
                return respond(discovery.api_group(group, version))
        raise not_found_path()


def _by_group_version() -> dict[tuple[str, str], list]:
    found: dict[tuple[str, str], list] = {}
    for resource in R.ALL:
        found.setdefault((resource.group, resource.version), []).append(resource)
    return found


@web.middleware
async def status_errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                        ) -> web.StreamResponse:
    """Every failure leaves as a Kubernetes Status, never a traceback."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc)
    except web.HTTPNotFound:
        return error_response(not_found_path())
    except web.HTTPMethodNotAllowed:
        return error_response(ApiError(405, "MethodNotAllowed",
                                       "the server does not allow this method on the requested resource", {}))
    except web.HTTPException:
        raise
    except Exception as exc:  # noqa: BLE001 - a server answers, whatever went wrong
        log.exception("kube stand-in failed on %s %s", request.method, request.path)
        return error_response(ApiError(500, "InternalError", f"Internal error occurred: {exc}", {}))


def load_controllers() -> ModuleType | None:
    try:
        return importlib.import_module(CONTROLLERS)
    except ModuleNotFoundError as exc:
        if exc.name != CONTROLLERS:
            raise
        return None


def build_cluster(context: SandboxContext) -> Cluster:
    history = int(context.extra.get("kube_history", 5000))  # type: ignore[call-overload]
    cluster = Cluster(Store(history=history))
    validation.register(cluster)
    persistence.load(cluster.store, context.state_dir)
    for name in DEFAULT_NAMESPACES:
        if cluster.store.get(R.NAMESPACES, "", name) is None:
            cluster.create(R.NAMESPACES, {"metadata": {"name": name}})
    return cluster


def make_app(context: SandboxContext) -> web.Application:
    cluster = build_cluster(context)
    hub = WatchHub(cluster.store, float(context.extra.get("kube_bookmark_interval", 60.0)))  # type: ignore[arg-type]
    controllers = load_controllers()
    api = KubeApi(cluster, hub, ResourceHandlers(cluster, hub, getattr(controllers, "pod_log", None)), context)
    requests = RequestLog()
    injected = faults.FaultTable()
    app = web.Application(middlewares=[requests.middleware(), faults.middleware(injected), status_errors],
                          client_max_size=16 * 1024 * 1024)
    with warnings.catch_warnings():  # the harness contract is the plain "state" key
        warnings.simplefilter("ignore")
        app["state"] = cluster
        app["kube"] = api
    app.router.add_get("/version", api.version)
    app.router.add_get("/version/", api.version)
    app.router.add_get("/api", api.api)
    app.router.add_get("/api/", api.api)
    app.router.add_get("/apis", api.apis)
    app.router.add_get("/apis/", api.apis)
    app.router.add_get("/openapi/v3", api.openapi_root)
    app.router.add_get("/openapi/v3/{tail:.+}", api.openapi_gv)
    app.router.add_route("*", "/api/{tail:.+}", api.resource)
    app.router.add_get("/apis/{group}", api.group)
    app.router.add_route("*", "/apis/{group}/{tail:.+}", api.resource)
    app.router.add_routes(requests.routes())
    app.router.add_routes(faults.routes(injected))
    if controllers is not None and hasattr(controllers, "admin_routes"):
        app.router.add_routes(controllers.admin_routes(cluster))

    async def startup(app: web.Application) -> None:
        api.session = aiohttp.ClientSession(auto_decompress=False)
        if context.state_dir is not None:
            api.saver = persistence.Saver(cluster.store, context.state_dir)
            api.saver.flush()
        if controllers is not None and hasattr(controllers, "start_controllers"):
            api.stop_controllers = await _maybe_await(controllers.start_controllers(cluster, context))

    async def shutdown(app: web.Application) -> None:
        hub.close()

    async def cleanup(app: web.Application) -> None:
        if api.stop_controllers is not None:
            await _maybe_await(api.stop_controllers())
        if api.saver is not None:
            api.saver.close()
        if api.session is not None:
            await api.session.close()

    app.on_startup.append(startup)
    app.on_shutdown.append(shutdown)
    app.on_cleanup.append(cleanup)
    return app


async def _maybe_await(value: Any) -> Any:
    if hasattr(value, "__await__"):
        return await value
    return value


def env(url: str, context: SandboxContext) -> dict[str, str]:
    return {"SANDBOX_KUBE_URL": url}


STAND_IN = StandIn("kube", make_app, env)
