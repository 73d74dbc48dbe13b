"""Fixtures: one sandbox (Klaviyo API + status page) per module, reset between tests."""
from __future__ import annotations

import httpx
import pytest

from pipeline.sandbox.harness import Sandbox


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(["klaviyo", "status"]) as sb:
        yield sb


@pytest.fixture
def klaviyo(sandbox):
    """A clean Klaviyo stand-in: scenario, rate-limit counters, request log and data reset."""
    url = sandbox.urls["klaviyo"]
    httpx.delete(url + "/_sandbox/scenario").raise_for_status()
    httpx.delete(url + "/_sandbox/requests").raise_for_status()
    httpx.delete(url + "/_sandbox/data").raise_for_status()
    return url


@pytest.fixture
def status_page(sandbox):
    url = sandbox.urls["status"]
    httpx.delete(url + "/_sandbox/scenario").raise_for_status()
    return url


@pytest.fixture
def key(sandbox) -> str:
    return sandbox.credentials.klaviyo_private_key


@pytest.fixture
def headers(key) -> dict[str, str]:
    return {"Authorization": f"Klaviyo-API-Key {key}", "revision": "2026-10-15",
            "Accept": "application/vnd.api+json"}



class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(sandbox, klaviyo):
    """Freeze the Klaviyo stand-in's clock (rate-limit windows, 'today'); restored afterwards."""
    state = sandbox.apps["klaviyo"]["state"]
    fake, real = FakeClock(1_795_000_050.0), state.clock  # 2026-11-18, 30 s into a minute
    sandbox.call(lambda: setattr(state, "clock", fake))
    yield fake
    sandbox.call(lambda: setattr(state, "clock", real))
