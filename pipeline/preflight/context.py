"""What checks share: the configuration, one HTTP client, the secrets, "now", and the ONE
accounts response (checks api-auth and rate-limit read the same response, so preflight
spends at most 2 requests of the account's XS quota: the probe, plus one retry after an
honoured ``Retry-After``).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import httpx

from pipeline.config import EnvConfig
from pipeline.klaviyo.client import ApiResponse, get_accounts
from pipeline.secrets import Secret, SecretSource

RETRY_AFTER_MAX_SECONDS = 3.0     # wait for a 429's Retry-After only when it is this short


@dataclass(frozen=True)
class SecretBundle:
    """The secrets preflight reads, by role; ``None`` when absent from the source."""
    source: str                       # describes the source, never a value
    private_key: Secret | None
    webhook_secret: Secret | None
    public_key: Secret | None
    error: str = ""                   # the source could not be read (e.g. cluster unreachable)
    reader: SecretSource | None = field(default=None, repr=False)   # for checks reading other names

    def all(self) -> list[Secret | None]:
        return [self.private_key, self.webhook_secret, self.public_key]

    def get(self, name: str) -> Secret | None:
        """Any other secret by name from the same source (None when absent or unreadable)."""
        return self.reader.get(name) if self.reader is not None and name else None


@dataclass(frozen=True)
class AccountsProbe:
    """The accounts request(s): ``first``, and ``retry`` when a 429's Retry-After was honoured."""
    first: ApiResponse
    retry: ApiResponse | None = None
    waited_seconds: float = 0.0

    @property
    def final(self) -> ApiResponse:
        return self.retry or self.first

    @property
    def requests(self) -> int:
        return 2 if self.retry else 1


def retry_after_seconds(value: str | None) -> int | None:
    """An integer ``Retry-After`` (seconds); None when absent or not an integer."""
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


@dataclass
class PreflightContext:
    config: EnvConfig
    http: httpx.AsyncClient
    secrets: SecretBundle
    now: datetime                     # timezone-aware UTC
    app_source: Path
    retry_after_max_seconds: float = RETRY_AFTER_MAX_SECONDS
    _accounts: asyncio.Task[AccountsProbe] | None = field(default=None, repr=False)

    @property
    def today(self) -> date:
        return self.now.date()

    async def accounts(self) -> AccountsProbe:
        """The shared accounts probe: the first caller starts it, every caller awaits it.

        Shielded, so a caller's timeout does not cancel it for the other caller.
        """
        if self._accounts is None:
            self._accounts = asyncio.ensure_future(self._probe_accounts())
        return await asyncio.shield(self._accounts)

    async def _probe_accounts(self) -> AccountsProbe:
        key = self.secrets.private_key
        if key is None:
            reason = self.secrets.error or f"no private key in {self.secrets.source}"
            raise RuntimeError(f"secrets unavailable: {reason}")
        settings = self.config.klaviyo
        first = await get_accounts(self.http, settings.base_url, key, settings.revision)
        if first.status != 429:
            return AccountsProbe(first)
        wait = retry_after_seconds(first.header("retry-after"))
        if wait is None or wait > self.retry_after_max_seconds:
            return AccountsProbe(first)
        await asyncio.sleep(wait)         # honour Retry-After: an earlier retry is always a 429
        retry = await get_accounts(self.http, settings.base_url, key, settings.revision)
        return AccountsProbe(first, retry, float(wait))
