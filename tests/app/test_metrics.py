"""Metrics contract names and the SDK instrumentation (every attempt recorded)."""
from __future__ import annotations

import pytest
import urllib3

from app.support import APP_SOURCE, metric  # noqa: F401
from klaviyo_sync.klaviyo_client import describe_error, instrument
from klaviyo_sync.metrics import LATENCY_BUCKETS, Metrics, endpoint_label
from openapi_client.exceptions import ApiException, UnauthorizedException


def test_endpoint_labels():
    assert endpoint_label("http://127.0.0.1:9/api/profile-import") == "profile-import"
    assert endpoint_label("https://a.klaviyo.com/api/accounts/?fields[account]=x") == "accounts"
    assert endpoint_label("https://a.klaviyo.com/api/events") == "events"


def test_contract_names_are_exposed():
    text = Metrics().render()[0].decode()
    for name in ("klaviyo_api_responses_total", "klaviyo_api_request_duration_seconds",
                 "klaviyo_webhook_requests_total", "klaviyo_webhook_signature_failures_total",
                 "klaviyo_kill_switch_enabled", "app_info"):
        assert f"# TYPE {name.removesuffix('_total')}" in text, name
    assert 5.0 in LATENCY_BUCKETS and 7.5 in LATENCY_BUCKETS


class Resp:
    def __init__(self, status):
        self.status = status


class FakeApiClient:
    def __init__(self, outcomes):
        self.outcomes = list(outcomes)

    def call_api(self, method, url, *args, **kwargs):
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return Resp(outcome)


def test_instrument_records_each_attempt_status_and_latency():
    metrics, ticks = Metrics(), iter([0.0, 0.5, 1.0, 7.0, 8.0, 8.1, 9.0, 9.2])
    client = FakeApiClient([429, 202, urllib3.exceptions.MaxRetryError(None, "u"), ApiException(status=0)])
    instrument(client, metrics, clock=lambda: next(ticks))
    assert client.call_api("POST", "http://h/api/events").status == 429
    client.call_api("POST", "http://h/api/events")
    for _ in range(2):
        with pytest.raises(Exception):
            client.call_api("GET", "http://h/api/accounts")
    text = metrics.render()[0].decode()
    assert metric(text, "klaviyo_api_responses_total", endpoint="events", status="429") == 1
    assert metric(text, "klaviyo_api_responses_total", endpoint="events", status="202") == 1
    assert metric(text, "klaviyo_api_responses_total", endpoint="accounts", status="error") == 2
    assert metric(text, "klaviyo_api_request_duration_seconds_bucket", endpoint="events", le="5.0") == 1
    assert metric(text, "klaviyo_api_request_duration_seconds_count", endpoint="events") == 2


def test_describe_error_uses_klaviyo_error_detail():
    exc = UnauthorizedException(status=401, reason="Unauthorized",
                                body='{"errors":[{"detail":"Incorrect authentication credentials."}]}')
    assert describe_error(exc) == (401, "401: Incorrect authentication credentials.")
    assert describe_error(UnauthorizedException(status=401, reason="Unauthorized", body="<html>")) == \
        (401, "401: Unauthorized")
    assert describe_error(urllib3.exceptions.MaxRetryError(None, "u"))[0] is None
