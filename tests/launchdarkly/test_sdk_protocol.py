"""The official launchdarkly-server-sdk against the stand-in: streaming, polling, events, auth."""
import json

import httpx
from ldclient import Context
from ldclient.config import Config
from ldclient.impl.datasource.feature_requester import FeatureRequesterImpl
from ldclient.interfaces import DataSourceState

from tests.launchdarkly.conftest import FLAG, FLAG_PATH, user


def test_sdk_initialises_and_evaluates_the_flag_on(ld, app_client):
    detail = app_client.variation_detail(FLAG, user(), None)
    assert detail.value is True
    assert detail.reason == {"kind": "FALLTHROUGH"}
    assert app_client.data_source_status_provider.status.state == DataSourceState.VALID


def test_rest_change_reaches_the_stream_as_a_patch_and_fires_listeners(ld, app_client, value_changes):
    assert ld.turn(False).status_code == 200
    change = value_changes.wait(1)[0]
    assert (change.key, change.old_value, change.new_value) == (FLAG, True, False)
    detail = app_client.variation_detail(FLAG, user(), None)
    assert (detail.value, detail.variation_index, detail.reason) == (False, 1, {"kind": "OFF"})
    assert ld.turn(True).status_code == 200
    assert value_changes.wait(2)[1].new_value is True
    assert app_client.variation_detail(FLAG, user(), None).reason == {"kind": "FALLTHROUGH"}


def test_deleting_a_flag_sends_delete_and_the_sdk_serves_the_default(ld, app_client):
    assert ld.api("DELETE", FLAG_PATH).status_code == 204
    changes = []
    import threading
    seen = threading.Event()
    app_client.flag_tracker.add_listener(lambda c: (changes.append(c.key), seen.set()))
    if app_client.variation_detail(FLAG, user(), "default").value != "default":
        assert seen.wait(5)
    detail = app_client.variation_detail(FLAG, user(), "default")
    assert detail.value == "default"
    assert detail.reason == {"kind": "ERROR", "errorKind": "FLAG_NOT_FOUND"}
    assert ld.api("GET", FLAG_PATH).status_code == 404


def test_reset_restores_definitions_with_higher_versions(ld, app_client, value_changes):
    ld.turn(False)
    value_changes.wait(1)
    assert httpx.post(ld.url + "/_sandbox/reset").status_code == 204
    assert value_changes.wait(2)[1].new_value is True
    assert ld.flag()["environments"]["local"]["version"] == 3


def test_stream_wire_format(ld):
    ld.sb.call(lambda: setattr(ld.store, "heartbeat_seconds", 0.05))
    headers = {"Authorization": ld.sdk_key, "Accept": "text/event-stream"}
    with httpx.stream("GET", ld.url + "/all", headers=headers, timeout=5) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert next(lines) == "event: put"
        put = json.loads(next(lines).removeprefix("data: "))
        assert put["path"] == "/" and put["data"]["segments"] == {}
        flag = put["data"]["flags"][FLAG]
        assert {k: flag[k] for k in ("key", "version", "on", "variations", "offVariation", "fallthrough")} == {
            "key": FLAG, "version": 1, "on": True, "variations": [True, False], "offVariation": 1,
            "fallthrough": {"variation": 0}}
        assert next(lines) == ""
        assert next(lines) == ":"  # heartbeat comment while idle


def test_wrong_sdk_key_is_refused(ld):
    for path in ("/all", "/sdk/latest-all"):
        response = httpx.get(ld.url + path, headers={"Authorization": "sdk-wrong"})
        assert response.status_code == 401
        assert set(response.json()) == {"code", "message", "id"}
    # the API token is not an SDK key either
    assert httpx.get(ld.url + "/sdk/latest-all", headers={"Authorization": ld.token}).status_code == 401


def test_sdk_with_wrong_key_does_not_initialise(ld):
    client = ld.sdk("sdk-wrong", start_wait=0.5, send_events=False)
    try:
        assert not client.is_initialized()
        assert client.variation(FLAG, user(), "default") == "default"
    finally:
        client.close()


def test_polling_mode_sdk_initialises(ld):
    client = ld.sdk(stream=False, send_events=False)
    try:
        assert client.is_initialized()
        assert client.variation(FLAG, user(), None) is True
    finally:
        client.close()


def test_sdk_feature_requester_gets_304_with_etag(ld):
    """The SDK's own polling requester: a second poll sends If-None-Match and the 304 reuses the cache."""
    config = Config(ld.sdk_key, base_uri=ld.url, stream=False, send_events=False)
    requester = FeatureRequesterImpl(config)
    first = requester.get_all_data()
    second = requester.get_all_data()
    assert second == first
    polls = [r for r in ld.requests() if r["path"] == "/sdk/latest-all"]
    assert [p["status"] for p in polls] == [200, 304]
    assert polls[1]["if_none_match"]
    ld.turn(False)
    requester.get_all_data()
    assert [p["status"] for p in ld.requests() if p["path"] == "/sdk/latest-all"][-1] == 200


def test_etag_changes_with_the_flags(ld):
    headers = {"Authorization": ld.sdk_key}
    first = httpx.get(ld.url + "/sdk/latest-all", headers=headers)
    assert set(first.json()) == {"flags", "segments"}
    etag = first.headers["ETag"]
    assert httpx.get(ld.url + "/sdk/latest-all", headers={**headers, "If-None-Match": etag}).status_code == 304
    ld.turn(False)
    after = httpx.get(ld.url + "/sdk/latest-all", headers={**headers, "If-None-Match": etag})
    assert after.status_code == 200 and after.headers["ETag"] != etag
    assert after.json()["flags"][FLAG]["on"] is False


def test_events_are_accepted(ld, app_client):
    app_client.variation(FLAG, user(), None)
    app_client.flush()
    response = httpx.post(ld.url + "/bulk", headers={"Authorization": ld.sdk_key}, json=[])
    assert response.status_code == 202
    assert httpx.post(ld.url + "/diagnostic", headers={"Authorization": "x"}, json={}).status_code == 401


def test_sdk_keys_select_environments(ld):
    environments = httpx.get(ld.url + "/_sandbox/environments").json()
    by_env = {e["environment"]: e["sdk_key"] for e in environments if e["project"] == "klaviyo-sync"}
    assert by_env["local"] == ld.sdk_key
    ld.turn(False, env="staging")
    staging = ld.sdk(by_env["staging"], send_events=False)
    local = ld.sdk(send_events=False)
    try:
        assert staging.variation_detail(FLAG, user(), None).reason == {"kind": "OFF"}
        assert local.variation(FLAG, user(), None) is True
    finally:
        staging.close()
        local.close()
