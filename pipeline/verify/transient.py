"""Whose answer is it: the pod's, or the API server's pod proxy's? (pure)

A request through ``/api/v1/namespaces/{ns}/pods/{pod}:{port}/proxy/{path}`` can be answered
by either side:

* **the API server / its proxy**, when it cannot reach the pod: a Kubernetes ``Status``
  object (``{"kind": "Status", "status": "Failure", "reason": "ServiceUnavailable",
  "message": "error trying to reach service: dial tcp ...: connect: connection refused",
  "code": 503}``), which both the stand-in and a real API server send; or a plain-text or
  HTML 502/503/504 from a load balancer in front of the API server; or no answer at all
  (connection error, timeout: status 0);
* **the pod itself**: whatever its handler returns, e.g. the sample app's
  ``503 {"status": "down", ...}`` from ``/health``.

Transient (worth a bounded retry before a pod counts as unhealthy): no answer, 429 from the
API server, and 502/503/504 unless the body is the app's own JSON (a JSON object that is not a
``Status``). A pod's own 503 "down" is a verdict, not a hiccup: it is never retried.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

GATEWAY_STATUSES = frozenset({502, 503, 504})
THROTTLED = 429


def api_status(body: str) -> Mapping[str, Any] | None:
    """The Kubernetes ``Status`` object in ``body``, if that is what it is."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if isinstance(parsed, dict) and parsed.get("kind") == "Status":
        return parsed
    return None


def app_json(body: str) -> bool:
    """True when ``body`` is a JSON object that is not a Kubernetes ``Status``: the app's answer."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get("kind") != "Status"


def is_transient(status: int, body: str) -> bool:
    """Should this answer through the pod proxy be retried? ``status`` 0 means no answer."""
    if status == 0:
        return True
    if status == THROTTLED:
        return api_status(body) is not None
    if status in GATEWAY_STATUSES:
        return not app_json(body)
    return False


def from_proxy(status: int, body: str) -> bool:
    """True when the answer came from the API server or a gateway, not from the pod."""
    if status == 0:
        return True
    if api_status(body) is not None:
        return True
    return status in GATEWAY_STATUSES and not app_json(body)


def describe(status: int, body: str, error: str = "") -> str:
    """One line for a detail: ``HTTP 503 ServiceUnavailable: error trying to reach service: ...``."""
    if status == 0:
        return f"no answer ({error or 'connection failed'})"
    found = api_status(body)
    if found is not None:
        reason = f" {found['reason']}" if found.get("reason") else ""
        message = f": {found['message']}" if found.get("message") else ""
        return f"HTTP {status}{reason}{message}"
    snippet = " ".join(body.split())[:120]
    return f"HTTP {status}" + (f": {snippet}" if snippet else "")
