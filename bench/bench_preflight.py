"""Preflight wall time vs its slowest single check, with 300 ms added to every stand-in response.

Checks run concurrently, so the whole preflight should take about as long as its slowest check:
the ratio wall / slowest must be <= 1.3. In the same run, against the same stand-ins, the
checklist's sequential bash pre-flight script (tests/preflight/fixtures/preflight-klaviyo.sh,
URLs replaced with sed's equivalent) is timed for comparison.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from pipeline.config import load_config
from pipeline.preflight import run_preflight
from pipeline.sandbox.harness import Sandbox

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tests" / "preflight" / "fixtures" / "preflight-klaviyo.sh"
LATENCY = 0.3
RUNS = 5
MAX_RATIO = 1.3


def main() -> int:
    with Sandbox(["klaviyo", "status"]) as sb, tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "app"
        app.mkdir()
        (app / "requirements.txt").write_text("klaviyo-api==25.0.0\n")
        (app / "sync.py").write_text("import os\nKEY = os.environ['KLAVIYO_PRIVATE_KEY']\n")
        for name in ("klaviyo", "status"):
            httpx.post(sb.urls[name] + "/_sandbox/scenario", json={"latency_seconds": LATENCY}).raise_for_status()
        environ = {"KUBECONFIG": "/dev/null", "SANDBOX_LAUNCHDARKLY_URL": "http://127.0.0.1:9", **sb.env()}
        config = load_config("local", REPO / "pipeline.toml", environ=environ)
        reset = lambda: sb.call(lambda: sb.apps["klaviyo"]["state"].limiter.reset())  # accounts: 1/s

        walls, slowest, ratios = [], [], []
        for _ in range(RUNS):
            reset()
            start = time.perf_counter()
            report = run_preflight(config, app_source=app)
            wall = time.perf_counter() - start
            top = max(r.duration for r in report.results)
            assert report.ok, [(r.name, r.verdict.value, r.detail) for r in report.results if r.verdict.value != "PASS"]
            walls.append(wall), slowest.append(top), ratios.append(wall / top)

        script = Path(tmp) / "preflight-klaviyo.sh"
        script.write_text(SCRIPT.read_text().replace("https://status.klaviyo.com", sb.urls["status"])
                          .replace("https://a.klaviyo.com", sb.urls["klaviyo"]))
        script_walls = []
        for _ in range(RUNS):
            reset()
            start = time.perf_counter()
            done = subprocess.run(["bash", str(script)], env={**os.environ, **environ}, cwd=tmp,
                                  capture_output=True, text=True, timeout=60)
            script_walls.append(time.perf_counter() - start)
            assert done.returncode == 0, done.stdout + done.stderr

    ratio = statistics.median(ratios)
    print(f"latency added per stand-in response: {LATENCY * 1000:.0f} ms; {RUNS} runs each (median)")
    print(f"preflight wall time:        {statistics.median(walls) * 1000:7.0f} ms  (7 checks, concurrent)")
    print(f"slowest single check:       {statistics.median(slowest) * 1000:7.0f} ms")
    print(f"ratio wall / slowest check: {ratio:7.2f}   (must be <= {MAX_RATIO})")
    print(f"seed bash script wall time: {statistics.median(script_walls) * 1000:7.0f} ms  (sequential; its "
          "rate-limit step never reaches the server)")
    if ratio > MAX_RATIO:
        print(f"FAIL: ratio {ratio:.2f} > {MAX_RATIO}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
