"""LaunchDarkly stand-in: one server for the SDK (stream, polling, events) and the REST API.

Seeded from the flag definitions in ``flags/`` (``pipeline.flags``). The official
``launchdarkly-server-sdk`` connects with ``Config(sdk_key, base_uri=url, stream_uri=url,
events_uri=url)``; the pipeline's REST adapter with ``Authorization: <api token>``.

SDK keys select a project and environment: the sandbox SDK key
(``Credentials.launchdarkly_sdk_key``) is the primary project's ``local`` environment
(``config.flags.environment`` for ``--env local``); every other pair has the key
``<sdk key>-<project>-<environment>``. ``GET /_sandbox/environments`` lists them.

Admin routes: ``/_sandbox/scenario`` (GET; POST merges switches; DELETE resets them),
``/_sandbox/requests`` (GET the log, DELETE clears it), ``GET /_sandbox/changes`` (every
flag change with its comment), ``POST /_sandbox/reset`` (flags back
to ``flags/``, versions still increasing), ``GET /_sandbox/environments``.
"""
from __future__ import annotations

import asyncio
import time
import warnings
from typing import Any, Awaitable, Callable

from aiohttp import web

from pipeline.flags import ProjectDefinition, load_projects
from pipeline.sandbox.harness import SandboxContext, StandIn
from pipeline.sandbox.launchdarkly import rest_routes, sdk_routes
from pipeline.sandbox.launchdarkly.sdk_routes import LOG_ENTRY
from pipeline.sandbox.launchdarkly.model import LdError
from pipeline.sandbox.launchdarkly.store import LdStore, Scenario, SdkEnvironment, now_epoch_ms

PRIMARY_PROJECT = "klaviyo-sync"
LOCAL_ENVIRONMENT = "local"
HEARTBEAT_SECONDS = 3.0
STATE_FILE = "launchdarkly.json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def sdk_key_map(sdk_key: str, projects: dict[str, ProjectDefinition]) -> dict[str, SdkEnvironment]:
    """The sandbox SDK key is (primary project, local); every other pair gets a derived key."""
    primary = PRIMARY_PROJECT if PRIMARY_PROJECT in projects else sorted(projects)[0]
    envs = projects[primary].environments
    keys = {sdk_key: SdkEnvironment(primary, LOCAL_ENVIRONMENT if LOCAL_ENVIRONMENT in envs else envs[0])}
    for project in projects.values():
        for env in project.environments:
            where = SdkEnvironment(project.key, env)
            if where not in keys.values():
                keys[f"{sdk_key}-{project.key}-{env}"] = where
    return keys


def make_app(ctx: SandboxContext) -> web.Application:
    projects = load_projects(ctx.repo_root / "flags")
    state_file = ctx.state_dir / STATE_FILE if ctx.state_dir else None
    store = LdStore(projects, sdk_key_map(ctx.credentials.launchdarkly_sdk_key, projects),
                    ctx.credentials.launchdarkly_api_token, state_file)
    app = web.Application(middlewares=[_middleware])
    with warnings.catch_warnings():  # the harness contract is app["state"], a str key
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        app["state"] = store
    store.heartbeat_seconds = _heartbeat_seconds(ctx)
    sdk_routes.add_routes(app)
    rest_routes.add_routes(app)
    _add_admin_routes(app)
    app.on_shutdown.append(_close_streams)
    return app


def _heartbeat_seconds(ctx: SandboxContext) -> float:
    """``ctx.extra["launchdarkly_heartbeat_seconds"]`` (a number, or a numeric string), else the default."""
    value = ctx.extra.get("launchdarkly_heartbeat_seconds", HEARTBEAT_SECONDS)
    if not isinstance(value, (int, float, str)):
        raise TypeError(f"launchdarkly_heartbeat_seconds must be a number of seconds, got {value!r}")
    return float(value)


async def _close_streams(app: web.Application) -> None:
    app["state"].close_streams()


def _error(err: LdError) -> web.Response:
    return web.json_response(err.body(), status=err.status, headers=err.headers)


@web.middleware
async def _middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    store: LdStore = request.app["state"]
    admin = request.path.startswith("/_sandbox/")
    entry = _log_entry(request)
    request[LOG_ENTRY] = entry
    if not admin:
        store.log(entry)
    try:
        if request.path.startswith("/api/"):
            await _api_gate(request, store)
        response = await handler(request)
    except LdError as err:
        response = _error(err)
    entry["status"] = response.status
    return response


async def _api_gate(request: web.Request, store: LdStore) -> None:
    """Latency, token, API version and rate limit: what every REST request goes through first."""
    if store.scenario.latency_seconds:
        await asyncio.sleep(store.scenario.latency_seconds)
    if request.headers.get("Authorization", "") != store.api_token:
        raise LdError(401, "unauthorized", "invalid or missing access token")
    version = request.headers.get("LD-API-Version")
    if version is not None and not (version == "beta" or (len(version) == 8 and version.isdigit())):
        raise LdError(400, "invalid_request", f"LD-API-Version {version!r} is not an API version "
                      "(YYYYMMDD, e.g. 20240415, or beta)")
    if store.scenario.rate_limited > 0:
        store.scenario.rate_limited -= 1
        wait = store.scenario.retry_after_seconds
        raise LdError(429, "rate_limited", "rate limit exceeded; retry later",
                      {"Retry-After": str(wait), "X-Ratelimit-Reset": str(now_epoch_ms(wait)),
                       "X-Ratelimit-Route-Remaining": "0"})


def _log_entry(request: web.Request) -> dict[str, Any]:
    headers = request.headers
    return {"time": time.time(), "method": request.method, "path": request.path,
            "query": dict(request.query), "status": None,
            "content_type": headers.get("Content-Type"), "ld_api_version": headers.get("LD-API-Version"),
            "user_agent": headers.get("User-Agent"), "if_none_match": headers.get("If-None-Match")}


def _add_admin_routes(app: web.Application) -> None:
    async def get_scenario(request: web.Request) -> web.Response:
        return web.json_response(request.app["state"].scenario.to_json())

    async def post_scenario(request: web.Request) -> web.Response:
        store: LdStore = request.app["state"]
        try:
            patch = await request.json()
        except ValueError:
            raise LdError(400, "invalid_request", "scenario body is not valid JSON") from None
        candidate = Scenario(**store.scenario.to_json())
        candidate.merge(patch)  # validate everything before changing anything
        store.scenario = candidate
        return web.json_response(store.scenario.to_json())

    async def delete_scenario(request: web.Request) -> web.Response:
        request.app["state"].scenario = Scenario()
        return web.json_response(request.app["state"].scenario.to_json())

    async def get_requests(request: web.Request) -> web.Response:
        return web.json_response(request.app["state"].requests)

    async def delete_requests(request: web.Request) -> web.Response:
        request.app["state"].requests.clear()
        return web.Response(status=204)

    async def changes(request: web.Request) -> web.Response:
        return web.json_response(request.app["state"].changes)

    async def reset(request: web.Request) -> web.Response:
        request.app["state"].reset_flags()
        return web.Response(status=204)

    async def environments(request: web.Request) -> web.Response:
        store: LdStore = request.app["state"]
        return web.json_response([{"project": w.project, "environment": w.environment, "sdk_key": key}
                                  for key, w in store.sdk_keys.items()])

    app.router.add_get("/_sandbox/scenario", get_scenario)
    app.router.add_post("/_sandbox/scenario", post_scenario)
    app.router.add_delete("/_sandbox/scenario", delete_scenario)
    app.router.add_get("/_sandbox/requests", get_requests)
    app.router.add_delete("/_sandbox/requests", delete_requests)
    app.router.add_get("/_sandbox/changes", changes)
    app.router.add_post("/_sandbox/reset", reset)
    app.router.add_get("/_sandbox/environments", environments)


def env(url: str, ctx: SandboxContext) -> dict[str, str]:
    return {"SANDBOX_LAUNCHDARKLY_URL": url}


STAND_IN = StandIn("launchdarkly", make_app, env)
