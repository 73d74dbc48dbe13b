"""Klaviyo's OAuth for apps, as the stand-in serves it: authorize, token, revoke; grants and tokens.

The wire (docs/sandbox-klaviyo.md, shared reference "OAuth"): ``GET /oauth/authorize``
(response_type=code, client_id, redirect_uri, space-separated scope, state, PKCE S256 required),
``POST /oauth/token`` with HTTP Basic client credentials and a form body (grant_type
authorization_code with code, code_verifier, redirect_uri; or refresh_token), ``POST
/oauth/revoke`` (token, token_type_hint). Errors follow RFC 6749 section 5.2 / RFC 7009.

Everything here is pure over :class:`OAuthServer` (no I/O): the aiohttp routes in ``app.py``
parse the request and render what these functions return or raise.
"""
from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from pipeline.sandbox.klaviyo.auth import ALL_SCOPES

CODE_SECONDS = 600.0            # an authorization code is good for 10 minutes, once
ACCESS_TOKEN_SECONDS = 3600     # Klaviyo: access tokens last 1 hour
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")   # RFC 7636 section 4.1


class OAuthError(Exception):
    """An RFC 6749 error: ``error`` code, description, and the HTTP status of a token-endpoint answer."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error, self.description, self.status = error, description, status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class BadAuthorizeRequest(Exception):
    """An authorize request that must NOT redirect (unknown client or redirect URI): RFC 6749 4.1.2.1."""


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str


@dataclass
class Code:
    value: str
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    challenge: str
    expires_at: float
    used: bool = False


@dataclass
class Grant:
    """One install: the refresh token and the access tokens issued from it."""
    id: str
    client_id: str
    account_id: str
    scopes: frozenset[str]
    refresh_token: str
    created_at: float
    revoked: bool = False
    access_tokens: dict[str, float] = field(default_factory=dict)   # token -> expires_at (epoch s)
    revoked_access: set[str] = field(default_factory=set)

    def public(self, now: float) -> dict[str, object]:
        """For ``GET /_sandbox/oauth/grants``: never a token value."""
        live = [t for t, exp in self.access_tokens.items()
                if not self.revoked and exp > now and t not in self.revoked_access]
        return {"id": self.id, "client_id": self.client_id, "account_id": self.account_id,
                "scopes": sorted(self.scopes), "revoked": self.revoked,
                "access_tokens_issued": len(self.access_tokens), "access_tokens_live": len(live)}


@dataclass
class OAuthServer:
    """The registered app (one client), its codes and grants."""
    client: Client
    account_id: str
    token_seconds: int = ACCESS_TOKEN_SECONDS
    codes: dict[str, Code] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)

    def grant_for_access_token(self, token: str, now: float) -> Grant | None:
        """The live grant a bearer token belongs to; None when unknown, expired or revoked."""
        for grant in self.grants.values():
            expires = grant.access_tokens.get(token)
            if expires is None:
                continue
            if grant.revoked or token in grant.revoked_access or expires <= now:
                return None
            return grant
        return None

    def expire_access_tokens(self, now: float) -> int:
        """Sandbox control: every issued access token expires now (refresh tokens stay good)."""
        count = 0
        for grant in self.grants.values():
            for token, expires in grant.access_tokens.items():
                if expires > now:
                    grant.access_tokens[token] = now
                    count += 1
        return count


def client_for(private_key: str) -> Client:
    """The one OAuth app the sandbox knows, derived from the private key so every run agrees."""
    digest = hashlib.sha256(("oauth-client:" + private_key).encode()).hexdigest()
    return Client("sbx-app-" + digest[:16], "sbx-secret-" + digest[16:48])


def s256(verifier: str) -> str:
    """RFC 7636: BASE64URL(SHA256(ASCII(code_verifier))), unpadded."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def authorize(server: OAuthServer, query: dict[str, str], now: float, deny: bool = False) -> str:
    """The Location to redirect the merchant's browser to (a code, or an error for the app).

    Raises :class:`BadAuthorizeRequest` when the client or redirect URI is not trustworthy enough
    to redirect to at all.
    """
    if query.get("client_id") != server.client.client_id:
        raise BadAuthorizeRequest("unknown client_id")
    redirect_uri = query.get("redirect_uri", "")
    parts = urlsplit(redirect_uri)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
        raise BadAuthorizeRequest("redirect_uri must be an absolute http(s) URL without a fragment")
    state = query.get("state")

    def back(**params: str) -> str:
        if state is not None:
            params["state"] = state
        return redirect_uri + ("&" if parts.query else "?") + urlencode(params)

    if query.get("response_type") != "code":
        return back(error="unsupported_response_type", error_description="response_type must be code")
    if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
        return back(error="invalid_request",
                    error_description="PKCE is required: code_challenge with code_challenge_method=S256")
    scopes = frozenset(query.get("scope", "").split())
    unknown = sorted(scopes - ALL_SCOPES)
    if not scopes or unknown:
        return back(error="invalid_scope", error_description=f"unknown or missing scope(s): {unknown or '(none)'}")
    if deny:
        return back(error="access_denied", error_description="The user denied the request.")
    code = secrets.token_urlsafe(32)
    server.codes[code] = Code(code, server.client.client_id, redirect_uri, scopes,
                              query["code_challenge"], now + CODE_SECONDS)
    return back(code=code)


def authenticate_client(server: OAuthServer, authorization: str | None) -> Client:
    """HTTP Basic client credentials (RFC 6749 2.3.1), or 401 invalid_client."""
    scheme, _, encoded = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise OAuthError("invalid_client", "client authentication with HTTP Basic is required", 401)
    try:
        client_id, _, client_secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise OAuthError("invalid_client", "malformed HTTP Basic credentials", 401) from None
    expected = server.client
    if client_id != expected.client_id or not secrets.compare_digest(client_secret, expected.client_secret):
        raise OAuthError("invalid_client", "client authentication failed", 401)
    return expected


def token(server: OAuthServer, form: dict[str, str], now: float) -> dict[str, object]:
    """``POST /oauth/token`` after client authentication: the token response, or OAuthError."""
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        grant = _redeem(server, form, now)
    elif grant_type == "refresh_token":
        grant = _refresh(server, form.get("refresh_token", ""))
    else:
        raise OAuthError("unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
    access = "sbx_at_" + secrets.token_urlsafe(32)
    grant.access_tokens[access] = now + server.token_seconds
    return {"access_token": access, "token_type": "Bearer", "expires_in": server.token_seconds,
            "refresh_token": grant.refresh_token, "scope": " ".join(sorted(grant.scopes))}


def _redeem(server: OAuthServer, form: dict[str, str], now: float) -> Grant:
    code = server.codes.get(form.get("code", ""))
    if code is None or code.expires_at <= now:
        raise OAuthError("invalid_grant", "authorization code is invalid or expired")
    if code.used:
        raise OAuthError("invalid_grant", "authorization code was already used")
    if form.get("redirect_uri") != code.redirect_uri:
        raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
    verifier = form.get("code_verifier", "")
    if not _VERIFIER.match(verifier):
        raise OAuthError("invalid_request", "code_verifier is required (43-128 unreserved characters)")
    if not secrets.compare_digest(s256(verifier), code.challenge):
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
    code.used = True
    grant = Grant("grant_" + secrets.token_hex(8), code.client_id, server.account_id, code.scopes,
                  "sbx_rt_" + secrets.token_urlsafe(32), now)
    server.grants[grant.id] = grant
    return grant


def _refresh(server: OAuthServer, refresh_token: str) -> Grant:
    for grant in server.grants.values():
        if refresh_token and secrets.compare_digest(grant.refresh_token, refresh_token):
            if grant.revoked:
                break
            return grant
    raise OAuthError("invalid_grant", "refresh token is invalid or revoked")


def revoke(server: OAuthServer, form: dict[str, str]) -> None:
    """RFC 7009: revoking a refresh token ends its grant (and every access token from it);
    revoking an access token ends that token. An unknown token is not an error."""
    value = form.get("token", "")
    if not value:
        raise OAuthError("invalid_request", "token is required")
    for grant in server.grants.values():
        if secrets.compare_digest(grant.refresh_token, value):
            grant.revoked = True
        elif value in grant.access_tokens:
            grant.revoked_access.add(value)
