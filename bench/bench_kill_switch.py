"""Kill switch: ``invoke rollback --via flag --yes`` against curl sending the same semantic patch.

The figure is the time from the command's start until an already connected app sees the flag
OFF: an official ``launchdarkly-server-sdk`` client in this process, streaming from the
LaunchDarkly stand-in (as a running pod's SDK would), whose flag-change listener notes the
moment. Both commands run as whole processes, alternated; each must also exit 0.
* ours: ``invoke rollback --env local --via flag --yes`` (never takes the deploy lock; reads and
  plans, patches on the same HTTP client, then verifies with its own SDK client and writes the
  release record before exiting);
* baseline: ``curl -X PATCH`` with the same semantic patch (``turnFlagOff``), headers and
  token, the token read from a file so it never appears on a command line.
Before each run, untimed, the flag is turned back ON and the app seen to serve it.
Target (issue 12): ours <= 3x the curl baseline. A reference figure, ``invoke --version``
against the same curl, shows the floor any ``invoke`` command starts from.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import Command, Comparison, run_all  # noqa: E402
from standins import ROOT, Standins, running  # noqa: E402

from ldclient import Config, Context, LDClient  # noqa: E402

from pipeline.launchdarkly import API_VERSION, SEMANTIC_PATCH  # noqa: E402

PROJECT, FLAG, ENVIRONMENT = "klaviyo-sync", "klaviyo-enabled", "local"
TARGET = 3.0
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
INVOKE = str(Path(sys.executable).parent / "invoke")


class App:
    """The running app's SDK client: notes when the kill switch's value changes."""

    def __init__(self, url: str, sdk_key: str) -> None:
        config = Config(sdk_key, base_uri=url, stream_uri=url, events_uri=url, send_events=False,
                        diagnostic_opt_out=True)
        self.client = LDClient(config=config, start_wait=10)
        self._cond = threading.Condition()
        self._seen: dict[bool, float] = {}
        self.client.flag_tracker.add_flag_value_change_listener(FLAG, Context.create("app"), self._changed)

    def _changed(self, change) -> None:
        with self._cond:
            self._seen[change.new_value] = time.perf_counter()
            self._cond.notify_all()

    def arm(self) -> None:
        with self._cond:
            self._seen.clear()

    def wait(self, value: bool, timeout: float = 20) -> float | None:
        with self._cond:
            self._cond.wait_for(lambda: value in self._seen, timeout)
            return self._seen.get(value)


def curl(standins: Standins, on: bool) -> list[str]:
    headers = standins.directory / "ld-headers"
    if not headers.exists():
        headers.touch(mode=0o600)
        headers.write_text(f"Authorization: {standins.env['LAUNCHDARKLY_API_TOKEN']}\n"
                           f"LD-API-Version: {API_VERSION}\nContent-Type: {SEMANTIC_PATCH}\n")
    body = {"environmentKey": ENVIRONMENT, "comment": "benchmark: curl baseline",
            "instructions": [{"kind": "turnFlagOn" if on else "turnFlagOff"}]}
    return ["curl", "-sf", "-o", "/dev/null", "-X", "PATCH", "-H", f"@{headers}", "--data", json.dumps(body),
            f"{standins.urls['launchdarkly']}/api/v2/flags/{PROJECT}/{FLAG}"]


def comparison(standins: Standins, app: App) -> Comparison:
    turn_on = curl(standins, on=True)

    def prepare() -> None:
        app.arm()
        subprocess.run(turn_on, check=True, env=standins.env)
        if app.wait(True, 10) is None and app.client.variation(FLAG, Context.create("app"), None) is not True:
            raise RuntimeError("the flag did not come back ON")
        app.arm()

    def seen_off(started: float) -> float | None:
        seen = app.wait(False)
        return None if seen is None else seen - started

    options = dict(env=standins.env, cwd=str(ROOT), prepare=prepare, figure=seen_off)
    return Comparison("kill-switch", "start -> an already connected SDK client sees the flag OFF",
                      Command.of("invoke rollback --via flag",
                                 [INVOKE, "rollback", "--env", "local", "--via", "flag", "--yes",
                                  "--reason", "benchmark"], **options),
                      Command.of("curl semantic patch", curl(standins, on=False), **options),
                      TARGET, RUNS)


def floor(standins: Standins) -> Comparison:
    """invoke's own start-up against the same curl: no invoke command can beat this ratio."""
    turn_on = curl(standins, on=True)
    return Comparison("kill-switch-floor", "invoke --version (invoke's start-up alone) against the curl PATCH",
                      Command.of("invoke --version", [INVOKE, "--version"], env=standins.env, cwd=str(ROOT)),
                      Command.of("curl semantic patch", turn_on, env=standins.env, cwd=str(ROOT)),
                      None, RUNS)


def main() -> int:
    with running() as standins:
        app = App(standins.urls["launchdarkly"], standins.env["LAUNCHDARKLY_SDK_KEY"])
        try:
            return run_all([comparison(standins, app), floor(standins)])
        finally:
            app.client.close()


if __name__ == "__main__":
    raise SystemExit(main())
