"""Klaviyo OAuth, the client side: PKCE, the authorize URL, and the token endpoint calls.

As Klaviyo documents it: the merchant's browser goes to ``https://www.klaviyo.com/oauth/authorize``
(``response_type=code``, ``client_id``, ``redirect_uri``, space-separated ``scope``, ``state``,
``code_challenge_method=S256``, ``code_challenge``); the app then calls
``POST https://a.klaviyo.com/oauth/token`` with HTTP Basic client credentials and a form body
(``grant_type=authorization_code`` with ``code``, ``code_verifier``, ``redirect_uri``; later
``grant_type=refresh_token``), and ``POST https://a.klaviyo.com/oauth/revoke`` on uninstall.
HTTP goes through urllib3 (already the SDK's transport); token values never reach a log line.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlencode

import urllib3

from klaviyo_sync.config import OAuthSettings
from klaviyo_sync.store import TokenSet


class OAuthError(Exception):
    """The token endpoint refused (``status`` >= 400, RFC 6749 ``error`` code) or did not answer (0)."""

    def __init__(self, error: str, description: str, status: int) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error, self.description, self.status = error, description, status

    @property
    def grant_ended(self) -> bool:
        """The refresh token is no good any more (revoked, expired): only a new install helps."""
        return self.error == "invalid_grant"


def new_verifier() -> str:
    """RFC 7636: 43-128 characters from the unreserved set; here 86 (64 random bytes)."""
    return secrets.token_urlsafe(64)


def challenge_for(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def authorize_url(settings: OAuthSettings, scopes: tuple[str, ...], state: str, verifier: str) -> str:
    query = {"response_type": "code", "client_id": settings.client_id, "redirect_uri": settings.redirect_uri,
             "scope": " ".join(scopes), "state": state, "code_challenge_method": "S256",
             "code_challenge": challenge_for(verifier)}
    return f"{settings.authorize_url}?{urlencode(query)}"


@dataclass
class OAuthClient:
    settings: OAuthSettings
    timeout_seconds: float = 15.0
    clock: Callable[[], float] = time.time
    http: urllib3.PoolManager = field(default_factory=lambda: urllib3.PoolManager(retries=False), repr=False)

    def exchange(self, code: str, verifier: str) -> TokenSet:
        return self._tokens({"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                             "redirect_uri": self.settings.redirect_uri}, previous_refresh="")

    def refresh(self, refresh_token: str) -> TokenSet:
        """A new access token; Klaviyo may or may not rotate the refresh token (both handled)."""
        return self._tokens({"grant_type": "refresh_token", "refresh_token": refresh_token},
                            previous_refresh=refresh_token)

    def revoke(self, token: str, hint: str = "refresh_token") -> None:
        self._post(self.settings.revoke_url, {"token": token, "token_type_hint": hint})

    def _tokens(self, form: dict[str, str], previous_refresh: str) -> TokenSet:
        status, body = self._post(self.settings.token_url, form)
        try:
            answer = json.loads(body)
            access, expires_in = str(answer["access_token"]), float(answer["expires_in"])
            refresh = str(answer.get("refresh_token") or previous_refresh)
            scopes = tuple(str(answer.get("scope", "")).split())
        except (ValueError, KeyError, TypeError):
            raise OAuthError("invalid_response", f"token endpoint answered {status} without a token", status) from None
        if not refresh:
            raise OAuthError("invalid_response", "token endpoint answered without a refresh_token", status)
        return TokenSet(access, refresh, self.clock() + expires_in, scopes)

    def _post(self, url: str, form: dict[str, str]) -> tuple[int, bytes]:
        credentials = f"{self.settings.client_id}:{self.settings.client_secret.reveal()}".encode()
        headers = {"Authorization": "Basic " + base64.b64encode(credentials).decode(),
                   "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
                   "User-Agent": "klaviyo-sync-oauth"}
        try:
            response = self.http.request("POST", url, body=urlencode(form), headers=headers,
                                         timeout=self.timeout_seconds)
        except urllib3.exceptions.HTTPError as exc:
            raise OAuthError("unreachable", f"{url}: {type(exc).__name__}", 0) from None
        if response.status >= 400:
            raise _refusal(response.status, response.data)
        return response.status, response.data


def _refusal(status: int, body: bytes) -> OAuthError:
    try:
        answer = json.loads(body)
        return OAuthError(str(answer.get("error") or "error"), str(answer.get("error_description") or ""), status)
    except (ValueError, AttributeError):
        return OAuthError("error", f"HTTP {status}, not JSON", status)
