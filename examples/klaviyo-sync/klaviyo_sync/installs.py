"""OAuth installations: begin (PKCE + state), complete (code exchange, account lookup), uninstall.

One installation per Klaviyo account: completing an install for an account that already has
one replaces its tokens. Each installed account gets its own SDK client, fed by
:class:`~klaviyo_sync.tokens.AccountTokens` (refresh before expiry and on 401).
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from klaviyo_sync.config import OAuthSettings
from klaviyo_sync.endpoints import OAUTH_SCOPES, required_scopes
from klaviyo_sync.klaviyo_client import KlaviyoClient, describe_error
from klaviyo_sync.oauth import OAuthClient, OAuthError, authorize_url, new_verifier
from klaviyo_sync.store import ACTIVE, UNINSTALLED, Installation, InstallationStore, TokenSet
from klaviyo_sync.tokens import AccountTokens, TokenSource

log = logging.getLogger(__name__)
STATE_SECONDS = 600.0


class InstallError(Exception):
    """An install that cannot complete; the message is safe to show the merchant."""


@dataclass(frozen=True)
class TokenHealth:
    """What /health says about the installations' tokens."""
    installations: int
    active: int
    problems: tuple[str, ...]          # one line per active account whose tokens cannot be used

    def as_json(self) -> dict[str, object]:
        return {"installations": self.installations, "active": self.active, "problems": list(self.problems)}


@dataclass
class Installs:
    settings: OAuthSettings
    store: InstallationStore
    oauth: OAuthClient
    make_client: Callable[[TokenSource], KlaviyoClient]
    clock: Callable[[], float] = time.time
    _clients: dict[str, KlaviyoClient] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def begin(self) -> str:
        """Where to send the merchant's browser: Klaviyo's authorize URL with a fresh state and challenge."""
        state, verifier = secrets.token_urlsafe(32), new_verifier()
        self.store.put_pending(state, verifier, STATE_SECONDS)
        return authorize_url(self.settings, OAUTH_SCOPES, state, verifier)

    def complete(self, code: str, state: str) -> Installation:
        verifier = self.store.take_pending(state)
        if verifier is None:
            raise InstallError("this install link is unknown or expired (10 minutes); start again from the install page")
        try:
            tokens = self.oauth.exchange(code, verifier)
        except OAuthError as exc:
            raise InstallError(f"Klaviyo refused the authorization code ({exc.error})") from None
        missing = sorted(required_scopes() - set(tokens.scopes))
        if missing:
            self._revoke(tokens.refresh_token)
            raise InstallError(f"the grant lacks scope(s) {', '.join(missing)} the app needs; install again "
                               "and approve every requested scope")
        account = self._account_of(tokens)
        installed = self.store.install(account, tokens)
        with self._lock:
            self._clients.pop(account, None)
        log.info("account %s installed with scopes %s", account, " ".join(tokens.scopes))
        return installed

    def uninstall(self, account_id: str) -> None:
        """Revoke at Klaviyo (the refresh token ends the grant), then erase the tokens here."""
        found = self.store.get(account_id)
        if found is not None and found.tokens is not None:
            self._revoke(found.tokens.refresh_token)
        self.store.end(account_id, UNINSTALLED, "uninstalled by the merchant")
        self.store.end_sessions(account_id)
        with self._lock:
            self._clients.pop(account_id, None)
        log.info("account %s uninstalled", account_id)

    def clients(self) -> list[tuple[str, KlaviyoClient]]:
        """(account id, client) for every active installation with sync enabled."""
        return [(i.account_id, self.client(i.account_id)) for i in self.store.active() if i.sync_enabled]

    def client(self, account_id: str) -> KlaviyoClient:
        with self._lock:
            if account_id not in self._clients:
                tokens = AccountTokens(account_id, self.store, self.oauth,
                                       self.settings.refresh_margin_seconds, self.clock)
                self._clients[account_id] = self.make_client(tokens)
            return self._clients[account_id]

    def token_health(self) -> TokenHealth:
        every = self.store.all()
        active = [i for i in every if i.status == ACTIVE]
        problems = tuple(f"account {i.account_id}: {i.problem}" for i in active if i.problem)
        return TokenHealth(len(every), len(active), problems)

    def _account_of(self, tokens: TokenSet) -> str:
        """GET /api/accounts with the new access token: which Klaviyo account installed the app."""
        probe = self.make_client(_Fixed(tokens.access_token))
        try:
            return probe.account_id()
        except Exception as exc:  # noqa: BLE001 - the merchant gets a short reason
            self._revoke(tokens.refresh_token)
            raise InstallError(f"could not read the installing account ({describe_error(exc)[1]})") from None

    def _revoke(self, refresh_token: str) -> None:
        try:
            self.oauth.revoke(refresh_token, "refresh_token")
        except OAuthError as exc:
            log.warning("revoking at Klaviyo failed (%s); the tokens are erased here anyway", exc.error)


@dataclass(frozen=True)
class _Fixed:
    """A token source for one call with a token just received."""
    access_token: str = field(repr=False)

    def token(self) -> str:
        return self.access_token

    def refreshed(self) -> str:
        return self.access_token
