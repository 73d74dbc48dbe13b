"""Version parsing selects the staged fault; only faults.py knows about faults."""
from __future__ import annotations

import pytest

from app.support import APP_SOURCE  # noqa: F401  (puts the app on sys.path)
from klaviyo_sync import faults
from klaviyo_sync.faults import Fault, parse_version


@pytest.mark.parametrize("version, fault", [
    ("1.4.0", Fault.NONE),
    ("v1.4.0", Fault.NONE),
    ("1.4.0-rc1", Fault.NONE),
    ("dev", Fault.NONE),
    ("latest", Fault.NONE),
    ("1.4.0-bad-auth", Fault.BAD_AUTH),
    ("1.4.0-server-errors", Fault.SERVER_ERRORS),
    ("1.4.0-slow", Fault.SLOW),
    ("1.4.0-crash", Fault.CRASH),
    ("1.4.0-never-ready", Fault.NEVER_READY),
    ("1.4.0-bad-webhook-secret", Fault.BAD_WEBHOOK_SECRET),
    ("2.0.0-rc1-slow", Fault.SLOW),
    ("1.4.0-slowish", Fault.NONE),
    ("1.4.0-crash-test", Fault.NONE),
])
def test_parse_version_selects_fault(version, fault):
    assert parse_version(version).fault is fault


def test_release_keeps_the_tag_and_numeric_part():
    release = parse_version("1.4.0-slow")
    assert (release.version, release.release) == ("1.4.0-slow", "1.4.0")
    assert parse_version("nightly").release == ""


def test_request_headers_per_fault():
    assert faults.request_headers(Fault.SERVER_ERRORS) == {"X-Sandbox-Fault": "server-error"}
    assert faults.request_headers(Fault.SLOW) == {"X-Sandbox-Fault": "slow=6"}
    assert faults.request_headers(Fault.NONE) == {}
    assert faults.request_headers(Fault.BAD_AUTH) == {}


def test_keys_and_lifecycle_per_fault():
    assert faults.api_key(Fault.NONE, "pk_real") == "pk_real"
    assert faults.api_key(Fault.BAD_AUTH, "pk_real") != "pk_real"
    assert faults.webhook_secret(Fault.BAD_WEBHOOK_SECRET, "s") != "s"
    assert faults.webhook_secret(Fault.SLOW, "s") == "s"
    assert faults.crashes_at_start(Fault.CRASH) and not faults.crashes_at_start(Fault.NONE)
    assert faults.blocks_readiness(Fault.NEVER_READY) and not faults.blocks_readiness(Fault.SLOW)
