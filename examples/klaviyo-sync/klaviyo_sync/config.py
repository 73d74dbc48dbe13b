"""Configuration from environment variables, validated once at start.

Every problem is a :class:`ConfigError` that names the variable and what it accepts; the
process then exits with code 2 (see ``app.py``). Secret values are kept in :class:`Secret`
so that printing the config (or an exception carrying it) never shows them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import urlsplit

DEFAULT_KLAVIYO_HOST = "https://a.klaviyo.com"
DEFAULT_AUTHORIZE_URL = "https://www.klaviyo.com/oauth/authorize"
DEFAULT_DATABASE_URL = "sqlite:///klaviyo-sync.db"
PRIVATE_KEY_MODE, OAUTH_MODE = "private-key", "oauth"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
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
class OAuthSettings:
    """``KLAVIYO_AUTH=oauth``: installs through Klaviyo OAuth, many accounts, tokens in a database."""
    client_id: str
    client_secret: Secret
    public_url: str                      # APP_PUBLIC_URL: where merchants reach the app
    authorize_url: str
    token_url: str
    revoke_url: str
    database_url: Secret                 # may carry a password
    token_keys: Secret                   # KLAVIYO_TOKEN_KEYS (crypto.Keyring)
    refresh_margin_seconds: float = 300.0
    session_seconds: float = 3600.0

    @property
    def redirect_uri(self) -> str:
        return self.public_url + "/oauth/callback"


@dataclass(frozen=True)
class AppConfig:
    private_key: Secret | None           # None in OAuth mode
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
    oauth: OAuthSettings | None = None   # set in OAuth mode

    @property
    def auth_mode(self) -> str:
        return OAUTH_MODE if self.oauth is not None else PRIVATE_KEY_MODE

    def secrets(self) -> list[str]:
        """Every secret value, for log redaction."""
        held = [self.private_key, self.webhook_secret, self.launchdarkly.sdk_key]
        if self.oauth is not None:
            held += [self.oauth.client_secret, self.oauth.token_keys, self.oauth.database_url]
            held += [Secret("key", part.partition(":")[2]) for part in self.oauth.token_keys.reveal().split(",")]
        return [s.reveal() for s in held if s is not None and s.reveal()]


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
    mode = environ.get("KLAVIYO_AUTH", "").strip() or PRIVATE_KEY_MODE
    if mode not in (PRIVATE_KEY_MODE, OAUTH_MODE):
        raise ConfigError(f"KLAVIYO_AUTH={mode!r} is invalid: expected {PRIVATE_KEY_MODE} or {OAUTH_MODE}")
    oauth = _oauth(environ, base_url or DEFAULT_KLAVIYO_HOST) if mode == OAUTH_MODE else None
    return AppConfig(
        private_key=_required_secret(environ, "KLAVIYO_PRIVATE_KEY") if oauth is None else None,
        oauth=oauth,
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


def _oauth(environ: Mapping[str, str], klaviyo: str) -> OAuthSettings:
    """OAuth mode's settings; token and revoke live on the API host, authorize on www (or the stand-in)."""
    client_id = environ.get("KLAVIYO_OAUTH_CLIENT_ID", "").strip()
    if not client_id:
        raise ConfigError("KLAVIYO_OAUTH_CLIENT_ID is not set: it is required with KLAVIYO_AUTH=oauth "
                          "(the client id of your app in Klaviyo)")
    public_url = _public_url(environ)
    default_authorize = DEFAULT_AUTHORIZE_URL if klaviyo == DEFAULT_KLAVIYO_HOST else klaviyo + "/oauth/authorize"
    return OAuthSettings(
        client_id=client_id,
        client_secret=_required_secret(environ, "KLAVIYO_OAUTH_CLIENT_SECRET"),
        public_url=public_url,
        authorize_url=_url(environ, "KLAVIYO_OAUTH_AUTHORIZE_URL", default_authorize),
        token_url=klaviyo + "/oauth/token",
        revoke_url=klaviyo + "/oauth/revoke",
        database_url=Secret("DATABASE_URL", environ.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL),
        token_keys=_required_secret(environ, "KLAVIYO_TOKEN_KEYS"),
        refresh_margin_seconds=_number(environ, "TOKEN_REFRESH_MARGIN_SECONDS", 300.0, minimum=0.0),
        session_seconds=_number(environ, "SESSION_SECONDS", 3600.0, minimum=1.0),
    )


def _public_url(environ: Mapping[str, str]) -> str:
    """APP_PUBLIC_URL: https, except on loopback (local runs) where http is accepted."""
    raw = _url(environ, "APP_PUBLIC_URL", "")
    if not raw:
        raise ConfigError("APP_PUBLIC_URL is not set: it is required with KLAVIYO_AUTH=oauth (the https "
                          "address merchants reach, e.g. https://sync.example.com; the redirect URI is "
                          "<APP_PUBLIC_URL>/oauth/callback)")
    if raw.startswith("http://") and urlsplit(raw).hostname not in LOOPBACK:
        raise ConfigError(f"APP_PUBLIC_URL={raw!r} is invalid: OAuth redirects and sessions need https:// "
                          "(http:// is accepted only for 127.0.0.1 or localhost)")
    return raw


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
