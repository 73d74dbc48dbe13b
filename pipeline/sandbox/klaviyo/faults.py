"""Sandbox-only per-request fault injection: the ``X-Sandbox-Fault`` request header.

Used by the sample app's deliberately bad releases. Values, comma-separated:
``server-error`` (500), ``server-error=<5xx>``, ``slow=<seconds>``. a.klaviyo.com has no such header.
"""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.sandbox.klaviyo.errors import ApiError, invalid

SERVER_ERRORS = (500, 502, 503, 504)


@dataclass(frozen=True)
class Fault:
    server_error: int | None = None
    slow_seconds: float = 0.0


def parse_fault(header: str | None) -> Fault:
    if not header or not header.strip():
        return Fault()
    server_error, slow = None, 0.0
    for part in (p.strip() for p in header.split(",") if p.strip()):
        name, _, value = part.partition("=")
        if name == "server-error":
            server_error = _status(value) if value else 500
        elif name == "slow":
            slow = _seconds(value)
        else:
            raise _bad(header)
    return Fault(server_error, slow)


def _status(value: str) -> int:
    if not value.isdigit() or int(value) not in SERVER_ERRORS:
        raise invalid(f"X-Sandbox-Fault server-error=<status> accepts {list(SERVER_ERRORS)}, got {value[:10]!r}",
                      parameter="X-Sandbox-Fault")
    return int(value)


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 120:
        raise invalid(f"X-Sandbox-Fault slow=<seconds> accepts 0 to 120, got {value[:10]!r}",
                      parameter="X-Sandbox-Fault")
    return seconds


def _bad(header: str) -> ApiError:
    return invalid(f"Unknown X-Sandbox-Fault {header[:40]!r}; accepted: server-error, server-error=<5xx>, "
                   "slow=<seconds> (comma-separated)", parameter="X-Sandbox-Fault")
