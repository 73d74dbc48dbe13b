"""The token store through the one SQL layer, on SQLite and on a real PostgreSQL server."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from app.support import APP_SOURCE  # noqa: F401  (puts the app on sys.path)
from klaviyo_sync.crypto import Keyring, new_key
from klaviyo_sync.db import DatabaseUrlError, _driver_url, engine_for
from klaviyo_sync.store import ACTIVE, REVOKED, InstallationStore, TokenSet

K1, K2 = new_key(), new_key()


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def tokens(n: int = 1) -> TokenSet:
    return TokenSet(f"sbx_at_access_{n}", f"sbx_rt_refresh_{n}", 1_800_003_600.0, ("accounts:read", "events:write"))


@pytest.fixture
def store(database_url):
    return InstallationStore(engine_for(database_url), Keyring.parse(f"k1:{K1}"), Clock())


def raw_rows(store: InstallationStore) -> list[dict]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text("SELECT * FROM installations"))]


def test_tokens_are_ciphertext_in_the_database(store):
    store.install("Acct01", tokens())
    [row] = raw_rows(store)
    for column, plain in (("access_token", "sbx_at_access_1"), ("refresh_token", "sbx_rt_refresh_1")):
        assert row[column].startswith("v1.k1.") and plain not in row[column]
    assert store.get("Acct01").tokens.access_token == "sbx_at_access_1"


def test_one_installation_per_account(store):
    store.install("Acct01", tokens(1))
    store.set_sync("Acct01", False)
    again = store.install("Acct01", tokens(2))
    assert [i.account_id for i in store.all()] == ["Acct01"]
    assert again.tokens.refresh_token == "sbx_rt_refresh_2" and again.status == ACTIVE
    assert again.sync_enabled is False               # a reinstall keeps the merchant's settings


def test_rotation_rewrites_under_the_new_key_and_old_rows_stay_readable(store):
    store.install("Acct01", tokens())
    rotated = InstallationStore(store.engine, Keyring.parse(f"k2:{K2},k1:{K1}"), store.clock)
    assert rotated.get("Acct01").tokens.access_token == "sbx_at_access_1"     # read with the old key
    assert rotated.rotate() == 2
    assert {raw_rows(rotated)[0][c].split(".")[1] for c in ("access_token", "refresh_token")} == {"k2"}
    assert InstallationStore(store.engine, Keyring.parse(f"k2:{K2}"), store.clock).get("Acct01").tokens
    assert rotated.rotate() == 0


def test_ending_an_installation_erases_its_tokens(store):
    store.install("Acct01", tokens())
    store.end("Acct01", REVOKED, "refresh refused")
    found = store.get("Acct01")
    assert (found.status, found.tokens, found.problem) == (REVOKED, None, "refresh refused")
    assert raw_rows(store)[0]["access_token"] is None and store.active() == []


def test_pending_authorization_is_single_use_and_expires(store):
    store.put_pending("state-1", "verifier-1", 600)
    assert "verifier-1" not in str(raw_rows_pending(store))
    assert store.take_pending("state-1") == "verifier-1"
    assert store.take_pending("state-1") is None
    store.put_pending("state-2", "verifier-2", 600)
    store.clock.now += 601
    assert store.take_pending("state-2") is None


def raw_rows_pending(store):
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text("SELECT * FROM pending_authorizations"))]


def test_sessions_expire_and_are_stored_hashed(store):
    store.install("Acct01", tokens())
    session = store.new_session("Acct01", 3600)
    with store.engine.connect() as conn:
        assert session not in str(conn.execute(text("SELECT * FROM sessions")).all())
    assert store.session_account(session) == "Acct01"
    store.clock.now += 3601
    assert store.session_account(session) is None


def test_database_url_errors_never_show_the_password():
    with pytest.raises(DatabaseUrlError) as error:
        _driver_url("mysql://app:hunter2@db/tokens")
    assert "hunter2" not in str(error.value) and "'mysql'" in str(error.value)
    assert _driver_url("postgresql://app:pw@db:5432/t").startswith("postgresql+psycopg://app:pw@db:5432/t")


def test_postgres_path_really_is_postgres(postgres):
    url = postgres.database()
    engine = engine_for(url)
    assert engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"
    with create_engine(url.replace("postgresql://", "postgresql+psycopg://")).connect() as conn:
        assert conn.execute(text("SELECT to_regclass('installations')")).scalar() == "installations"
