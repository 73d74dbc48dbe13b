"""The aiohttp routes of the stand-in's OAuth: ``/oauth/authorize|token|revoke`` and their admin routes.

Real Klaviyo serves authorize on www.klaviyo.com (a consent page the merchant clicks through)
and token/revoke on a.klaviyo.com; the stand-in serves all three on its one host and consents
at once (unless the ``oauth_deny`` scenario says the merchant refused).
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pipeline.sandbox.klaviyo import oauth
from pipeline.sandbox.klaviyo.auth import scheme_of

if TYPE_CHECKING:
    from pipeline.sandbox.klaviyo.app import KlaviyoState

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _log(state: "KlaviyoState", request: web.Request, status: int) -> None:
    state.requests.append({"time": state.clock(), "method": request.method, "path": request.path,
                           "query": "", "revision": request.headers.get("revision"),
                           "auth_scheme": scheme_of(request.headers.get("Authorization")),
                           "user_agent": request.headers.get("User-Agent"), "fault": None,
                           "status": status})


async def get_authorize(request: web.Request) -> web.Response:
    state: KlaviyoState = request.app["state"]
    try:
        location = oauth.authorize(state.oauth, dict(request.query), state.clock(), state.scenario.oauth_deny)
    except oauth.BadAuthorizeRequest as bad:
        _log(state, request, 400)
        return web.Response(status=400, text=f"<!DOCTYPE html><h1>Invalid request</h1><p>{bad}</p>",
                            content_type="text/html")
    _log(state, request, 302)
    return web.Response(status=302, headers={"Location": location})


async def _form(request: web.Request) -> dict[str, str]:
    if request.content_type != "application/x-www-form-urlencoded":
        raise oauth.OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded")
    return {k: str(v) for k, v in (await request.post()).items()}


def _answer(state: "KlaviyoState", request: web.Request, status: int, body: Any) -> web.Response:
    _log(state, request, status)
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="oauth"'
    return web.Response(status=status, text=json.dumps(body), content_type="application/json", headers=headers)


async def post_token(request: web.Request) -> web.Response:
    state: KlaviyoState = request.app["state"]
    try:
        oauth.authenticate_client(state.oauth, request.headers.get("Authorization"))
        answer = oauth.token(state.oauth, await _form(request), state.clock())
    except oauth.OAuthError as error:
        return _answer(state, request, error.status, error.body())
    return _answer(state, request, 200, answer)


async def post_revoke(request: web.Request) -> web.Response:
    state: KlaviyoState = request.app["state"]
    try:
        oauth.authenticate_client(state.oauth, request.headers.get("Authorization"))
        oauth.revoke(state.oauth, await _form(request))
    except oauth.OAuthError as error:
        return _answer(state, request, error.status, error.body())
    _log(state, request, 200)
    return web.Response(status=200, headers=NO_STORE)


async def get_grants(request: web.Request) -> web.Response:
    state: KlaviyoState = request.app["state"]
    now = state.clock()
    return web.json_response({"client_id": state.oauth.client.client_id,
                              "grants": [g.public(now) for g in state.oauth.grants.values()]})


async def post_expire(request: web.Request) -> web.Response:
    state: KlaviyoState = request.app["state"]
    return web.json_response({"expired": state.oauth.expire_access_tokens(state.clock())})


async def post_revoke_grants(request: web.Request) -> web.Response:
    """The merchant removes the app in Klaviyo: every grant ends (its refresh and access tokens)."""
    state: KlaviyoState = request.app["state"]
    ended = [g.id for g in state.oauth.grants.values() if not g.revoked]
    for grant in state.oauth.grants.values():
        grant.revoked = True
    return web.json_response({"revoked": ended})


async def delete_grants(request: web.Request) -> web.Response:
    state: KlaviyoState = request.app["state"]
    state.oauth.grants.clear()
    state.oauth.codes.clear()
    return web.json_response({"grants": []})


def add_routes(app: web.Application) -> None:
    app.router.add_route("GET", "/oauth/authorize", get_authorize)
    app.router.add_route("POST", "/oauth/token", post_token)
    app.router.add_route("POST", "/oauth/revoke", post_revoke)
    app.router.add_route("GET", "/_sandbox/oauth/grants", get_grants)
    app.router.add_route("DELETE", "/_sandbox/oauth/grants", delete_grants)
    app.router.add_route("POST", "/_sandbox/oauth/grants/revoke", post_revoke_grants)
    app.router.add_route("POST", "/_sandbox/oauth/expire", post_expire)
