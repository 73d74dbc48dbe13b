"""Installations, in-flight authorizations and settings sessions, stored through ``db.py``.

Tokens and PKCE verifiers are written only as ciphertext (``crypto.Keyring``); OAuth ``state``
values and session cookies are stored as SHA-256 hashes, so a copy of the database gives none
of them away. Every method is one short transaction; the same code runs on SQLite and PostgreSQL.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from klaviyo_sync.crypto import Keyring
from klaviyo_sync.db import installations, pending_authorizations, sessions

ACTIVE, REVOKED, UNINSTALLED = "active", "revoked", "uninstalled"


@dataclass(frozen=True)
class TokenSet:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float                      # epoch seconds
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class Installation:
    account_id: str
    status: str
    scopes: tuple[str, ...]
    tokens: TokenSet | None                # None once revoked or uninstalled
    sync_enabled: bool
    problem: str                           # "" or why the tokens cannot be used
    installed_at: float


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _cell(account_id: str, column: str) -> str:
    return f"installations/{account_id}/{column}"


@dataclass
class InstallationStore:
    engine: Engine
    keyring: Keyring
    clock: Callable[[], float] = time.time

    # --- installations -------------------------------------------------------------------

    def install(self, account_id: str, tokens: TokenSet) -> Installation:
        """Create the account's installation, or replace its tokens (one installation per account)."""
        now = self.clock()
        values = {**self._token_values(account_id, tokens), "status": ACTIVE, "problem": "", "updated_at": now}
        with self.engine.begin() as tx:
            if tx.execute(update(installations).where(installations.c.account_id == account_id)
                          .values(**values)).rowcount == 0:
                try:
                    with tx.begin_nested():
                        tx.execute(insert(installations).values(account_id=account_id, sync_enabled=True,
                                                                installed_at=now, **values))
                except IntegrityError:   # another pod installed it a moment ago: replace that one
                    tx.execute(update(installations).where(installations.c.account_id == account_id)
                               .values(**values))
        found = self.get(account_id)
        assert found is not None
        return found

    def get(self, account_id: str) -> Installation | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(installations).where(installations.c.account_id == account_id)).first()
        return self._installation(row._mapping) if row else None

    def all(self) -> list[Installation]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(installations).order_by(installations.c.account_id)).all()
        return [self._installation(r._mapping) for r in rows]

    def active(self) -> list[Installation]:
        return [i for i in self.all() if i.status == ACTIVE]

    def update_tokens(self, account_id: str, tokens: TokenSet) -> None:
        self._set(account_id, problem="", **self._token_values(account_id, tokens))

    def set_problem(self, account_id: str, problem: str) -> None:
        self._set(account_id, problem=problem)

    def set_sync(self, account_id: str, enabled: bool) -> None:
        self._set(account_id, sync_enabled=enabled)

    def end(self, account_id: str, status: str, reason: str) -> None:
        """Revoked or uninstalled: the token ciphertexts are erased, the row stays as a record."""
        self._set(account_id, status=status, access_token=None, refresh_token=None, problem=reason)

    def rotate(self) -> int:
        """Re-encrypt every token not under the current key; returns how many cells changed."""
        changed = 0
        with self.engine.begin() as tx:
            for row in tx.execute(select(installations)).all():
                values = {}
                for column in ("access_token", "refresh_token"):
                    stored = row._mapping[column]
                    if stored and self.keyring.key_id_of(stored) != self.keyring.current:
                        cell = _cell(row.account_id, column)
                        values[column] = self.keyring.encrypt(self.keyring.decrypt(stored, cell), cell)
                if values:
                    tx.execute(update(installations).where(installations.c.account_id == row.account_id)
                               .values(**values))
                    changed += len(values)
        return changed

    # --- authorizations in flight ----------------------------------------------------------

    def put_pending(self, state: str, verifier: str, ttl_seconds: float) -> None:
        key = digest(state)
        with self.engine.begin() as tx:
            tx.execute(delete(pending_authorizations).where(pending_authorizations.c.expires_at < self.clock()))
            tx.execute(insert(pending_authorizations).values(
                state_hash=key, code_verifier=self.keyring.encrypt(verifier, f"pending/{key}"),
                expires_at=self.clock() + ttl_seconds))

    def take_pending(self, state: str) -> str | None:
        """The verifier for ``state``, once: the row is deleted; None if unknown or expired."""
        key = digest(state)
        with self.engine.begin() as tx:
            row = tx.execute(select(pending_authorizations)
                             .where(pending_authorizations.c.state_hash == key)).first()
            tx.execute(delete(pending_authorizations).where(pending_authorizations.c.state_hash == key))
        if row is None or row.expires_at <= self.clock():
            return None
        return self.keyring.decrypt(row.code_verifier, f"pending/{key}")

    # --- settings sessions -----------------------------------------------------------------

    def new_session(self, account_id: str, ttl_seconds: float) -> str:
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as tx:
            tx.execute(delete(sessions).where(sessions.c.expires_at < self.clock()))
            tx.execute(insert(sessions).values(token_hash=digest(token), account_id=account_id,
                                               expires_at=self.clock() + ttl_seconds))
        return token

    def session_account(self, token: str) -> str | None:
        """The account a session cookie belongs to; None when unknown or expired (expired rows go)."""
        key = digest(token)
        with self.engine.begin() as tx:
            row = tx.execute(select(sessions).where(sessions.c.token_hash == key)).first()
            if row is not None and row.expires_at <= self.clock():
                tx.execute(delete(sessions).where(sessions.c.token_hash == key))
                return None
        return row.account_id if row is not None else None

    def end_sessions(self, account_id: str) -> None:
        with self.engine.begin() as tx:
            tx.execute(delete(sessions).where(sessions.c.account_id == account_id))

    # --- helpers ---------------------------------------------------------------------------

    def _set(self, account_id: str, **values: Any) -> None:
        with self.engine.begin() as tx:
            tx.execute(update(installations).where(installations.c.account_id == account_id)
                       .values(updated_at=self.clock(), **values))

    def _token_values(self, account_id: str, tokens: TokenSet) -> dict[str, Any]:
        return {"access_token": self.keyring.encrypt(tokens.access_token, _cell(account_id, "access_token")),
                "refresh_token": self.keyring.encrypt(tokens.refresh_token, _cell(account_id, "refresh_token")),
                "access_expires_at": tokens.expires_at, "scopes": " ".join(tokens.scopes)}

    def _installation(self, row: Any) -> Installation:
        account = row["account_id"]
        scopes = tuple(row["scopes"].split())
        tokens = None
        if row["access_token"] and row["refresh_token"]:
            tokens = TokenSet(self.keyring.decrypt(row["access_token"], _cell(account, "access_token")),
                              self.keyring.decrypt(row["refresh_token"], _cell(account, "refresh_token")),
                              row["access_expires_at"], scopes)
        return Installation(account, row["status"], scopes, tokens, bool(row["sync_enabled"]),
                            row["problem"], row["installed_at"])
