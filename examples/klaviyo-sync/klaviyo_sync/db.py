"""The one SQL layer: SQLAlchemy Core over SQLite (default) or PostgreSQL (production).

``DATABASE_URL`` picks the database: ``sqlite:///path/to/file.db`` (the default,
``sqlite:///klaviyo-sync.db``) or ``postgresql://user:password@host:5432/dbname`` (run with
the ``psycopg`` driver). The same table definitions and statements serve both; the schema is
created when missing. Nothing here knows what a token means: ``store.py`` does.
"""
from __future__ import annotations

from sqlalchemy import (Boolean, Column, Float, MetaData, String, Table, Text, create_engine, event)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_URL = "sqlite:///klaviyo-sync.db"

metadata = MetaData()

# One row per Klaviyo account that installed the app (OAuth): the account id is the key, so a
# second install for the same account replaces the first.
installations = Table(
    "installations", metadata,
    Column("account_id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),          # active | revoked | uninstalled
    Column("scopes", Text, nullable=False),                 # space-separated, as granted
    Column("access_token", Text, nullable=True),            # AES-256-GCM ciphertext (crypto.py)
    Column("refresh_token", Text, nullable=True),           # AES-256-GCM ciphertext
    Column("access_expires_at", Float, nullable=False),     # epoch seconds
    Column("sync_enabled", Boolean, nullable=False),
    Column("problem", Text, nullable=False),                # "" or why tokens cannot be used
    Column("installed_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# An authorize request in flight: the PKCE verifier waits here, keyed by a hash of ``state``.
pending_authorizations = Table(
    "pending_authorizations", metadata,
    Column("state_hash", String(64), primary_key=True),
    Column("code_verifier", Text, nullable=False),          # ciphertext
    Column("expires_at", Float, nullable=False),
)

# A merchant's browser session on the settings page, keyed by a hash of the cookie value.
sessions = Table(
    "sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("expires_at", Float, nullable=False),
)


class DatabaseUrlError(ValueError):
    """DATABASE_URL is not a URL this app can use; the message never shows a password."""


def engine_for(url: str) -> Engine:
    """An engine for ``url``; tables are created if they do not exist."""
    engine = create_engine(_driver_url(url), future=True, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    metadata.create_all(engine)
    return engine


def _driver_url(url: str) -> str:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUrlError("DATABASE_URL is not a database URL: expected sqlite:///<file> or "
                               "postgresql://<user>:<password>@<host>/<db>") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return url
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise DatabaseUrlError(f"DATABASE_URL uses {backend!r}: accepted sqlite:///<file> or postgresql://...")


def _sqlite_pragmas(connection: object, _record: object) -> None:
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
