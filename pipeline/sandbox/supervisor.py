"""``invoke sandbox.up|down|status``: the stand-ins as one background process.

``up`` starts ``python -m pipeline.sandbox serve`` detached, waits until every stand-in
answers its ``/_sandbox/health`` route, and leaves behind, in the sandbox directory:
``env`` (shell ``KEY=VALUE`` lines: URLs, ``KUBECONFIG`` and the sandbox credentials),
``kubeconfig``, ``sandbox.json`` (pid, URLs), ``sandbox.log`` and ``state/`` (persisted
cluster). A restarted sandbox reuses its ports when free, its credentials and its state.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from pipeline.sandbox.harness import Sandbox

DEFAULT_DIR = Path(".sandbox")


@dataclass(frozen=True)
class SandboxStatus:
    running: bool
    pid: int | None
    urls: dict[str, str]
    answering: dict[str, bool]


def kubeconfig(url: str) -> str:
    return "\n".join([
        "apiVersion: v1", "kind: Config", "current-context: sandbox",
        "clusters:", "- name: sandbox", "  cluster:", f"    server: {url}",
        "contexts:", "- name: sandbox", "  context:", "    cluster: sandbox",
        "    namespace: default", "    user: sandbox",
        "users:", "- name: sandbox", "  user:", "    token: sandbox", ""])


def write_files(directory: Path, sandbox: Sandbox) -> dict[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    env = sandbox.env()
    if "kube" in sandbox.urls:
        path = directory / "kubeconfig"
        path.write_text(kubeconfig(sandbox.urls["kube"]))
        env["KUBECONFIG"] = str(path.resolve())
    env_file = directory / "env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in sorted(env.items())))
    env_file.chmod(0o600)
    state = {"pid": os.getpid(), "urls": sandbox.urls}
    (directory / "sandbox.json").write_text(json.dumps(state, indent=2))
    return env


def serve(directory: Path) -> None:
    """Foreground: run every stand-in until SIGTERM/SIGINT."""
    previous = _read_state(directory).get("urls", {})
    ports = {name: int(url.rsplit(":", 1)[1]) for name, url in previous.items()}
    try:
        sandbox = Sandbox(state_dir=directory / "state", ports=ports).start()
    except OSError:  # an old port is taken: take fresh ones
        sandbox = Sandbox(state_dir=directory / "state").start()
    write_files(directory, sandbox)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    sandbox.stop()
    (directory / "sandbox.json").unlink(missing_ok=True)


def up(directory: Path = DEFAULT_DIR, timeout: float = 30.0) -> SandboxStatus:
    current = status(directory)
    if current.running and all(current.answering.values()):
        return current
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sandbox.json").unlink(missing_ok=True)
    log = open(directory / "sandbox.log", "ab")
    process = subprocess.Popen([sys.executable, "-m", "pipeline.sandbox", "serve", "--dir", str(directory)],
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sandbox exited with {process.returncode}; see {directory / 'sandbox.log'}")
        current = status(directory)
        if current.running and current.urls and all(current.answering.values()):
            return current
        time.sleep(0.1)
    raise TimeoutError(f"sandbox did not answer within {timeout:.0f}s; see {directory / 'sandbox.log'}")


def down(directory: Path = DEFAULT_DIR, timeout: float = 15.0) -> bool:
    """Stop the sandbox; True if one was running. Its state and credentials stay on disk."""
    pid = _read_state(directory).get("pid")
    if not pid or not _alive(pid):
        (directory / "sandbox.json").unlink(missing_ok=True)
        return False
    os.killpg(os.getpgid(pid), signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.killpg(os.getpgid(pid), signal.SIGKILL)
    (directory / "sandbox.json").unlink(missing_ok=True)
    return True


def status(directory: Path = DEFAULT_DIR) -> SandboxStatus:
    state = _read_state(directory)
    pid, urls = state.get("pid"), state.get("urls", {})
    running = bool(pid and _alive(pid))
    answering = {name: running and _answers(url) for name, url in urls.items()}
    return SandboxStatus(running, pid if running else None, urls, answering)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/_sandbox/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def _read_state(directory: Path) -> dict:
    try:
        return json.loads((directory / "sandbox.json").read_text())
    except (OSError, ValueError):
        return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.sandbox")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    serve(args.dir)
    return 0
