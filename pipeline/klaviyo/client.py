"""The one Klaviyo REST call preflight makes: ``GET /api/accounts/``.

Authenticates with ``Authorization: Klaviyo-API-Key <private key>`` and sends the configured
``revision`` header. Returns status, headers and the body parsed as JSON when it is JSON, or
its (redacted, truncated) text when it is not: Cloudflare in front of Klaviyo answers some
requests with HTML, which callers must report rather than crash on.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import httpx

from pipeline.secrets import Secret, redact

ACCOUNTS_PATH = "/api/accounts/"
JSON_API = "application/vnd.api+json"
RAW_TEXT_LIMIT = 300


@dataclass(frozen=True)
class ApiResponse:
    status: int
    headers: Mapping[str, str]            # lower-cased names
    body: Any = None                      # parsed JSON, or None when the body is not JSON
    raw_text: str = ""                    # first characters of a non-JSON body, redacted
    content_type: str = ""
    elapsed_seconds: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_json(self) -> bool:
        return self.body is not None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def errors(self) -> list[Mapping[str, Any]]:
        """The JSON:API ``errors[]`` of the body (empty for a non-JSON or successful body)."""
        if isinstance(self.body, Mapping) and isinstance(self.body.get("errors"), list):
            return [e for e in self.body["errors"] if isinstance(e, Mapping)]
        return []

    @property
    def error_codes(self) -> list[str]:
        return [str(e.get("code")) for e in self.errors if e.get("code")]

    @property
    def error_detail(self) -> str:
        return "; ".join(str(e.get("detail") or e.get("title") or "") for e in self.errors).strip("; ")


def accounts_headers(private_key: Secret, revision: str) -> dict[str, str]:
    return {
        "Authorization": f"Klaviyo-API-Key {private_key.reveal()}",
        "revision": revision,
        "Accept": JSON_API,
        "User-Agent": "klaviyo-k8s-pipeline-preflight",
    }


async def get_accounts(client: httpx.AsyncClient, base_url: str, private_key: Secret,
                       revision: str) -> ApiResponse:
    """One ``GET {base_url}/api/accounts/``. Network errors propagate (as httpx errors)."""
    url = base_url.rstrip("/") + ACCOUNTS_PATH
    response = await client.get(url, headers=accounts_headers(private_key, revision))
    return to_api_response(response, [private_key])


def to_api_response(response: httpx.Response, secrets: list[Secret]) -> ApiResponse:
    content_type = response.headers.get("content-type", "")
    body, raw = parse_body(response.text)
    return ApiResponse(
        status=response.status_code,
        headers={k.lower(): v for k, v in response.headers.items()},
        body=body,
        raw_text=redact(raw[:RAW_TEXT_LIMIT], secrets) if body is None else "",
        content_type=content_type.split(";")[0].strip(),
        elapsed_seconds=response.elapsed.total_seconds() if response.is_closed else 0.0,
    )


def parse_body(text: str) -> tuple[Any, str]:
    """``(parsed JSON, "")`` or ``(None, text)`` when ``text`` is not JSON (HTML, empty...)."""
    try:
        return json.loads(text), ""
    except ValueError:
        return None, text
