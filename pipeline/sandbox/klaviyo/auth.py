"""Who is calling: the ``Authorization`` header resolved to a principal with scopes."""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.sandbox.klaviyo.errors import ApiError

RESOURCES = (
    "campaigns", "catalogs", "conversations", "coupon-codes", "coupons", "custom-objects", "events",
    "flows", "forms", "images", "lists", "metrics", "profiles", "push-tokens", "reviews", "segments",
    "subscriptions", "tags", "templates", "tracking-settings", "web-feeds", "webhooks",
)
ALL_SCOPES: frozenset[str] = frozenset(
    ["accounts:read", "data-privacy:write"]
    + [f"{r}:{a}" for r in RESOURCES for a in ("read", "write")])


class CdnRejected(Exception):
    """The CDN answers before the API does (HTML, not JSON:API)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class Credential:
    scheme: str          # "Klaviyo-API-Key" | "Bearer"
    secret: str
    quota: str           # private keys share the account's quota; an OAuth install has its own
    scopes: frozenset[str] = ALL_SCOPES
    revoked: bool = False


@dataclass(frozen=True)
class Principal:
    scheme: str
    quota: str
    scopes: frozenset[str]


def scheme_of(header: str | None) -> str:
    """For the request log: the scheme only, never the secret."""
    if not header or not header.strip():
        return "none"
    return header.strip().split(None, 1)[0][:32]


def authenticate(header: str | None, credentials: list[Credential]) -> Principal:
    """Pure: the principal for an ``Authorization`` header, or the 401 Klaviyo answers."""
    scheme, _, secret = (header or "").strip().partition(" ")
    secret = secret.strip()
    if scheme == "Bearer" and secret.startswith("pk_"):
        raise CdnRejected(400)  # a private key sent as a bearer token never reaches the API
    if scheme not in ("Klaviyo-API-Key", "Bearer") or not secret:
        raise ApiError(401, "not_authenticated", "Authentication credentials were not provided.",
                       "Missing or invalid authorization scheme. Please use Klaviyo-API-Key.")
    for cred in credentials:
        if cred.scheme == scheme and cred.secret == secret and not cred.revoked:
            return Principal(scheme, cred.quota, cred.scopes)
    raise ApiError(401, "authentication_failed", "Incorrect authentication credentials.",
                   "Incorrect authentication credentials." if scheme == "Klaviyo-API-Key"
                   else "Invalid or expired access token.")


def require(principal: Principal, scope: str) -> None:
    if scope not in principal.scopes:
        raise ApiError(403, "permission_denied", "You do not have permission to perform this action.",
                       f"This API key is missing required scopes: {scope}.")
