"""Helpers for driving the stand-ins' admin routes from tests."""
from __future__ import annotations

import httpx


def scenario(url: str, patch: dict) -> dict:
    response = httpx.post(url + "/_sandbox/scenario", json=patch)
    assert response.status_code == 200, response.text
    return response.json()


def requests_seen(url: str) -> list[dict]:
    return httpx.get(url + "/_sandbox/requests").json()["requests"]
