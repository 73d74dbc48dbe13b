"""Run the real pipeline and app against the stand-ins once, and keep what the stand-ins received.

Nothing here greps code for URLs: preflight, the app process (official Klaviyo and
LaunchDarkly SDKs) and the kill switch make their real calls, and the request logs of the
Klaviyo and LaunchDarkly stand-ins (``GET /_sandbox/requests``) say what arrived. The status
page stand-in keeps no log, so preflight reaches it through :class:`RecordingProxy`, a
pass-through that notes each request's method and path.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from pipeline.config import EnvConfig, load_config
from pipeline.preflight import PreflightReport, run_preflight
from pipeline.rollback.flag_kill_switch import FlagKillSwitch
from pipeline.rollback.result import Outcome, RollbackResult
from pipeline.sandbox.harness import Sandbox
from tests.waiting import wait_for

from .tables import REPO

APP_SOURCE = REPO / "examples" / "klaviyo-sync"

DEADLINE = 20.0




class RecordingProxy:
    """Forwards GETs to ``target`` and records ``(method, path)``; for a stand-in without a log."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.requests: list[dict[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                proxy.requests.append({"method": "GET", "path": self.path.split("?", 1)[0],
                                       "user_agent": self.headers.get("User-Agent", "")})
                upstream = httpx.get(proxy.target + self.path, headers={"Accept": self.headers.get("Accept", "*/*")},
                                     trust_env=False)
                self.send_response(upstream.status_code)
                self.send_header("Content-Type", upstream.headers.get("content-type", "application/json"))
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "RecordingProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AppProcess:
    """``python -m klaviyo_sync`` against the stand-ins, as the sandbox kubelet runs it."""
    sb: Sandbox
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "AppProcess":
        creds, ld = self.sb.credentials, self.sb.urls["launchdarkly"]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KLAVIYO_", "LAUNCHDARKLY_"))}
        env.update({"APP_VERSION": "1.0.0", "KLAVIYO_PRIVATE_KEY": creds.klaviyo_private_key,
                    "KLAVIYO_WEBHOOK_SIGNING_SECRET": creds.klaviyo_webhook_secret,
                    "KLAVIYO_BASE_URL": self.sb.urls["klaviyo"], "SYNC_INTERVAL_SECONDS": "0.2",
                    "HEALTH_CACHE_SECONDS": "0",   # so that GET /health makes the accounts probe
                    "LAUNCHDARKLY_SDK_KEY": creds.launchdarkly_sdk_key, "LAUNCHDARKLY_BASE_URI": ld,
                    "LAUNCHDARKLY_STREAM_URI": ld, "LAUNCHDARKLY_EVENTS_URI": ld,
                    "HOST": "127.0.0.1", "PORT": str(self.port), "PYTHONPATH": str(APP_SOURCE),
                    "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"})
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "klaviyo_sync"], env=env, cwd=str(REPO),
                                     stdout=self._log, stderr=subprocess.STDOUT)
        return self

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10, trust_env=False)

    def try_get(self, path: str) -> httpx.Response | None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"app exited {self.proc.returncode}:\n{self.log_path.read_text()}")
        try:
            return self.get(path)
        except httpx.TransportError:
            return None

    def metric(self, sample: str) -> float:
        """The value of one exact sample line, e.g. ``klaviyo_sync_cycles_total{result="ok"}``."""
        for line in self.get("/metrics").text.splitlines():
            name, _, value = line.rpartition(" ")
            if name == sample:
                return float(value)
        return 0.0

    def wait_cycles(self, result: str, more_than: float) -> float:
        sample = f'klaviyo_sync_cycles_total{{result="{result}"}}'
        return wait_for(lambda: (v := self.metric(sample)) > more_than and v, f"{sample} > {more_than}", DEADLINE)

    def stop(self) -> int | None:
        """SIGTERM, as Kubernetes does: the app closes its SDK clients (LaunchDarkly flushes events)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def signed_webhook(secret: str, webhook_id: str = "docs-webhook") -> tuple[bytes, dict[str, str]]:
    """A delivery signed as Klaviyo documents it: hex HMAC-SHA256(secret, body + Klaviyo-Timestamp)."""
    body = json.dumps({
        "data": [{"external_id": "evt-docs-1", "topic": "event:klaviyo.sent_email",
                  "payload": {"id": "evt-docs-1", "metric": "Received Email"}}],
        "meta": {"klaviyo_account_id": "SbxAcct", "klaviyo_webhook_id": webhook_id,
                 "timestamp": datetime.now(timezone.utc).isoformat()},
    }).encode()
    timestamp = "Mon, 02 Nov 2026 10:00:00 GMT"
    signature = hmac.new(secret.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()
    return body, {"Klaviyo-Signature": signature, "Klaviyo-Timestamp": timestamp,
                  "Klaviyo-Webhook-Id": webhook_id, "Content-Type": "application/json"}


@dataclass
class Recorded:
    config: EnvConfig
    preflight: PreflightReport
    klaviyo: list[dict[str, Any]]        # the Klaviyo stand-in's request log
    status_page: list[dict[str, str]]    # the recording proxy's log
    launchdarkly: list[dict[str, Any]]   # the LaunchDarkly stand-in's request log
    app_routes: dict[tuple[str, str], int]  # (method, path) the test sent to the app -> status
    kill_switch: dict[str, RollbackResult]
    app_exit: int | None
    stored: dict[str, Any]               # GET /_sandbox/data of the Klaviyo stand-in


def record(tmp: Path) -> Recorded:
    """Everything the documented endpoints are used for, once; a few seconds of wall time."""
    with Sandbox(["klaviyo", "status", "launchdarkly"]) as sb, RecordingProxy(sb.urls["status"]) as status:
        environ = {"KUBECONFIG": "/dev/null", **sb.env(), "SANDBOX_STATUS_URL": status.url}
        config = load_config("local", REPO / "pipeline.toml", environ=environ)
        report = run_preflight(config, app_source=APP_SOURCE)

        app = AppProcess(sb, tmp / "app.log").start()
        routes: dict[tuple[str, str], int] = {}
        results: dict[str, RollbackResult] = {}
        try:
            wait_for(lambda: (r := app.try_get("/ready")) is not None and r.status_code == 200, "app ready", DEADLINE)
            routes[("GET", "/ready")] = 200
            ok = app.wait_cycles("ok", 2)                       # at least 3 full sync cycles
            for path in ("/live", "/health", "/metrics"):
                routes[("GET", path)] = app.get(path).status_code
            body, headers = signed_webhook(sb.credentials.klaviyo_webhook_secret)
            answer = httpx.post(app.url + "/webhooks/klaviyo", content=body, headers=headers, trust_env=False)
            routes[("POST", "/webhooks/klaviyo")] = answer.status_code if answer.json().get("result") == "accepted" else 0

            switch = FlagKillSwitch(config)
            results["off"] = switch.execute("docs: endpoints test")
            skipped = app.wait_cycles("skipped", 0)             # the app saw OFF: no Klaviyo calls
            results["on"] = switch.turn_on("docs: endpoints test")
            app.wait_cycles("ok", ok)                           # and syncs again once ON
            approvals = httpx.post(sb.urls["launchdarkly"] + "/_sandbox/scenario",
                                   json={"approvals_required": {"local": True}}, trust_env=False)
            assert approvals.status_code == 200, approvals.text
            results["approval"] = switch.execute("docs: endpoints test, approvals required")
            assert skipped >= 1
        finally:
            exit_code = app.stop()
        klaviyo = httpx.get(sb.urls["klaviyo"] + "/_sandbox/requests", trust_env=False).json()["requests"]
        stored = httpx.get(sb.urls["klaviyo"] + "/_sandbox/data", trust_env=False).json()
        launchdarkly = httpx.get(sb.urls["launchdarkly"] + "/_sandbox/requests", trust_env=False).json()
        return Recorded(config, report, klaviyo, list(status.requests), launchdarkly, routes, results,
                        exit_code, stored)


EXPECTED_OUTCOMES = {"off": Outcome.DONE, "on": Outcome.DONE, "approval": Outcome.PENDING_APPROVAL}
