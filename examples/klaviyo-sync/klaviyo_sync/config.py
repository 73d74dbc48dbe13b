"""Configuration from environment variables, validated once at start.

Every problem is a :class:`ConfigError` that names the variable and what it accepts; the
process then exits with code 2 (see ``app.py``). Secret values are kept in :class:`Secret`
so that printing the config (or an exception carrying it) never shows them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

DEFAULT_KLAVIYO_HOST = "https://a.klaviyo.com"
MASK = "***"


class ConfigError(ValueError):
    """A bad or missing environment variable, named in the message."""


@dataclass(frozen=True)
class Secret:
    """A credential that never prints; ``reveal()`` only where it goes on the wire."""
    name: str
    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({self.name!r}, {MASK})"

    def __format__(self, spec: str) -> str:
        return MASK


@dataclass(frozen=True)
class LaunchDarklySettings:
    sdk_key: Secret | None               # None: LaunchDarkly not configured, flag default applies
    base_uri: str = "https://app.launchdarkly.com"
    stream_uri: str = "https://stream.launchdarkly.com"
    events_uri: str = "https://events.launchdarkly.com"
    flag_key: str = "klaviyo-enabled"
    start_wait_seconds: float = 5.0


@dataclass(frozen=True)
class AppConfig:
    private_key: Secret
    webhook_secret: Secret
    version: str = "dev"
    host: str = "0.0.0.0"
    port: int = 8080
    klaviyo_base_url: str = ""           # empty: the SDK's default host (https://a.klaviyo.com)
    klaviyo_revision: str = ""           # empty: the SDK's pinned revision
    request_timeout_seconds: float = 15.0
    sync_interval_seconds: float = 1.0
    health_cache_seconds: float = 10.0
    webhook_max_age_seconds: float = 300.0
    launchdarkly: LaunchDarklySettings = field(default_factory=lambda: LaunchDarklySettings(None))

    def secrets(self) -> list[str]:
        """Every secret value, for log redaction."""
        values = [self.private_key.reveal(), self.webhook_secret.reveal()]
        if self.launchdarkly.sdk_key is not None:
            values.append(self.launchdarkly.sdk_key.reveal())
        return [v for v in values if v]


def load_config(environ: Mapping[str, str]) -> AppConfig:
    """Build the config from ``environ`` (normally ``os.environ``)."""
    ld_key = environ.get("LAUNCHDARKLY_SDK_KEY", "").strip()
    launchdarkly = LaunchDarklySettings(
        sdk_key=Secret("LAUNCHDARKLY_SDK_KEY", ld_key) if ld_key else None,
        base_uri=_url(environ, "LAUNCHDARKLY_BASE_URI", "https://app.launchdarkly.com"),
        stream_uri=_url(environ, "LAUNCHDARKLY_STREAM_URI", "https://stream.launchdarkly.com"),
        events_uri=_url(environ, "LAUNCHDARKLY_EVENTS_URI", "https://events.launchdarkly.com"),
        flag_key=environ.get("LAUNCHDARKLY_FLAG_KEY", "").strip() or "klaviyo-enabled",
        start_wait_seconds=_number(environ, "LAUNCHDARKLY_START_WAIT_SECONDS", 5.0, minimum=0.0),
    )
    base_url = _url(environ, "KLAVIYO_BASE_URL", "")
    return AppConfig(
        private_key=_required_secret(environ, "KLAVIYO_PRIVATE_KEY"),
        webhook_secret=_required_secret(environ, "KLAVIYO_WEBHOOK_SIGNING_SECRET"),
        version=environ.get("APP_VERSION", "").strip() or "dev",
        host=environ.get("HOST", "").strip() or "0.0.0.0",
        port=_port(environ),
        klaviyo_base_url="" if base_url == DEFAULT_KLAVIYO_HOST else base_url,
        klaviyo_revision=environ.get("KLAVIYO_REVISION", "").strip(),
        request_timeout_seconds=_number(environ, "KLAVIYO_TIMEOUT_SECONDS", 15.0, minimum=0.1),
        sync_interval_seconds=_number(environ, "SYNC_INTERVAL_SECONDS", 1.0, minimum=0.05),
        health_cache_seconds=_number(environ, "HEALTH_CACHE_SECONDS", 10.0, minimum=0.0),
        webhook_max_age_seconds=_number(environ, "WEBHOOK_MAX_AGE_SECONDS", 300.0, minimum=1.0),
        launchdarkly=launchdarkly,
    )


def _required_secret(environ: Mapping[str, str], name: str) -> Secret:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set: it is required (mount it from the "
                          f"klaviyo-sync-secrets Secret)")
    return Secret(name, value)


def _port(environ: Mapping[str, str]) -> int:
    raw = environ.get("PORT", "").strip() or "8080"
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ConfigError(f"PORT={raw!r} is invalid: expected an integer 1-65535")
    return int(raw)


def _number(environ: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is invalid: expected a number >= {minimum:g}") from None
    if not value >= minimum:
        raise ConfigError(f"{name}={raw!r} is invalid: expected a number >= {minimum:g}")
    return value


def _url(environ: Mapping[str, str], name: str, default: str) -> str:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.startswith(("http://", "https://")):
        raise ConfigError(f"{name}={raw!r} is invalid: expected an http:// or https:// URL")
    return raw.rstrip("/")
