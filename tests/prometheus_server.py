"""A real Prometheus server (Debian's ``prometheus`` package) started by a test.

``PrometheusServer(scrape_configs, directory)`` writes a configuration, starts ``prometheus`` on
a free loopback port with its own storage directory, waits until it is ready and stops it (by
its own process id) on exit. Debian builds Prometheus without the Kubernetes service discovery
(its changelog: "Kubernetes support has been completely removed"), so tests name their targets
in ``file_sd_configs`` files (see ``FileTargets``), which Prometheus watches for changes.
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any, Sequence

import httpx
import yaml

from tests.waiting import wait_for

BINARY = shutil.which("prometheus")
SKIP_REASON = ("the prometheus binary is not installed (Debian package `prometheus`; .ci/run installs it): "
               "the tests against a real Prometheus server cannot run")
SCRAPE_INTERVAL = "1s"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FileTargets:
    """A ``file_sd_configs`` file: ``write([(address, labels), ...])`` replaces its target groups."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.write([])

    def write(self, targets: Sequence[tuple[str, dict[str, str]]]) -> None:
        groups = [{"targets": [address], "labels": labels} for address, labels in targets]
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(groups))
        temporary.replace(self.path)          # atomic: Prometheus never reads half a file


class PrometheusServer:
    def __init__(self, scrape_configs: list[dict[str, Any]], directory: Path) -> None:
        self.directory, self.port = directory, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {"global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": SCRAPE_INTERVAL},
                  "scrape_configs": scrape_configs}
        self.config_file = directory / "prometheus.yml"
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "PrometheusServer":
        assert BINARY, SKIP_REASON
        log = open(self.directory / "prometheus.log", "wb")
        self.process = subprocess.Popen(
            [BINARY, f"--config.file={self.config_file}", f"--storage.tsdb.path={self.directory / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1h"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        wait_for(self._ready, f"Prometheus ready on {self.url} (log: {self.directory / 'prometheus.log'})", 30)
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"prometheus exited with {self.process.returncode}: "
                                 f"{(self.directory / 'prometheus.log').read_text()[-2000:]}")
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def query(self, promql: str) -> list[dict[str, Any]]:
        reply = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5).json()
        assert reply["status"] == "success", reply
        return reply["data"]["result"]

    def targets(self) -> list[dict[str, Any]]:
        reply = httpx.get(f"{self.url}/api/v1/targets", params={"state": "active"}, timeout=5).json()
        return reply["data"]["activeTargets"]

    def scraped(self, pod: str, samples: int = 1) -> bool:
        """Prometheus holds at least ``samples`` successful scrapes of ``pod`` (its ``up`` series)."""
        result = self.query(f'count_over_time(up{{pod="{pod}"}}[5m]) and up{{pod="{pod}"}} == 1')
        return bool(result) and float(result[0]["value"][1]) >= samples
