"""SANDBOX STAGING BEHAVIOUR: deliberate faults selected by the image tag.

The pipeline's sandbox needs bad releases to prove that gates, verification and rollback
work. Rather than building broken images, the app reads its own version (``APP_VERSION``,
the image tag) and a recognised suffix switches on one fault:

====================  =====================================================================
``1.4.0``             good release, no fault
``1.4.0-bad-auth``    every Klaviyo call carries a wrong API key -> Klaviyo answers 401
``1.4.0-server-errors``  header ``X-Sandbox-Fault: server-error`` -> the stand-in answers 5xx
``1.4.0-slow``        header ``X-Sandbox-Fault: slow=6`` -> the stand-in waits 6 s (p95 > 5 s)
``1.4.0-crash``       the process exits at start with code 3
``1.4.0-never-ready`` ``/ready`` stays 503 (the rollout never progresses)
``1.4.0-bad-webhook-secret``  webhooks are verified with a wrong secret -> all rejected (401)
====================  =====================================================================

The headers are injected through the SDK's ``api_client.default_headers`` so every call
still goes through the official SDK. Against real Klaviyo the ``X-Sandbox-Fault`` header
is meaningless and ignored; never ship a tag with one of these suffixes.
This is the ONLY module that knows about faults.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass

FAULT_HEADER = "X-Sandbox-Fault"
CRASH_EXIT_CODE = 3
WRONG_API_KEY = "sandbox-fault-wrong-api-key"  # not key-shaped: preflight key scans stay clean
WRONG_WEBHOOK_SECRET = "whsec_sandbox_fault_bad_webhook_secret"
SLOW_SECONDS = 6

_VERSION = re.compile(r"^v?(?P<release>\d+(?:\.\d+){0,2})(?:-(?P<suffix>[0-9A-Za-z.-]+))?$")


class Fault(str, enum.Enum):
    NONE = "none"
    BAD_AUTH = "bad-auth"
    SERVER_ERRORS = "server-errors"
    SLOW = "slow"
    CRASH = "crash"
    NEVER_READY = "never-ready"
    BAD_WEBHOOK_SECRET = "bad-webhook-secret"


@dataclass(frozen=True)
class Release:
    version: str          # the full tag, as given
    release: str          # the numeric part, "" when the tag is not semver-like
    fault: Fault


def parse_version(version: str) -> Release:
    """``"1.4.0-slow"`` -> Release(fault=SLOW). Unknown suffixes (``-rc1``) select no fault."""
    match = _VERSION.match(version.strip())
    if not match:
        return Release(version, "", Fault.NONE)
    suffix = match.group("suffix") or ""
    return Release(version, match.group("release"), _fault_for(suffix))


def _fault_for(suffix: str) -> Fault:
    for fault in Fault:
        if fault is not Fault.NONE and (suffix == fault.value or suffix.endswith("-" + fault.value)):
            return fault
    return Fault.NONE


def request_headers(fault: Fault) -> dict[str, str]:
    """Extra default headers for every Klaviyo call (the stand-in acts on them)."""
    if fault is Fault.SERVER_ERRORS:
        return {FAULT_HEADER: "server-error"}
    if fault is Fault.SLOW:
        return {FAULT_HEADER: f"slow={SLOW_SECONDS}"}
    return {}


def api_key(fault: Fault, configured: str) -> str:
    """The key the app sends: the configured one, or a wrong one under ``bad-auth``."""
    return WRONG_API_KEY if fault is Fault.BAD_AUTH else configured


def webhook_secret(fault: Fault, configured: str) -> str:
    return WRONG_WEBHOOK_SECRET if fault is Fault.BAD_WEBHOOK_SECRET else configured


def crashes_at_start(fault: Fault) -> bool:
    return fault is Fault.CRASH


def blocks_readiness(fault: Fault) -> bool:
    return fault is Fault.NEVER_READY
