"""Fixtures for the klaviyo-sync app tests (helpers live in ``support.py``)."""
from __future__ import annotations

import pytest

from app.support import AppProcess


@pytest.fixture
def run_app(tmp_path):
    """``run_app(env, port=None)`` starts the app; every app started is stopped at teardown."""
    started: list[AppProcess] = []

    def start(env: dict[str, str], port: int | None = None) -> AppProcess:
        app = AppProcess(dict(env), tmp_path / f"app-{len(started)}.log")
        if port is not None:
            app.port = port
        app.start()
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()


def _sandbox(names: list[str]):
    from pipeline.sandbox.harness import Sandbox, load_stand_ins
    missing = set(names) - {s.name for s in load_stand_ins(names)}
    if missing:
        pytest.skip(f"stand-in(s) {sorted(missing)} not available yet")
    return Sandbox(names)


@pytest.fixture
def klaviyo_sandbox():
    """The Klaviyo stand-in only: the app runs with the kill switch's default (enabled)."""
    with _sandbox(["klaviyo"]) as sb:
        yield sb


@pytest.fixture
def full_sandbox():
    """Klaviyo and LaunchDarkly stand-ins: the app reads klaviyo-enabled with the LD SDK."""
    with _sandbox(["klaviyo", "launchdarkly"]) as sb:
        yield sb


@pytest.fixture(scope="session")
def postgres():
    """One real PostgreSQL server for the session (Debian's package); skips, saying why, without it."""
    from app.postgres import MISSING, PostgresServer, binaries
    bin_dir = binaries()
    if bin_dir is None:
        pytest.skip(MISSING)
    server = PostgresServer.start(bin_dir)
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """The token database through the one SQL layer: SQLite (the default) and PostgreSQL (production)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tokens.db'}"
    return request.getfixturevalue("postgres").database()
