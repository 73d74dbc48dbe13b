"""Stand-in for the Klaviyo API (a.klaviyo.com): accounts, profile-import, profiles, events.

Modules: ``auth`` (keys, bearer tokens, scopes), ``oauth`` + ``oauth_routes`` (the app OAuth
flow: authorize with PKCE, token, refresh, revoke), ``revisions`` (the revision header),
``ratelimit`` (per-account burst/steady windows per tier), ``validation`` (request bodies),
``store`` (account, profiles, events), ``endpoints`` (routes), ``scenario`` (run-time
scenarios), ``faults`` (X-Sandbox-Fault), ``app`` (the aiohttp wiring and admin routes).
docs/sandbox-klaviyo.md describes the wire behaviour and the /_sandbox routes.
"""
from __future__ import annotations

from aiohttp import web

from pipeline.sandbox.harness import SandboxContext, StandIn
from pipeline.sandbox.klaviyo.app import KlaviyoState, build, new_state, oauth_token_for
from pipeline.sandbox.klaviyo.oauth import client_for

__all__ = ["STAND_IN", "KlaviyoState", "client_for", "make_app", "oauth_token_for"]


def make_app(ctx: SandboxContext) -> web.Application:
    creds = ctx.credentials
    return build(new_state(ctx.urls["klaviyo"], creds.klaviyo_private_key, creds.klaviyo_public_key))


def env(url: str, ctx: SandboxContext) -> dict[str, str]:
    """The stand-in's URL and the one OAuth app it has registered (an integration's client credentials)."""
    client = client_for(ctx.credentials.klaviyo_private_key)
    return {"SANDBOX_KLAVIYO_URL": url, "KLAVIYO_OAUTH_CLIENT_ID": client.client_id,
            "KLAVIYO_OAUTH_CLIENT_SECRET": client.client_secret}


STAND_IN = StandIn("klaviyo", make_app, env)
