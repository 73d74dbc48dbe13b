"""Thin adapter for the LaunchDarkly REST API (v2): read a flag, patch it, approval requests.

``Authorization`` carries the raw access token (no "Bearer"); every request sends
``LD-API-Version``. A refused request raises :class:`LaunchDarklyError` with the status,
LaunchDarkly's error ``code`` and message (secrets redacted) and, for 429, how long the
server asked us to wait. Decisions about retrying live with the caller
(``pipeline.rollback.flag_kill_switch``); this module only speaks HTTP.

It speaks it with urllib3 rather than httpx: the kill switch is the on-call's fastest lever,
and urllib3 (which the LaunchDarkly SDK loads anyway) starts in about a third of the time
httpx and its client take (docs/benchmarks.md). urllib3 retries nothing here (``retries=False``).
"""
from __future__ import annotations

import json as _json
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Mapping
from urllib.parse import urlencode

import urllib3

from pipeline.secrets import Secret, redact

API_VERSION = "20240415"
SEMANTIC_PATCH = "application/json; domain-model=launchdarkly.semanticpatch"
USER_AGENT = "klaviyo-pipeline"


class LaunchDarklyError(Exception):
    """A request LaunchDarkly refused (``status`` >= 400) or that got no answer (``status`` 0)."""

    def __init__(self, status: int, code: str, message: str, retry_after_seconds: float | None = None,
                 request_id: str = "") -> None:
        super().__init__(f"LaunchDarkly API {status or 'unreachable'} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after_seconds = retry_after_seconds
        self.request_id = request_id


@dataclass(frozen=True)
class FlagState:
    """One flag in one environment, as the REST API reports it."""
    project: str
    key: str
    environment: str
    on: bool
    version: int                  # the environment's version (what SDKs see)
    flag_version: int             # the flag's _version (any change anywhere)
    off_variation: int | None
    off_value: Any
    last_modified: int | None     # epoch ms

    def describe(self) -> str:
        return (f"flag {self.key} is {'ON' if self.on else 'OFF'} in {self.project}/{self.environment} "
                f"(version {self.version})")


def flag_state(flag: Mapping[str, Any], project: str, environment: str) -> FlagState:
    """Pick one environment out of a ``GET /api/v2/flags/{proj}/{key}`` body."""
    envs = flag.get("environments") or {}
    if environment not in envs:
        known = ", ".join(sorted(envs)) or "none"
        raise LaunchDarklyError(0, "unexpected_response", f"flag {flag.get('key')!r} has no environment "
                                f"{environment!r} (returned: {known})")
    env = envs[environment]
    variations = flag.get("variations") or []
    off = env.get("offVariation")
    off_value = variations[off].get("value") if isinstance(off, int) and 0 <= off < len(variations) else None
    return FlagState(project=project, key=str(flag.get("key")), environment=environment, on=bool(env.get("on")),
                     version=int(env.get("version", 0)), flag_version=int(flag.get("_version", 0)),
                     off_variation=off, off_value=off_value, last_modified=env.get("lastModified"))


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait before retrying a 429: the longer of ``Retry-After`` and ``X-Ratelimit-Reset``.

    ``Retry-After`` is seconds (or an HTTP date); ``X-Ratelimit-Reset`` is epoch milliseconds.
    ``now`` is epoch seconds. None when neither header is usable.
    """
    waits = []
    value = headers.get("Retry-After")
    if value:
        try:
            waits.append(float(value))
        except ValueError:
            try:
                waits.append(parsedate_to_datetime(value).timestamp() - now)
            except (TypeError, ValueError):
                pass
    reset = headers.get("X-Ratelimit-Reset")
    if reset:
        try:
            waits.append(int(reset) / 1000 - now)
        except ValueError:
            pass
    return max(0.0, max(waits)) if waits else None


class LaunchDarklyApi:
    """``with LaunchDarklyApi(url, token) as api: api.get_flag(...)``."""

    def __init__(self, base_url: str, token: Secret, *, api_version: str = API_VERSION,
                 timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._headers = {"LD-API-Version": api_version, "User-Agent": USER_AGENT}
        self._http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=timeout),
                                         ca_certs=_ca_bundle())

    def __enter__(self) -> "LaunchDarklyApi":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.clear()

    # ------------------------------------------------------------ flags

    def get_flag(self, project: str, key: str, environment: str | None = None) -> dict[str, Any]:
        params = {"env": environment} if environment else None
        return self._request("GET", f"/api/v2/flags/{project}/{key}", params=params)

    def semantic_patch(self, project: str, key: str, environment: str, instructions: list[dict[str, Any]],
                       comment: str = "") -> dict[str, Any]:
        body = {"environmentKey": environment, "comment": comment, "instructions": instructions}
        return self._request("PATCH", f"/api/v2/flags/{project}/{key}", json=body,
                             headers={"Content-Type": SEMANTIC_PATCH})

    def turn_flag(self, project: str, key: str, environment: str, on: bool, comment: str = "") -> dict[str, Any]:
        """turnFlagOn / turnFlagOff; idempotent (a flag already there is returned unchanged)."""
        return self.semantic_patch(project, key, environment, [instruction(on)], comment)

    def json_patch(self, project: str, key: str, operations: list[dict[str, Any]],
                   comment: str | None = None) -> dict[str, Any]:
        body: Any = operations if comment is None else {"comment": comment, "patch": operations}
        return self._request("PATCH", f"/api/v2/flags/{project}/{key}", json=body)

    # ------------------------------------------------------------ approvals

    def create_approval_request(self, project: str, key: str, environment: str,
                                instructions: list[dict[str, Any]], description: str,
                                comment: str = "") -> dict[str, Any]:
        body = {"description": description, "instructions": instructions, "comment": comment}
        return self._request("POST", _approvals(project, key, environment), json=body)

    def get_approval_request(self, project: str, key: str, environment: str, request_id: str) -> dict[str, Any]:
        return self._request("GET", f"{_approvals(project, key, environment)}/{request_id}")

    def review_approval_request(self, project: str, key: str, environment: str, request_id: str,
                                kind: str = "approve", comment: str = "") -> dict[str, Any]:
        return self._request("POST", f"{_approvals(project, key, environment)}/{request_id}/reviews",
                             json={"kind": kind, "comment": comment})

    def apply_approval_request(self, project: str, key: str, environment: str, request_id: str,
                               comment: str = "") -> dict[str, Any]:
        return self._request("POST", f"{_approvals(project, key, environment)}/{request_id}/apply",
                             json={"comment": comment})

    # ------------------------------------------------------------ wire

    def _request(self, method: str, path: str, params: Mapping[str, str] | None = None, json: Any = None,
                 headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        url = f"{self.base_url}{path}" + (f"?{urlencode(params)}" if params else "")
        sent = {**self._headers, "Authorization": self._token.reveal(), **(headers or {})}
        body = None
        if json is not None:
            body = _json.dumps(json).encode()
            sent.setdefault("Content-Type", "application/json")
        try:
            response = self._http.request(method, url, body=body, headers=sent)
        except urllib3.exceptions.HTTPError as exc:
            raise LaunchDarklyError(0, "unreachable", self._redact(
                f"{method} {self.base_url}{path} failed: {type(exc).__name__}: {exc}")) from None
        if response.status >= 400:
            raise self._error(response)
        return _json.loads(response.data) if response.data else {}

    def _error(self, response: urllib3.BaseHTTPResponse) -> LaunchDarklyError:
        try:
            body = _json.loads(response.data)
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        message = str(body.get("message") or response.reason or "no message")
        wait = retry_after(response.headers, time.time()) if response.status == 429 else None
        return LaunchDarklyError(response.status, str(body.get("code") or "error"), self._redact(message),
                                 wait, str(body.get("id") or ""))

    def _redact(self, text: str) -> str:
        return redact(text, [self._token])


def instruction(on: bool) -> dict[str, str]:
    return {"kind": "turnFlagOn" if on else "turnFlagOff"}


def _approvals(project: str, key: str, environment: str) -> str:
    return f"/api/v2/projects/{project}/flags/{key}/environments/{environment}/approval-requests"


def _ca_bundle() -> str | None:
    """The CA bundle httpx (the rest of the pipeline) trusts, so both clients trust the same
    servers; urllib3 reads it only when the first HTTPS connection opens. None: the system's."""
    try:
        import certifi
    except ImportError:
        return None
    return str(certifi.where())
