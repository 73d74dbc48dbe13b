"""One module per preflight check; ``ALL`` lists them in report order."""
from __future__ import annotations

from pipeline.preflight.check import Check
from pipeline.preflight.checks.api_auth import ApiAuthCheck
from pipeline.preflight.checks.hardcoded_keys import HardcodedKeysCheck
from pipeline.preflight.checks.oauth import OAuthCheck
from pipeline.preflight.checks.rate_limit import RateLimitCheck
from pipeline.preflight.checks.revision import RevisionCheck
from pipeline.preflight.checks.sdk_pin import SdkPinCheck
from pipeline.preflight.checks.secrets import SecretsCheck
from pipeline.preflight.checks.status_page import StatusPageCheck


def all_checks(timeout: float = 10.0) -> list[Check]:
    """Every check, network ones with ``timeout`` seconds (config.klaviyo.timeout_seconds)."""
    return [
        StatusPageCheck(timeout=timeout),
        ApiAuthCheck(timeout=timeout),
        RateLimitCheck(timeout=timeout),
        SdkPinCheck(),
        RevisionCheck(),
        SecretsCheck(timeout=timeout),
        HardcodedKeysCheck(),
        OAuthCheck(timeout=timeout),
    ]


CHECK_NAMES: tuple[str, ...] = tuple(c.name for c in all_checks())
