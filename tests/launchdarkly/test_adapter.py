"""pipeline.launchdarkly.LaunchDarklyApi on the wire (httpx MockTransport) and against the stand-in."""
import threading
import time

import httpx
import pytest

from pipeline.launchdarkly import API_VERSION, SEMANTIC_PATCH, LaunchDarklyApi, LaunchDarklyError
from pipeline.secrets import Secret
from tests.launchdarkly.conftest import FLAG, PROJECT, ValueChanges, user

TOKEN = Secret("LAUNCHDARKLY_API_TOKEN", "api-0123456789abcdef")


def api_with(handler) -> LaunchDarklyApi:
    return LaunchDarklyApi("https://ld.example", TOKEN, transport=httpx.MockTransport(handler))


def test_semantic_patch_request_shape():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(method=request.method, url=str(request.url), headers=dict(request.headers),
                    body=request.read())
        return httpx.Response(200, json={"key": FLAG})

    with api_with(handler) as api:
        api.turn_flag(PROJECT, FLAG, "production", False, "why")
    assert seen["method"] == "PATCH"
    assert seen["url"] == f"https://ld.example/api/v2/flags/{PROJECT}/{FLAG}"
    assert seen["headers"]["authorization"] == TOKEN.reveal()  # raw, no Bearer
    assert seen["headers"]["ld-api-version"] == API_VERSION
    assert seen["headers"]["content-type"] == SEMANTIC_PATCH
    assert b'"instructions":[{"kind":"turnFlagOff"}]' in seen["body"].replace(b" ", b"")


def test_errors_carry_code_and_retry_after_and_never_the_token():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "7"},
                              json={"code": "rate_limited", "message": f"slow down {TOKEN.reveal()}", "id": "x"})

    with api_with(handler) as api, pytest.raises(LaunchDarklyError) as caught:
        api.get_flag(PROJECT, FLAG, "production")
    error = caught.value
    assert (error.status, error.code, error.retry_after_seconds) == (429, "rate_limited", 7)
    assert TOKEN.reveal() not in str(error) and "***" in error.message


def test_non_json_error_body_and_unreachable_host():
    with api_with(lambda r: httpx.Response(502, text="<html>bad gateway</html>")) as api:
        with pytest.raises(LaunchDarklyError) as caught:
            api.get_flag(PROJECT, FLAG)
    assert caught.value.status == 502 and caught.value.code == "error"

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with api_with(refuse) as api, pytest.raises(LaunchDarklyError) as caught:
        api.get_flag(PROJECT, FLAG)
    assert caught.value.status == 0 and "connection refused" in caught.value.message


def test_json_patch_against_the_stand_in(ld):
    with LaunchDarklyApi(ld.url, Secret("t", ld.token)) as api:
        flag = api.json_patch(PROJECT, FLAG, [{"op": "test", "path": "/version", "value": 1},
                                              {"op": "replace", "path": "/environments/local/on", "value": False}],
                              comment="json patch")
        assert flag["environments"]["local"]["on"] is False
        with pytest.raises(LaunchDarklyError) as caught:
            api.json_patch(PROJECT, FLAG, [{"op": "test", "path": "/version", "value": 1}])
        assert caught.value.status == 409


def test_sdk_survives_heartbeats_and_still_gets_patches(ld, app_client, value_changes):
    ld.sb.call(lambda: setattr(ld.store, "heartbeat_seconds", 0.02))
    client = ld.sdk(send_events=False)  # a new stream picks up the short heartbeat
    try:
        changes = ValueChanges()
        client.flag_tracker.add_flag_value_change_listener(FLAG, user(), changes)
        deadline = time.monotonic() + 5
        while ld.store.heartbeats_sent < 5 and time.monotonic() < deadline:
            threading.Event().wait(0.01)
        assert ld.store.heartbeats_sent >= 5
        ld.turn(False)
        assert changes.wait(1)[0].new_value is False
        assert value_changes.wait(1)[0].new_value is False
    finally:
        client.close()
