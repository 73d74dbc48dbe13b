"""Whose answer is it: the API server's pod proxy (transient, retried) or the pod's (pure)."""
from __future__ import annotations

import json

import pytest

from pipeline.verify.transient import describe, from_proxy, is_transient

STATUS = json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                     "message": "error trying to reach service: dial tcp 10.0.0.7:8080: connect: connection refused",
                     "reason": "ServiceUnavailable", "code": 503})
APP_DOWN = json.dumps({"status": "down", "services": {"klaviyo": {"error": "401: bad key"}}})


@pytest.mark.parametrize("status,body,transient,proxy", [
    (0, "", True, True),                                  # no answer: connection error or timeout
    (503, STATUS, True, True),                            # the API server could not reach the pod
    (502, "<html>Bad Gateway</html>", True, True),        # a load balancer in front of the API server
    (504, "upstream request timeout", True, True),
    (503, "", True, True),
    (429, json.dumps({"kind": "Status", "code": 429, "reason": "TooManyRequests"}), True, True),
    (503, APP_DOWN, False, False),                        # the app's own answer: a verdict, not a hiccup
    (429, APP_DOWN, False, False),
    (500, "Internal Server Error", False, False),         # the app crashed on this request: not retried
    (404, STATUS, False, True),                           # the API server: no such pod
    (200, "{}", False, False),
])
def test_transient_and_proxy_answers(status, body, transient, proxy):
    assert is_transient(status, body) is transient
    assert from_proxy(status, body) is proxy


def test_describe_names_the_api_servers_reason():
    assert describe(503, STATUS) == ("HTTP 503 ServiceUnavailable: error trying to reach service: dial tcp "
                                     "10.0.0.7:8080: connect: connection refused")
    assert describe(0, "", "ReadTimeoutError: timed out") == "no answer (ReadTimeoutError: timed out)"
    assert describe(502, "<html>\n Bad Gateway </html>") == "HTTP 502: <html> Bad Gateway </html>"
