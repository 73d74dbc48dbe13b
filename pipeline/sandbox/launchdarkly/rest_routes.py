"""The REST API subset the kill switch uses: read and patch a flag, approval requests.

Authorization is the raw API access token (no "Bearer"). PATCH takes a semantic patch when
the Content-Type carries ``domain-model=launchdarkly.semanticpatch``, JSON Patch otherwise.
Scenario switches (``/_sandbox/scenario``) make writes answer 403/405/409 and any request 429.
"""
from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from pipeline.sandbox.launchdarkly import model
from pipeline.sandbox.launchdarkly.model import FlagRecord, LdError
from pipeline.sandbox.launchdarkly.store import LdStore

SEMANTIC_PATCH = "domain-model=launchdarkly.semanticpatch"
APPROVALS = "/api/v2/projects/{project}/flags/{key}/environments/{env}/approval-requests"


def _store(request: web.Request) -> LdStore:
    return request.app["state"]


def _record(request: web.Request) -> FlagRecord:
    return _store(request).record(request.match_info["project"], request.match_info["key"])


async def _json(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise LdError(400, "invalid_request", "the request body is not valid JSON") from None


def _envs(request: web.Request, record: FlagRecord) -> list[str] | None:
    env = request.query.get("env")
    if env is None:
        return None
    if env not in record.envs:
        raise LdError(404, "not_found", f"unknown environment {env!r}; environments: {', '.join(record.envs)}")
    return [env]


def check_writable(store: LdStore, envs: list[str]) -> None:
    """Scenario gates for a flag write, in the order LaunchDarkly would refuse: 403, 405, 409."""
    if store.scenario.forbidden:
        raise LdError(403, "forbidden", "access denied: the access token may not update flags")
    for env in envs:
        if store.scenario.approvals_required.get(env):
            raise LdError(405, "method_not_allowed", f"approval is required to change flags in environment "
                          f"{env!r}; create an approval request")
    if store.scenario.conflicts > 0:
        store.scenario.conflicts -= 1
        raise LdError(409, "optimistic_locking_error", "conflict with a concurrent change; retry the request")


async def get_flag(request: web.Request) -> web.Response:
    record = _record(request)
    return web.json_response(model.rest_flag(record, _envs(request, record)))


async def patch_flag(request: web.Request) -> web.Response:
    store, record = _store(request), _record(request)
    body = await _json(request)
    semantic = SEMANTIC_PATCH in request.headers.get("Content-Type", "").replace(" ", "").lower()
    if semantic:
        after, targets = _semantic(record, body)
    else:
        if isinstance(body, dict) and "instructions" in body:
            raise LdError(400, "invalid_request", "the body was parsed as JSON Patch; a semantic patch needs "
                          f"Content-Type: application/json; {SEMANTIC_PATCH}")
        operations = body.get("patch") if isinstance(body, dict) else body
        after = model.apply_json_patch(record, operations)
        targets = model.changed_envs(record, after)
    check_writable(store, targets)
    envs = _envs(request, record)
    if request.query.get("dryRun") == "true":
        preview = copy.copy(record)
        preview.envs = dict(record.envs)
        model.commit(preview, after)
        return web.json_response(model.rest_flag(preview, envs))
    comment = body.get("comment", "") if isinstance(body, dict) else ""
    store.change(record, after, str(comment), "semantic-patch" if semantic else "json-patch")
    return web.json_response(model.rest_flag(record, envs))


def _semantic(record: FlagRecord, body: Any) -> tuple[dict[str, model.EnvState], list[str]]:
    if not isinstance(body, dict) or "instructions" not in body:
        raise LdError(400, "invalid_request", "a semantic patch is {\"environmentKey\", \"instructions\": [..], "
                      "\"comment\"}")
    env = body.get("environmentKey")
    if not isinstance(env, str) or not env:
        raise LdError(400, "invalid_request", "environmentKey is required for flag instructions")
    return model.apply_instructions(record, env, body["instructions"]), [env]


async def delete_flag(request: web.Request) -> web.Response:
    store, record = _store(request), _record(request)
    check_writable(store, [])
    store.delete(record)
    return web.Response(status=204)


async def create_approval(request: web.Request) -> web.Response:
    store, record = _store(request), _record(request)
    body = await _json(request)
    if store.scenario.forbidden:
        raise LdError(403, "forbidden", "access denied: the access token may not create approval requests")
    return web.json_response(store.create_approval(record, request.match_info["env"], body), status=201)


def _approval(request: web.Request) -> dict[str, Any]:
    m = request.match_info
    _record(request)
    return _store(request).approval(m["project"], m["key"], m["env"], m["id"])


async def get_approval(request: web.Request) -> web.Response:
    return web.json_response(_approval(request))


async def review_approval(request: web.Request) -> web.Response:
    approval = _approval(request)
    return web.json_response(_store(request).review(approval, await _json(request)))


async def apply_approval(request: web.Request) -> web.Response:
    approval = _approval(request)
    if request.can_read_body:
        await request.read()
    return web.json_response(_store(request).apply_approval(_record(request), request.match_info["env"], approval))


def add_routes(app: web.Application) -> None:
    flag = "/api/v2/flags/{project}/{key}"
    app.router.add_get(flag, get_flag)
    app.router.add_patch(flag, patch_flag)
    app.router.add_delete(flag, delete_flag)
    app.router.add_post(APPROVALS, create_approval)
    app.router.add_get(APPROVALS + "/{id}", get_approval)
    app.router.add_post(APPROVALS + "/{id}/reviews", review_approval)
    app.router.add_post(APPROVALS + "/{id}/apply", apply_approval)
