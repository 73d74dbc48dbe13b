"""pipeline.launchdarkly.LaunchDarklyApi on the wire (a local HTTP server answering as told) and
against the stand-in."""
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator

import pytest

from pipeline.launchdarkly import API_VERSION, SEMANTIC_PATCH, LaunchDarklyApi, LaunchDarklyError
from pipeline.secrets import Secret
from tests.launchdarkly.conftest import FLAG, PROJECT, ValueChanges, user

TOKEN = Secret("LAUNCHDARKLY_API_TOKEN", "api-0123456789abcdef")

# (method, path, headers, body) -> (status, headers, body)
Answer = Callable[[str, str, dict, bytes], tuple[int, dict, bytes]]


@pytest.fixture
def answering() -> Iterator[Callable[[Answer], LaunchDarklyApi]]:
    """``answering(handler)``: a LaunchDarklyApi pointed at a loopback server that answers every
    request with ``handler(method, path, headers, body)``."""
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Answer) -> LaunchDarklyApi:
        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, payload = answer(self.command, self.path, dict(self.headers), body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PATCH = do_POST = _any

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return LaunchDarklyApi(f"http://127.0.0.1:{server.server_address[1]}", TOKEN)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def json_answer(status: int, document: object, **headers: str) -> tuple[int, dict, bytes]:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(document).encode()


def test_semantic_patch_request_shape(answering):
    seen = {}

    def handler(method, path, headers, body):
        seen.update(method=method, path=path, headers={k.lower(): v for k, v in headers.items()}, body=body)
        return json_answer(200, {"key": FLAG})

    with answering(handler) as api:
        api.turn_flag(PROJECT, FLAG, "production", False, "why")
    assert seen["method"] == "PATCH"
    assert seen["path"] == f"/api/v2/flags/{PROJECT}/{FLAG}"
    assert seen["headers"]["authorization"] == TOKEN.reveal()  # raw, no Bearer
    assert seen["headers"]["ld-api-version"] == API_VERSION
    assert seen["headers"]["content-type"] == SEMANTIC_PATCH
    assert b'"instructions":[{"kind":"turnFlagOff"}]' in seen["body"].replace(b" ", b"")


def test_get_sends_the_environment_as_a_query(answering):
    seen = []
    with answering(lambda method, path, headers, body: seen.append(path) or json_answer(200, {})) as api:
        api.get_flag(PROJECT, FLAG, "prod uction")
    assert seen == [f"/api/v2/flags/{PROJECT}/{FLAG}?env=prod+uction"]


def test_errors_carry_code_and_retry_after_and_never_the_token(answering):
    def handler(method, path, headers, body):
        return json_answer(429, {"code": "rate_limited", "message": f"slow down {TOKEN.reveal()}", "id": "x"},
                           **{"Retry-After": "7"})

    with answering(handler) as api, pytest.raises(LaunchDarklyError) as caught:
        api.get_flag(PROJECT, FLAG, "production")
    error = caught.value
    assert (error.status, error.code, error.retry_after_seconds) == (429, "rate_limited", 7)
    assert TOKEN.reveal() not in str(error) and "***" in error.message


def test_non_json_error_body_and_unreachable_host(answering):
    with answering(lambda *request: (502, {"Content-Type": "text/html"}, b"<html>bad gateway</html>")) as api:
        with pytest.raises(LaunchDarklyError) as caught:
            api.get_flag(PROJECT, FLAG)
    assert caught.value.status == 502 and caught.value.code == "error"

    with socket.socket() as closed:      # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with LaunchDarklyApi(f"http://127.0.0.1:{port}", TOKEN) as api, pytest.raises(LaunchDarklyError) as caught:
        api.get_flag(PROJECT, FLAG)
    assert caught.value.status == 0 and "refused" in caught.value.message.lower()
    assert TOKEN.reveal() not in str(caught.value)


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
