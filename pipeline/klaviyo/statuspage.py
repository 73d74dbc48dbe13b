"""Client for Klaviyo's Atlassian Statuspage (status.klaviyo.com): ``/api/v2/summary.json``.

summary.json = ``{page, status{indicator, description}, components[], incidents[],
scheduled_maintenances[]}``; no authentication. See /work/shared/reference/klaviyo-api.md §10.
The page lags real outages (the April 2026 API 503s were posted ~25 h late), so callers also
probe the API itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

SUMMARY_PATH = "/api/v2/summary.json"
STATUS_PATH = "/api/v2/status.json"


class StatusPageError(Exception):
    """The status page answered, but not with a usable summary (the message says why)."""


@dataclass(frozen=True)
class StatusSummary:
    raw: dict[str, Any]

    @property
    def indicator(self) -> str:
        return str((self.raw.get("status") or {}).get("indicator", ""))

    @property
    def description(self) -> str:
        return str((self.raw.get("status") or {}).get("description", ""))

    @property
    def components(self) -> list[dict[str, Any]]:
        return [c for c in self.raw.get("components") or [] if isinstance(c, dict)]

    @property
    def incidents(self) -> list[dict[str, Any]]:
        return [i for i in self.raw.get("incidents") or [] if isinstance(i, dict)]

    @property
    def scheduled_maintenances(self) -> list[dict[str, Any]]:
        return [m for m in self.raw.get("scheduled_maintenances") or [] if isinstance(m, dict)]


async def get_summary(client: httpx.AsyncClient, base_url: str) -> StatusSummary:
    """Fetch summary.json; a non-200 or non-JSON answer raises :class:`StatusPageError`."""
    url = base_url.rstrip("/") + SUMMARY_PATH
    response = await client.get(url, headers={"Accept": "application/json"})
    if response.status_code != 200:
        raise StatusPageError(f"{url} answered HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError:
        kind = response.headers.get("content-type", "unknown type")
        raise StatusPageError(f"{url} answered a non-JSON body ({kind})") from None
    if not isinstance(data, dict) or not isinstance(data.get("status"), dict):
        raise StatusPageError(f"{url} answered JSON without a status object")
    return StatusSummary(data)
