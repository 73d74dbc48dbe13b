"""Fixtures: the LaunchDarkly stand-in in-process, the official SDK against it, config pointing at it."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Iterator

import httpx
import pytest
from ldclient import Config, Context, LDClient

from pipeline.config import EnvConfig, FlagSettings
from pipeline.sandbox.harness import Sandbox

PROJECT = "klaviyo-sync"
FLAG = "klaviyo-enabled"
FLAG_PATH = f"/api/v2/flags/{PROJECT}/{FLAG}"
SEMANTIC = "application/json; domain-model=launchdarkly.semanticpatch"
DEADLINE = 5.0


@dataclass
class Ld:
    sb: Sandbox

    @property
    def url(self) -> str:
        return self.sb.urls["launchdarkly"]

    @property
    def token(self) -> str:
        return self.sb.credentials.launchdarkly_api_token

    @property
    def sdk_key(self) -> str:
        return self.sb.credentials.launchdarkly_sdk_key

    @property
    def store(self) -> Any:
        return self.sb.apps["launchdarkly"]["state"]

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": self.token, "LD-API-Version": "20240415", **kwargs.pop("headers", {})}
        return httpx.request(method, self.url + path, headers=headers, **kwargs)

    def turn(self, on: bool, env: str = "local") -> httpx.Response:
        body = {"environmentKey": env, "comment": "test", "instructions": [{"kind": "turnFlagOn" if on else "turnFlagOff"}]}
        return self.api("PATCH", FLAG_PATH, json=body, headers={"Content-Type": SEMANTIC})

    def flag(self, env: str = "local") -> dict[str, Any]:
        response = self.api("GET", FLAG_PATH, params={"env": env})
        assert response.status_code == 200, response.text
        return response.json()

    def scenario(self, **switches: Any) -> dict[str, Any]:
        response = httpx.post(self.url + "/_sandbox/scenario", json=switches)
        assert response.status_code == 200, response.text
        return response.json()

    def requests(self) -> list[dict[str, Any]]:
        return httpx.get(self.url + "/_sandbox/requests").json()

    def config(self, **flags: Any) -> EnvConfig:
        values = {"api_url": self.url, "stream_url": self.url, "events_url": self.url, "project": PROJECT,
                  "environment": "local", "observe_timeout_seconds": 5.0, **flags}
        settings = FlagSettings(**values)
        return EnvConfig(name="local", flags=settings, variables=self.sb.env())

    def sdk(self, sdk_key: str | None = None, start_wait: float = DEADLINE, **config: Any) -> LDClient:
        cfg = Config(sdk_key or self.sdk_key, base_uri=self.url, stream_uri=self.url, events_uri=self.url, **config)
        return LDClient(config=cfg, start_wait=start_wait)


@pytest.fixture
def ld() -> Iterator[Ld]:
    with Sandbox(["launchdarkly"]) as sb:
        yield Ld(sb)


@pytest.fixture
def app_client(ld: Ld) -> Iterator[LDClient]:
    """The official SDK as the app runs it: streaming, events sent to the stand-in."""
    client = ld.sdk()
    assert client.is_initialized()
    yield client
    client.close()


class ValueChanges:
    """Collects FlagValueChange notifications; ``wait(n)`` blocks (condition, deadline) until n arrived."""

    def __init__(self) -> None:
        self.changes: list[Any] = []
        self._cond = threading.Condition()

    def __call__(self, change: Any) -> None:
        with self._cond:
            self.changes.append(change)
            self._cond.notify_all()

    def wait(self, count: int = 1, timeout: float = DEADLINE) -> list[Any]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.changes) >= count, timeout)
            return list(self.changes)


@pytest.fixture
def value_changes(app_client: LDClient) -> ValueChanges:
    collector = ValueChanges()
    app_client.flag_tracker.add_flag_value_change_listener(FLAG, Context.create("app-user"), collector)
    return collector


def user() -> Context:
    return Context.create("app-user")
