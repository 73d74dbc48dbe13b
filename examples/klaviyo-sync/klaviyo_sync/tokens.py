"""A valid access token for one installed account: refreshed before it expires, and again on a 401.

``AccountTokens.token()`` returns the stored access token while it has more than
``refresh_margin_seconds`` to live, else refreshes it first. ``refreshed()`` refreshes now
(the API answered 401). A refused refresh ends the installation when Klaviyo says the grant is
gone (``invalid_grant``: the merchant uninstalled or the refresh token expired): the tokens are
erased and :class:`InstallationEnded` tells callers to stop. Any other failure with an expired
access token is :class:`TokenTrouble`, which ``/health`` reports as such.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Protocol

from klaviyo_sync.store import ACTIVE, REVOKED, Installation, InstallationStore, TokenSet

log = logging.getLogger(__name__)


class InstallationEnded(Exception):
    """The account's installation is revoked or uninstalled: nothing to call Klaviyo with."""


class TokenTrouble(Exception):
    """The access token has expired and could not be refreshed (not a revocation)."""


class Refresher(Protocol):
    def refresh(self, refresh_token: str) -> TokenSet: ...


class TokenSource(Protocol):
    def token(self) -> str: ...

    def refreshed(self) -> str: ...


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class AccountTokens:
    account_id: str
    store: InstallationStore
    oauth: Refresher
    refresh_margin_seconds: float = 300.0
    clock: Callable[[], float] = time.time
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def token(self) -> str:
        current = self._current()
        assert current.tokens is not None
        if current.tokens.expires_at - self.clock() > self.refresh_margin_seconds:
            return current.tokens.access_token
        return self._refresh(current.tokens.access_token)

    def refreshed(self) -> str:
        """After a 401: a new access token, unless another thread has just brought one."""
        current = self._current()
        assert current.tokens is not None
        return self._refresh(current.tokens.access_token, forced=True)

    def _current(self) -> Installation:
        found = self.store.get(self.account_id)
        if found is None or found.status != ACTIVE or found.tokens is None:
            raise InstallationEnded(f"account {self.account_id}: installation "
                                    f"{found.status if found else 'not found'}")
        return found

    def _refresh(self, seen_access: str, forced: bool = False) -> str:
        with self._lock:
            latest = self._current()
            assert latest.tokens is not None
            fresh_enough = latest.tokens.expires_at - self.clock() > self.refresh_margin_seconds
            if latest.tokens.access_token != seen_access and (fresh_enough or forced):
                return latest.tokens.access_token          # refreshed meanwhile
            try:
                new = self.oauth.refresh(latest.tokens.refresh_token)
            except Exception as exc:  # noqa: BLE001 - every refusal is decided below
                return self._refused(latest, exc, forced)
            self.store.update_tokens(self.account_id, new)
            log.info("account %s: access token refreshed, valid until %s", self.account_id, _when(new.expires_at))
            return new.access_token

    def _refused(self, latest: Installation, exc: Exception, forced: bool) -> str:
        assert latest.tokens is not None
        reason = f"{getattr(exc, 'error', type(exc).__name__)}: {getattr(exc, 'description', '')}".rstrip(": ")
        if getattr(exc, "grant_ended", False):
            again = self.store.get(self.account_id)          # did another pod rotate it meanwhile?
            if again and again.tokens and again.tokens.refresh_token != latest.tokens.refresh_token:
                return again.tokens.access_token
            self.store.end(self.account_id, REVOKED, f"refresh refused ({reason}): reinstall needed")
            self.store.end_sessions(self.account_id)
            log.warning("account %s: Klaviyo refused the refresh token (%s); installation ended, "
                        "no further calls for it", self.account_id, reason)
            raise InstallationEnded(f"account {self.account_id}: refresh refused ({reason})") from None
        expired = latest.tokens.expires_at <= self.clock()
        if expired or forced:
            problem = (f"access token {'expired at ' + _when(latest.tokens.expires_at) if expired else 'rejected'}"
                       f" and the refresh failed ({reason})")
            self.store.set_problem(self.account_id, problem)
            raise TokenTrouble(f"account {self.account_id}: {problem}") from None
        log.warning("account %s: early refresh failed (%s); the current token is valid until %s",
                    self.account_id, reason, _when(latest.tokens.expires_at))
        return latest.tokens.access_token
