"""The one adapter to Klaviyo: the official ``klaviyo-api`` SDK, instrumented.

Every call goes through ``KlaviyoAPI`` (retries on 429/503/504 honouring ``Retry-After``
are the SDK's). With a private key the SDK sends ``Klaviyo-API-Key``; in OAuth mode it is built
with ``access_token=`` (the SDK then sends ``Authorization: Bearer``, reading
``configuration.access_token`` on every request), the token comes from a :class:`TokenSource`
before each call, and a 401 gets one refresh and one retry. Each HTTP attempt, retried or not, is recorded in the metrics by wrapping
the SDK's own ``api_client.call_api`` (observation only; the request is the SDK's).
Sandbox fault headers go in ``api_client.default_headers`` (see ``faults.py``).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from klaviyo_api import KlaviyoAPI
from openapi_client.api_arg_options import USE_DICTIONARY_FOR_RESPONSE_DATA
from openapi_client.exceptions import ApiException, UnauthorizedException

from klaviyo_sync import faults
from klaviyo_sync.config import AppConfig
from klaviyo_sync.metrics import NETWORK_ERROR, Metrics, endpoint_label
from klaviyo_sync.tokens import InstallationEnded, TokenSource, TokenTrouble

T = TypeVar("T")


@dataclass
class KlaviyoClient:
    sdk: KlaviyoAPI
    timeout_seconds: float
    tokens: TokenSource | None = None    # OAuth mode: where the bearer token comes from

    def __post_init__(self) -> None:
        self._accounts = self.sdk.Accounts      # each property access builds a new API object
        self._profiles = self.sdk.Profiles
        self._events = self.sdk.Events

    def __repr__(self) -> str:                   # KlaviyoAPI's dataclass repr shows the key
        return f"KlaviyoClient(host={self.sdk.configuration.host!r})"

    def account_id(self) -> str:
        """GET /api/accounts (XS tier: 1/s, 15/min per account) -> the key's account id."""
        body = self._call(lambda: self._accounts.get_accounts(_request_timeout=self.timeout_seconds))
        return str(body["data"][0]["id"])

    def upsert_profile(self, profile: dict[str, Any]) -> None:
        """POST /api/profile-import (create or update; 201/200)."""
        self._call(lambda: self._profiles.create_or_update_profile(profile, _request_timeout=self.timeout_seconds))

    def send_event(self, event: dict[str, Any]) -> None:
        """POST /api/events (202, queued)."""
        self._call(lambda: self._events.create_event(event, _request_timeout=self.timeout_seconds))

    def _call(self, request: Callable[[], T]) -> T:
        if self.tokens is None:
            return request()
        self.sdk.configuration.access_token = self.tokens.token()
        try:
            return request()
        except UnauthorizedException:   # expired or revoked at Klaviyo's side: refresh once, retry once
            self.sdk.configuration.access_token = self.tokens.refreshed()
            return request()


def build_client(config: AppConfig, fault: faults.Fault, metrics: Metrics,
                 tokens: TokenSource | None = None) -> KlaviyoClient:
    """The private-key client, or with ``tokens`` an installed account's OAuth client."""
    if tokens is None:
        assert config.private_key is not None
        sdk = KlaviyoAPI(faults.api_key(fault, config.private_key.reveal()), test_host=config.klaviyo_base_url,
                         options={USE_DICTIONARY_FOR_RESPONSE_DATA: True})
    else:
        sdk = KlaviyoAPI(None, access_token="", test_host=config.klaviyo_base_url,
                         options={USE_DICTIONARY_FOR_RESPONSE_DATA: True})
    if config.klaviyo_revision:
        sdk.api_client.default_headers["revision"] = config.klaviyo_revision
    sdk.api_client.default_headers.update(faults.request_headers(fault))
    instrument(sdk.api_client, metrics)
    return KlaviyoClient(sdk, float(config.request_timeout_seconds), tokens)


def instrument(api_client: Any, metrics: Metrics,
               clock: Callable[[], float] = time.monotonic) -> None:
    """Record status and latency of every request the SDK's ``api_client`` makes."""
    call_api = api_client.call_api

    def observed_call_api(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        endpoint, start = endpoint_label(url), clock()
        try:
            response = call_api(method, url, *args, **kwargs)
        except ApiException as exc:
            metrics.observe_response(endpoint, str(exc.status) if exc.status else NETWORK_ERROR,
                                     clock() - start)
            raise
        except Exception:
            metrics.observe_response(endpoint, NETWORK_ERROR, clock() - start)
            raise
        metrics.observe_response(endpoint, str(response.status), clock() - start)
        return response

    api_client.call_api = observed_call_api


def describe_error(exc: BaseException) -> tuple[int | None, str]:
    """(HTTP status or None, a one-line reason) from an SDK exception; no secrets inside."""
    if isinstance(exc, ApiException) and exc.status:
        return exc.status, f"{exc.status}: {_error_detail(exc)}"
    if isinstance(exc, (TokenTrouble, InstallationEnded)):
        return None, f"OAuth token trouble: {exc}"
    return None, f"network error: {type(exc).__name__}"


def _error_detail(exc: ApiException) -> str:
    try:
        errors = json.loads(exc.body or "{}").get("errors") or [{}]
        return str(errors[0].get("detail") or errors[0].get("title") or exc.reason or "error")
    except (ValueError, AttributeError):
        return str(exc.reason or "error")
