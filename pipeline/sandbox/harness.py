"""Runs stand-ins: each an aiohttp application on its own free loopback port.

Every stand-in module exposes ``STAND_IN = StandIn(name, make_app, env)``. The harness
binds all sockets first (so every stand-in knows every other's URL, as a pod knows the
cluster's DNS), then builds the apps with a :class:`SandboxContext` and serves them on
one asyncio loop in a background thread. Tests use :class:`Sandbox` directly; ``invoke
sandbox.up`` runs ``python -m pipeline.sandbox serve`` detached (see ``supervisor.py``).

Run-time scenarios are set through each stand-in's ``/_sandbox/...`` admin routes, never
through the real API's routes.
"""
from __future__ import annotations

import asyncio
import importlib
import json
import secrets
import socket
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from aiohttp import web
from aiohttp.typedefs import Handler

# name -> module exposing STAND_IN; a module that does not exist yet is skipped.
REGISTRY: dict[str, str] = {
    "kube": "pipeline.sandbox.kube.server",
    "klaviyo": "pipeline.sandbox.klaviyo",
    "status": "pipeline.sandbox.statuspage",
    "launchdarkly": "pipeline.sandbox.launchdarkly",
}
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Credentials:
    """Made up per sandbox, written to ``.sandbox/env``; the stand-ins accept exactly these."""
    klaviyo_private_key: str
    klaviyo_public_key: str
    klaviyo_webhook_secret: str
    launchdarkly_api_token: str
    launchdarkly_sdk_key: str

    @classmethod
    def generate(cls) -> "Credentials":
        return cls(
            klaviyo_private_key="pk_" + secrets.token_hex(17),
            klaviyo_public_key="Sbx" + secrets.token_hex(2)[:3].upper(),
            klaviyo_webhook_secret="whsec_" + secrets.token_hex(16),
            launchdarkly_api_token="api-" + secrets.token_hex(16),
            launchdarkly_sdk_key="sdk-" + secrets.token_hex(16),
        )

    @classmethod
    def load_or_generate(cls, state_dir: Path | None) -> "Credentials":
        path = state_dir / "credentials.json" if state_dir else None
        if path and path.exists():
            return cls(**json.loads(path.read_text()))
        creds = cls.generate()
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(asdict(creds)))
            path.chmod(0o600)
        return creds

    def env(self) -> dict[str, str]:
        return {
            "KLAVIYO_PRIVATE_KEY": self.klaviyo_private_key,
            "KLAVIYO_PUBLIC_KEY": self.klaviyo_public_key,
            "KLAVIYO_WEBHOOK_SIGNING_SECRET": self.klaviyo_webhook_secret,
            "LAUNCHDARKLY_API_TOKEN": self.launchdarkly_api_token,
            "LAUNCHDARKLY_SDK_KEY": self.launchdarkly_sdk_key,
        }


@dataclass
class SandboxContext:
    urls: dict[str, str]                 # every running stand-in's base URL, by name
    credentials: Credentials
    state_dir: Path | None = None        # persistence; None keeps state in memory only
    repo_root: Path = REPO_ROOT
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class StandIn:
    name: str
    make_app: Callable[[SandboxContext], web.Application]
    env: Callable[[str, SandboxContext], dict[str, str]]  # (its URL, context) -> variables to publish


def load_stand_ins(names: list[str] | None = None) -> list[StandIn]:
    found = []
    for name, module in REGISTRY.items():
        if names is not None and name not in names:
            continue
        try:
            found.append(importlib.import_module(module).STAND_IN)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return found


class Sandbox:
    """Serve stand-ins in a background thread. ``with Sandbox(["klaviyo"]) as sb: sb.urls["klaviyo"]``."""

    def __init__(self, names: list[str] | None = None, state_dir: Path | None = None,
                 credentials: Credentials | None = None, host: str = "127.0.0.1",
                 ports: dict[str, int] | None = None) -> None:
        self.stand_ins = load_stand_ins(names)
        self.state_dir = state_dir
        self.credentials = credentials or Credentials.load_or_generate(state_dir)
        self.host = host
        self.ports = ports or {}
        self.urls: dict[str, str] = {}
        self.context: SandboxContext | None = None
        self.apps: dict[str, web.Application] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sandbox", daemon=True)
        self._runners: list[web.AppRunner] = []

    def start(self) -> "Sandbox":
        sockets = {s.name: _bind(self.host, self.ports.get(s.name, 0)) for s in self.stand_ins}
        self.urls = {name: f"http://{self.host}:{sock.getsockname()[1]}" for name, sock in sockets.items()}
        self.context = SandboxContext(dict(self.urls), self.credentials, self.state_dir)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(sockets), self._loop).result(timeout=30)
        return self

    async def _serve(self, sockets: dict[str, socket.socket]) -> None:
        assert self.context is not None
        for stand_in in self.stand_ins:
            app = stand_in.make_app(self.context)
            app.router.add_get("/_sandbox/health", _health(stand_in.name))
            runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1)
            await runner.setup()
            await web.SockSite(runner, sockets[stand_in.name]).start()
            self.apps[stand_in.name] = app
            self._runners.append(runner)

    def env(self) -> dict[str, str]:
        """Every variable the stand-ins publish, plus the sandbox credentials."""
        assert self.context is not None
        values = dict(self.credentials.env())
        for stand_in in self.stand_ins:
            values.update(stand_in.env(self.urls[stand_in.name], self.context))
        return values

    def call(self, coro_fn: Callable[[], object], timeout: float = 30) -> object:
        """Run ``coro_fn()`` on the sandbox loop (for tests that poke a stand-in's state)."""
        async def run() -> object:
            result = coro_fn()
            return await result if asyncio.iscoroutine(result) else result
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        async def cleanup() -> None:
            for runner in reversed(self._runners):
                await runner.cleanup()
        asyncio.run_coroutine_threadsafe(cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _health(name: str) -> Handler:
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"stand_in": name, "ok": True})
    return health


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.setblocking(False)
    return sock
