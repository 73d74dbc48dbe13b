"""The stand-ins for a benchmark, in their own process (``invoke sandbox.up`` in a scratch directory).

Running them outside the benchmark's process keeps its timers and SDK watchers from sharing a
GIL with the servers; both sides of a comparison talk to them over loopback like to a real
service. :func:`running` yields the environment a command needs (URLs, ``KUBECONFIG``,
credentials, ``PIPELINE_AUDIT_DIR``, ``KUBECACHEDIR``) and stops the stand-ins afterwards.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.sandbox import supervisor  # noqa: E402


@dataclass(frozen=True)
class Standins:
    directory: Path
    urls: dict[str, str]
    env: dict[str, str]       # os.environ + the sandbox's env file + scratch dirs

    def scenario(self, name: str, patch: dict | None) -> None:
        """POST a scenario patch to a stand-in, or DELETE (reset) it when ``patch`` is None."""
        url = f"{self.urls[name]}/_sandbox/scenario"
        response = httpx.delete(url) if patch is None else httpx.post(url, json=patch)
        response.raise_for_status()


def command_env() -> dict[str, str]:
    """The environment every measured command runs in: this one, with the checkout first on
    PYTHONPATH, and without PYTHONDONTWRITEBYTECODE (set by some agents and sandboxes, not by a
    user's shell or CI): our commands then find their modules' cached bytecode after the
    warm-up run, as they do on an on-call laptop."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return env


@contextlib.contextmanager
def running() -> Iterator[Standins]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        directory = Path(tmp) / "sandbox"
        status = supervisor.up(directory, timeout=60)
        try:
            env = command_env()
            env.update(_read_env(directory / "env"))
            env.update(PIPELINE_AUDIT_DIR=f"{tmp}/audit", KUBECACHEDIR=f"{tmp}/kubecache")
            yield Standins(Path(tmp), dict(status.urls), env)
        finally:
            supervisor.down(directory)


def _read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}
