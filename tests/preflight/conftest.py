"""Fixtures for preflight tests: one sandbox (Klaviyo API + status page) per module, reset
before each test through the stand-ins' own /_sandbox routes, and small app trees in tmp_path."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import httpx
import pytest

from pipeline.config import EnvConfig, load_config
from pipeline.preflight import PreflightReport, run_preflight
from pipeline.sandbox.harness import Sandbox

REPO = Path(__file__).resolve().parents[2]
CONFIG_FILE = REPO / "pipeline.toml"
HEALTHY_REQUIREMENTS = "klaviyo-api==25.0.0\nhttpx>=0.27\n"


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(["klaviyo", "status"]) as sb:
        yield sb


@pytest.fixture
def sb(sandbox):
    """The module's sandbox, reset: healthy scenarios, empty request log, fresh rate limits."""
    for name in ("klaviyo", "status"):
        httpx.delete(sandbox.urls[name] + "/_sandbox/scenario").raise_for_status()
    httpx.delete(sandbox.urls["klaviyo"] + "/_sandbox/requests").raise_for_status()
    return sandbox


def set_scenario(sb: Sandbox, name: str, patch: dict) -> None:
    response = httpx.post(sb.urls[name] + "/_sandbox/scenario", json=patch)
    assert response.status_code == 200, response.text


def accounts_requests(sb: Sandbox) -> list[dict]:
    log = httpx.get(sb.urls["klaviyo"] + "/_sandbox/requests").json()["requests"]
    return [r for r in log if r["path"].rstrip("/") == "/api/accounts"]


def sandbox_environ(sb: Sandbox, **overrides: str) -> dict[str, str]:
    return {"KUBECONFIG": "/dev/null", "SANDBOX_LAUNCHDARKLY_URL": "http://127.0.0.1:9",
            **sb.env(), **overrides}


@pytest.fixture
def make_app(tmp_path) -> Callable[..., Path]:
    """``make_app({"path": "text", ...})`` -> an app tree; default: a healthy Python app."""
    def build(files: dict[str, str] | None = None, name: str = "app") -> Path:
        root = tmp_path / name
        files = files if files is not None else {
            "requirements.txt": HEALTHY_REQUIREMENTS,
            "src/sync.py": "import os\nKEY = os.environ['KLAVIYO_PRIVATE_KEY']\n",
        }
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        root.mkdir(exist_ok=True)
        return root
    return build


@pytest.fixture
def config(sb) -> EnvConfig:
    return load_config("local", CONFIG_FILE, environ=sandbox_environ(sb))


@pytest.fixture
def run(config, make_app) -> Callable[..., PreflightReport]:
    """Run preflight against the sandbox with a healthy app tree unless told otherwise."""
    def go(cfg: EnvConfig | None = None, app: Path | None = None, **options) -> PreflightReport:
        return run_preflight(cfg or config, app_source=app or make_app(), **options)
    return go


@pytest.fixture
def scenario(sb) -> Callable[[str, dict], None]:
    """``scenario("klaviyo"|"status", {...})`` posts to that stand-in's /_sandbox/scenario."""
    return lambda name, patch: set_scenario(sb, name, patch)


@pytest.fixture
def accounts_log(sb) -> Callable[[], list[dict]]:
    """The Klaviyo stand-in's log of /api/accounts requests since the test began."""
    return lambda: accounts_requests(sb)


@pytest.fixture
def environ(sb) -> Callable[..., dict[str, str]]:
    return lambda **overrides: sandbox_environ(sb, **overrides)
