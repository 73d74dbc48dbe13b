"""Helpers for the klaviyo-sync tests: the package on sys.path, and the app as a real process.

``AppProcess`` runs ``python -m klaviyo_sync`` with PYTHONPATH=examples/klaviyo-sync on a free
port, as the sandbox kubelet does, and waits on conditions (with deadlines), never on sleeps.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
APP_SOURCE = REPO / "examples" / "klaviyo-sync"
if str(APP_SOURCE) not in sys.path:
    sys.path.insert(0, str(APP_SOURCE))

DEADLINE = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], Any], what: str, deadline: float = DEADLINE,
             process: "AppProcess | None" = None) -> Any:
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` at the deadline."""
    end = time.monotonic() + deadline
    last: Any = None
    while time.monotonic() < end:
        if process is not None and process.proc.poll() is not None:
            pytest.fail(f"app exited with {process.proc.returncode} while waiting for {what}:\n{process.output()}")
        last = condition()
        if last:
            return last
        time.sleep(0.05)
    logs = f"\napp output:\n{process.output()}" if process else ""
    pytest.fail(f"timed out after {deadline:.0f} s waiting for {what} (last: {last!r}){logs}")


def samples(metrics_text: str) -> dict[tuple[str, frozenset], float]:
    """{(sample name, frozenset(labels)): value} from Prometheus text."""
    out = {}
    for family in text_string_to_metric_families(metrics_text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def metric(metrics_text: str, name: str, **labels: str) -> float:
    """Sum of the samples named ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples(metrics_text).items() if n == name and want <= ls)


@dataclass
class AppProcess:
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen = field(init=False)

    def start(self) -> "AppProcess":
        env = {**self.env, "PORT": str(self.port), "HOST": "127.0.0.1",
               "PYTHONPATH": str(APP_SOURCE), "no_proxy": "127.0.0.1,localhost",
               "NO_PROXY": "127.0.0.1,localhost"}
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "klaviyo_sync"], env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT, cwd=str(REPO))
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30, trust_env=False)

    def post(self, path: str, content: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(self.url + path, content=content, headers=headers, timeout=10, trust_env=False)

    def try_get(self, path: str) -> httpx.Response | None:
        try:
            return self.get(path)
        except httpx.TransportError:
            return None

    def wait_status(self, path: str, status: int, deadline: float = DEADLINE) -> httpx.Response:
        return wait_for(lambda: (r := self.try_get(path)) is not None and r.status_code == status and r,
                        f"GET {path} -> {status}", deadline, self)

    def wait_ready(self) -> "AppProcess":
        self.wait_status("/ready", 200)
        return self

    def metrics(self) -> str:
        return self.get("/metrics").text

    def wait_metric(self, name: str, at_least: float = 1, deadline: float = DEADLINE, **labels: str) -> float:
        return wait_for(lambda: (v := metric(self.metrics(), name, **labels)) >= at_least and v,
                        f"{name}{labels} >= {at_least}", deadline, self)

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def base_env(sb: Any, version: str = "1.0.0", **extra: str) -> dict[str, str]:
    """The app's environment against a running Sandbox, LaunchDarkly only if it is served."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KLAVIYO_", "LAUNCHDARKLY_"))}
    creds = sb.credentials
    env.update({
        "APP_VERSION": version,
        "KLAVIYO_PRIVATE_KEY": creds.klaviyo_private_key,
        "KLAVIYO_WEBHOOK_SIGNING_SECRET": creds.klaviyo_webhook_secret,
        "KLAVIYO_BASE_URL": sb.urls["klaviyo"],
        "SYNC_INTERVAL_SECONDS": "0.2",
        "HEALTH_CACHE_SECONDS": "0",
    })
    if "launchdarkly" in sb.urls:
        url = sb.urls["launchdarkly"]
        env.update({"LAUNCHDARKLY_SDK_KEY": creds.launchdarkly_sdk_key, "LAUNCHDARKLY_BASE_URI": url,
                    "LAUNCHDARKLY_STREAM_URI": url, "LAUNCHDARKLY_EVENTS_URI": url})
    env.update(extra)
    return env
