"""Kill switch: time from the rollback command to a running app's SDK serving OFF.

Serves the LaunchDarkly stand-in in-process. An "app" (the official launchdarkly-server-sdk,
streaming, connected beforehand like a running pod) listens for flag value changes. Each run
calls ``FlagKillSwitch.execute`` and measures
  * command -> app:  execute() called  ->  the app's value-change listener sees False
  * PATCH -> SDK:    the mechanism's own figure (PATCH sent -> its verifying SDK serves OFF)
  * command total:   execute() wall time (read, SDK connect, PATCH, verify)
then turns the flag back on (not timed). Target: command -> app under 1 s on the stand-in.
"""
from __future__ import annotations

import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ldclient import Config, Context, LDClient  # noqa: E402

from pipeline.config import EnvConfig, FlagSettings  # noqa: E402
from pipeline.rollback.flag_kill_switch import FlagKillSwitch  # noqa: E402
from pipeline.rollback.result import Outcome  # noqa: E402
from pipeline.sandbox.harness import Sandbox  # noqa: E402

RUNS = 10
TARGET_SECONDS = 1.0


class AppWatcher:
    """The running app: records when the kill switch's value changes."""

    def __init__(self, url: str, sdk_key: str, flag: str) -> None:
        config = Config(sdk_key, base_uri=url, stream_uri=url, events_uri=url, send_events=False)
        self.client = LDClient(config=config, start_wait=5)
        self._cond = threading.Condition()
        self._seen: dict[bool, float] = {}
        self.client.flag_tracker.add_flag_value_change_listener(flag, Context.create("app"), self._changed)

    def _changed(self, change) -> None:
        with self._cond:
            self._seen[change.new_value] = time.perf_counter()
            self._cond.notify_all()

    def arm(self) -> None:
        with self._cond:
            self._seen.clear()

    def wait(self, value: bool, timeout: float = 10) -> float | None:
        with self._cond:
            self._cond.wait_for(lambda: value in self._seen, timeout)
            return self._seen.get(value)


def summary(label: str, values: list[float]) -> str:
    return (f"{label:<16} median {statistics.median(values) * 1000:8.1f} ms   "
            f"max {max(values) * 1000:8.1f} ms   min {min(values) * 1000:8.1f} ms")


def main() -> int:
    command_to_app, patch_to_sdk, totals = [], [], []
    with Sandbox(["launchdarkly"]) as sb:
        url = sb.urls["launchdarkly"]
        settings = FlagSettings(api_url=url, stream_url=url, events_url=url, project="klaviyo-sync",
                                environment="local")
        mechanism = FlagKillSwitch(EnvConfig(name="local", flags=settings, variables=sb.env()))
        app = AppWatcher(url, sb.credentials.launchdarkly_sdk_key, settings.kill_switch)
        try:
            for _ in range(RUNS):
                app.arm()
                started = time.perf_counter()
                result = mechanism.execute("benchmark")
                seen = app.wait(False)
                if result.outcome is not Outcome.DONE or seen is None:
                    print(f"run failed: {result.outcome.value}: {result.detail}")
                    return 1
                command_to_app.append(seen - started)
                patch_to_sdk.append(result.data["observed_after_seconds"])
                totals.append(result.duration_seconds)
                app.arm()
                if mechanism.turn_on("benchmark reset").outcome is not Outcome.DONE or app.wait(True) is None:
                    print("could not turn the flag back on")
                    return 1
        finally:
            app.client.close()
    print(f"kill switch on the LaunchDarkly stand-in, {RUNS} runs")
    print(summary("command -> app", command_to_app))
    print(summary("PATCH -> SDK", patch_to_sdk))
    print(summary("command total", totals))
    ok = max(command_to_app) < TARGET_SECONDS
    print(f"target: command -> app < {TARGET_SECONDS:.0f} s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
