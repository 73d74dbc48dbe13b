"""AccountTokens: refresh before expiry, on a 401, and what a refused refresh means."""
from __future__ import annotations

import pytest

from app.support import APP_SOURCE  # noqa: F401  (puts the app on sys.path)
from klaviyo_sync.crypto import Keyring, new_key
from klaviyo_sync.db import engine_for
from klaviyo_sync.oauth import OAuthError
from klaviyo_sync.store import REVOKED, InstallationStore, TokenSet
from klaviyo_sync.tokens import AccountTokens, InstallationEnded, TokenTrouble

NOW = 1_800_000_000.0


class Clock:
    now = NOW

    def __call__(self) -> float:
        return self.now


class Refresher:
    def __init__(self, clock: Clock, fail: OAuthError | None = None) -> None:
        self.clock, self.fail, self.calls = clock, fail, []

    def refresh(self, refresh_token: str) -> TokenSet:
        self.calls.append(refresh_token)
        if self.fail:
            raise self.fail
        n = len(self.calls)
        return TokenSet(f"at-{n}", refresh_token, self.clock() + 3600, ("accounts:read",))


@pytest.fixture
def setup(tmp_path):
    clock = Clock()
    store = InstallationStore(engine_for(f"sqlite:///{tmp_path / 't.db'}"), Keyring.parse(f"k:{new_key()}"), clock)
    store.install("A1", TokenSet("at-0", "rt-0", NOW + 3600, ("accounts:read",)))
    refresher = Refresher(clock)
    return clock, store, refresher, AccountTokens("A1", store, refresher, 300, clock)


def test_a_fresh_token_is_used_as_is(setup):
    clock, store, refresher, tokens = setup
    assert tokens.token() == "at-0" and refresher.calls == []


def test_refreshed_before_it_expires(setup):
    clock, store, refresher, tokens = setup
    clock.now = NOW + 3600 - 299                      # inside the 300 s margin
    assert tokens.token() == "at-1" and refresher.calls == ["rt-0"]
    assert store.get("A1").tokens.access_token == "at-1"
    assert tokens.token() == "at-1" and len(refresher.calls) == 1


def test_refreshed_on_a_401_even_when_not_yet_expired(setup):
    clock, store, refresher, tokens = setup
    assert tokens.refreshed() == "at-1"


def test_refused_grant_ends_the_installation(setup):
    clock, store, refresher, tokens = setup
    refresher.fail = OAuthError("invalid_grant", "refresh token is invalid or revoked", 400)
    with pytest.raises(InstallationEnded):
        tokens.refreshed()
    found = store.get("A1")
    assert found.status == REVOKED and found.tokens is None and "invalid_grant" in found.problem
    with pytest.raises(InstallationEnded):
        tokens.token()


def test_expired_and_unrefreshable_is_token_trouble(setup):
    clock, store, refresher, tokens = setup
    refresher.fail = OAuthError("invalid_client", "client authentication failed", 401)
    clock.now = NOW + 3601
    with pytest.raises(TokenTrouble, match="expired at .* and the refresh failed .invalid_client"):
        tokens.token()
    assert "invalid_client" in store.get("A1").problem


def test_an_early_refresh_failure_keeps_the_still_valid_token(setup):
    clock, store, refresher, tokens = setup
    refresher.fail = OAuthError("unreachable", "timeout", 0)
    clock.now = NOW + 3600 - 100
    assert tokens.token() == "at-0" and store.get("A1").problem == ""
