"""`invoke listing` as a reviewer runs it: every row with a verdict; prod with http:// refused first."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ENV = {"KUBECONFIG": "/dev/null", "SANDBOX_KLAVIYO_URL": "http://127.0.0.1:1", "SANDBOX_STATUS_URL": "http://127.0.0.1:2",
       "SANDBOX_LAUNCHDARKLY_URL": "http://127.0.0.1:3"}
ROWS = ["oauth", "data-exchanged", "tls", "vulnerabilities", "retention", "rate-limits"]


def invoke(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, **ENV, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "invoke", "-r", str(REPO), "listing", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=240)


def test_local_prints_every_row_with_a_verdict_json_and_markdown(tmp_path):
    markdown = tmp_path / "listing.md"
    done = invoke("--env", "local", "--json", "--markdown", str(markdown))
    report = json.loads(done.stdout)
    assert [r["name"] for r in report["rows"]] == ROWS
    assert all(r["verdict"] in ("PASS", "FAIL", "NOT CHECKED") and r["detail"] for r in report["rows"])
    assert done.returncode == report["exit_code"] == 1            # local deploys with a private key: oauth fails
    verdicts = {r["name"]: r["verdict"] for r in report["rows"]}
    assert verdicts["oauth"] == "FAIL" and verdicts["data-exchanged"] == "PASS"
    vulnerabilities = report["rows"][3]
    assert vulnerabilities["verdict"] == "NOT CHECKED" or vulnerabilities["measured"].get("packages")
    text = markdown.read_text()
    assert text.startswith("# Klaviyo app listing readiness: `local`")
    assert "| requirement | verdict | evidence |" in text and text.count("\n| ") >= 1 + len(ROWS)


def test_the_table_names_each_row(tmp_path):
    done = invoke("--env", "local")
    for name in ROWS:
        assert name in done.stdout
    assert "listing readiness (local): " in done.stdout and "exit 1 (FAILED_CHECK)" in done.stdout


class Counting(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        Counting.hits.append(self.path)
        self.send_response(302)
        self.send_header("Location", "http://example.invalid/")
        self.end_headers()

    def log_message(self, *args) -> None:
        return None


def test_prod_with_an_http_url_refuses_before_any_request(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = tmp_path / "pipeline.toml"
    config.write_text((REPO / "pipeline.toml").read_text() +
                      f'\n[env.prod.oauth]\nenabled = true\npublic_url = "http://127.0.0.1:{server.server_address[1]}"\n')
    try:
        done = invoke("--env", "prod", "--config", str(config))
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 2, done.stdout + done.stderr
    assert "env.prod.oauth.public_url must be an https:// URL outside the local sandbox" in done.stderr
    assert Counting.hits == []


def test_bad_arguments_exit_2(tmp_path):
    done = invoke("--env", "local", "--vuln-db", str(tmp_path / "nope.json"))
    assert done.returncode == 2 and "--vuln-db" in done.stderr
