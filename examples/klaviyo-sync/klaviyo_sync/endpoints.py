"""The Klaviyo endpoints this app calls, the scope each needs, and the scopes its install page asks for.

Two declarations, kept apart on purpose: ``KLAVIYO_ENDPOINTS`` says what the code calls (the
calls themselves are in ``klaviyo_client.py``), ``OAUTH_SCOPES`` what the merchant is asked to
grant. Klaviyo's listing wants them equal ("request only required scopes"): the pipeline's
preflight check ``oauth`` reads this file with ``ast.literal_eval`` (it never imports the app)
and fails when they differ; docs/api-endpoints.md lists the same rows (tests/app checks it).
Keep both values plain literals.
"""
from __future__ import annotations

# (method, path as the SDK sends it, scope, why)
KLAVIYO_ENDPOINTS = (
    ("GET", "/api/accounts", "accounts:read", "health probe; the installing account's id after OAuth"),
    ("POST", "/api/profile-import", "profiles:write", "profile upsert, each sync cycle"),
    ("POST", "/api/events", "events:write", "heartbeat event, each sync cycle"),
)

# The space-separated ``scope`` of the authorize request, in this order.
OAUTH_SCOPES = ("accounts:read", "events:write", "profiles:write")


def required_scopes() -> frozenset[str]:
    """The scopes the endpoints above need."""
    return frozenset(scope for _, _, scope, _ in KLAVIYO_ENDPOINTS)
