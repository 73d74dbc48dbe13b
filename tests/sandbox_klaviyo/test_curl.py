"""curl, as the production checklist's preflight script runs it, against both stand-ins."""
import shutil
import subprocess

import pytest

from tests.sandbox_klaviyo.support import scenario

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-s", *args], capture_output=True, text=True, timeout=30)


def auth(key: str) -> list[str]:
    return ["-H", f"Authorization: Klaviyo-API-Key {key}", "-H", "revision: 2024-10-15"]


def test_status_description_step(status_page):
    pipeline = subprocess.run(
        f'curl -s "{status_page}/api/v2/status.json" | python3 -c '
        '"import sys,json; print(json.load(sys.stdin)[\'status\'][\'description\'])"',
        shell=True, capture_output=True, text=True, timeout=30)
    assert pipeline.stdout.strip() == "All Systems Operational"
    scenario(status_page, {"components": {"Klaviyo API": "major_outage"}})
    assert run(f"{status_page}/api/v2/status.json").stdout.count("Major Service Outage") == 1


def test_api_auth_step(klaviyo, key):
    result = run("-w", "%{http_code}", "-o", "/dev/null", *auth(key), f"{klaviyo}/api/accounts/")
    assert result.stdout == "200"
    scenario(klaviyo, {"revoked_key": True})
    assert run("-w", "%{http_code}", "-o", "/dev/null", *auth(key), f"{klaviyo}/api/accounts/").stdout == "401"


def test_rate_limit_headroom_step(klaviyo, key):
    # The checklist's literal command has an unescaped page[size]: curl treats [] as a glob
    # and exits 3 before sending anything. With -g (or %5B %5D) it gets the header.
    literal = run("-I", *auth(key), f"{klaviyo}/api/profiles/?page[size]=1")
    assert literal.returncode == 3 and literal.stdout == ""
    for extra, url in ((["-g"], f"{klaviyo}/api/profiles/?page[size]=1"),
                       ([], f"{klaviyo}/api/profiles/?page%5Bsize%5D=1")):
        headers = run("-I", *extra, *auth(key), url).stdout.lower()
        assert headers.startswith("http/1.1 200") and "ratelimit-remaining: " in headers
