"""The aiohttp application: each API request runs faults, auth, revision, scope, rate limit, handler."""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from aiohttp import web

from pipeline.sandbox.klaviyo import endpoints, oauth, oauth_routes
from pipeline.sandbox.klaviyo.auth import ALL_SCOPES, CdnRejected, Credential, Principal, authenticate, require, scheme_of
from pipeline.sandbox.klaviyo.endpoints import Call, Data
from pipeline.sandbox.klaviyo.errors import ApiError, error_response, html_error, invalid, jsonapi
from pipeline.sandbox.klaviyo.faults import Fault, parse_fault
from pipeline.sandbox.klaviyo.ratelimit import Allowance, Limiter, throttled
from pipeline.sandbox.klaviyo.revisions import resolve
from pipeline.sandbox.klaviyo.scenario import Scenario, ScenarioError, merge
from pipeline.sandbox.klaviyo.store import Account, Events, Profiles, default_clock

LOG_LIMIT = 5000


@dataclass
class KlaviyoState:
    """Everything the stand-in knows; in memory only."""
    base: str
    private_key: str
    oauth_token: str
    data: Data
    oauth: oauth.OAuthServer
    scenario: Scenario = field(default_factory=Scenario)
    limiter: Limiter = field(default_factory=Limiter)
    requests: deque = field(default_factory=lambda: deque(maxlen=LOG_LIMIT))
    throttle_count: int = 0   # requests answered 429 by the current ``throttle`` scenario
    failure_count: int = 0    # requests answered 5xx by the current ``server_errors`` scenario
    clock: Callable[[], float] = default_clock

    def credentials(self) -> list[Credential]:
        missing = set(self.scenario.missing_scopes)
        scopes = ALL_SCOPES - missing
        fixed = [Credential("Klaviyo-API-Key", self.private_key, "account", scopes, self.scenario.revoked_key),
                 Credential("Bearer", self.oauth_token, "oauth:sandbox-app", scopes, self.scenario.revoked_token)]
        return fixed + self._installed(missing)

    def _installed(self, missing: set[str]) -> list[Credential]:
        """Live access tokens of OAuth installs: the grant's scopes, one quota per install."""
        now, found = self.clock(), []
        for grant in self.oauth.grants.values():
            for token in grant.access_tokens:
                if self.oauth.grant_for_access_token(token, now) is grant:
                    found.append(Credential("Bearer", token, f"oauth:{grant.client_id}", grant.scopes - missing))
        return found

    def set_scenario(self, scenario: Scenario) -> None:
        if scenario.throttle != self.scenario.throttle:
            self.throttle_count = 0
        if scenario.server_errors != self.scenario.server_errors:
            self.failure_count = 0
        self.scenario = scenario
        self.oauth.token_seconds = scenario.oauth_token_seconds
        self.limiter.overrides = scenario.tier_overrides()

    def today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.clock(), dt.timezone.utc).date()


def oauth_token_for(private_key: str) -> str:
    """The one OAuth access token the sandbox accepts, derived so every run agrees on it."""
    return "sbx_oauth_" + hashlib.sha256(("oauth:" + private_key).encode()).hexdigest()[:32]


def new_state(base: str, private_key: str, public_key: str) -> KlaviyoState:
    return KlaviyoState(base, private_key, oauth_token_for(private_key),
                        Data(Account(public_key), Profiles(), Events()),
                        oauth.OAuthServer(oauth.client_for(private_key), public_key))


async def api(request: web.Request) -> web.StreamResponse:
    state: KlaviyoState = request.app["state"]
    entry = {"time": state.clock(), "method": request.method, "path": request.path,
             "query": request.query_string, "revision": request.headers.get("revision"),
             "auth_scheme": scheme_of(request.headers.get("Authorization")),
             "user_agent": request.headers.get("User-Agent"), "fault": request.headers.get("X-Sandbox-Fault")}
    try:
        response = await _serve(request, state)
    except ApiError as error:
        response = error_response(error)
    entry["status"] = response.status
    state.requests.append(entry)
    return response


async def _serve(request: web.Request, state: KlaviyoState) -> web.StreamResponse:
    fault = parse_fault(request.headers.get("X-Sandbox-Fault"))
    scenario = state.scenario
    delay = scenario.latency_seconds + fault.slow_seconds
    if delay > 0:
        await asyncio.sleep(delay)
    if scenario.html_errors:
        return html_error(scenario.html_errors)
    endpoint, params = endpoints.match(request.method, request.path)
    try:
        principal = authenticate(request.headers.get("Authorization"), state.credentials())
    except CdnRejected as rejected:
        return html_error(rejected.status)
    revision = resolve(request.headers.get("revision"), state.today())
    require(principal, endpoint.scope)
    allowance = _take(state, principal, endpoint.tier_for(dict(request.query)), revision.served)
    headers = allowance.headers()
    try:
        failure = _server_failure(state, fault)
        if failure:
            raise failure
        body = await _body(request)
        call = Call(params, dict(request.query), body, state.base, f"{state.base}{request.path_qs}", state.clock())
        result = endpoint.handler(state.data, call)
    except ApiError as error:
        return error_response(error, headers)
    if result.body is None:
        return web.Response(status=result.status, headers=headers)
    return jsonapi(result.body, result.status, headers)


def _take(state: KlaviyoState, principal: Principal, tier: str, served_revision: str) -> Allowance:
    throttle = state.scenario.throttle
    if throttle is not None and (throttle["times"] is None or state.throttle_count < throttle["times"]):
        state.throttle_count += 1
        raise throttled(throttle["retry_after"])
    return state.limiter.take(principal.quota, tier, state.clock(), served_revision)


def _server_failure(state: KlaviyoState, fault: Fault) -> ApiError | None:
    status = fault.server_error
    configured = state.scenario.server_errors
    if not status and configured and (configured["times"] is None or state.failure_count < configured["times"]):
        state.failure_count += 1
        status = configured["status"]
    if not status:
        return None
    titles = {500: "A server error occurred.", 502: "Bad gateway.", 503: "Service unavailable.",
              504: "Gateway timeout."}
    return ApiError(status, "error" if status == 500 else "service_unavailable", titles.get(status, "Server error."),
                    "The server encountered an error. Please retry the request later.")


async def _body(request: web.Request) -> object:
    if request.method not in ("POST", "PATCH", "PUT"):
        return None
    raw = await request.read()
    if len(raw) > 5 * 1024 * 1024:
        raise ApiError(413, "request_too_large", "Request entity too large.", "The payload exceeds 5 MB.")
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise invalid("JSON parse error - the request body is not valid JSON.") from None


# --- admin routes (/_sandbox/...) -------------------------------------------------------------

async def get_scenario(request: web.Request) -> web.Response:
    return web.json_response(request.app["state"].scenario.to_json())


async def post_scenario(request: web.Request) -> web.Response:
    state: KlaviyoState = request.app["state"]
    try:
        patch = await request.json()
    except ValueError:
        return web.json_response({"error": "body must be a JSON object"}, status=400)
    try:
        state.set_scenario(merge(state.scenario, patch))
    except ScenarioError as error:
        return web.json_response({"error": str(error)}, status=400)
    if "throttle" in patch:  # a re-posted throttle starts counting its ``times`` again
        state.throttle_count = 0
    if "server_errors" in patch:
        state.failure_count = 0
    return web.json_response(state.scenario.to_json())


async def delete_scenario(request: web.Request) -> web.Response:
    state: KlaviyoState = request.app["state"]
    state.set_scenario(Scenario())
    state.limiter.reset()
    return web.json_response(state.scenario.to_json())


async def get_requests(request: web.Request) -> web.Response:
    return web.json_response({"requests": list(request.app["state"].requests)})


async def delete_requests(request: web.Request) -> web.Response:
    request.app["state"].requests.clear()
    return web.json_response({"requests": []})


async def get_data(request: web.Request) -> web.Response:
    state: KlaviyoState = request.app["state"]
    return web.json_response({
        "account_id": state.data.account.id,
        "profiles": [state.data.profiles.resource(p, state.base) for p in state.data.profiles.items.values()],
        "events": state.data.events.public()})


async def delete_data(request: web.Request) -> web.Response:
    data = request.app["state"].data
    data.profiles.items.clear()
    data.events.items.clear()
    return web.json_response({"profiles": [], "events": []})


async def get_oauth(request: web.Request) -> web.Response:
    state: KlaviyoState = request.app["state"]
    return web.json_response({"access_token": state.oauth_token, "token_type": "Bearer",
                              "scope": " ".join(sorted(ALL_SCOPES - set(state.scenario.missing_scopes)))})


def build(state: KlaviyoState) -> web.Application:
    app = web.Application(client_max_size=6 * 1024 * 1024)
    app["state"] = state
    app.router.add_route("GET", "/_sandbox/scenario", get_scenario)
    app.router.add_route("POST", "/_sandbox/scenario", post_scenario)
    app.router.add_route("DELETE", "/_sandbox/scenario", delete_scenario)
    app.router.add_route("GET", "/_sandbox/requests", get_requests)
    app.router.add_route("DELETE", "/_sandbox/requests", delete_requests)
    app.router.add_route("GET", "/_sandbox/data", get_data)
    app.router.add_route("DELETE", "/_sandbox/data", delete_data)
    app.router.add_route("GET", "/_sandbox/oauth", get_oauth)
    oauth_routes.add_routes(app)
    app.router.add_route("*", "/api{tail:(/.*)?}", api)
    return app
