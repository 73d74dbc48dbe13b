"""Configuration from the environment: defaults, validation naming the variable, no secret leaks."""
from __future__ import annotations

import pytest

from app.support import APP_SOURCE  # noqa: F401
from klaviyo_sync.config import ConfigError, load_config

BASE = {"KLAVIYO_PRIVATE_KEY": "pk_" + "a" * 34, "KLAVIYO_WEBHOOK_SIGNING_SECRET": "whsec_abcdefabcdef"}


def test_defaults():
    config = load_config(BASE)
    assert (config.host, config.port, config.version) == ("0.0.0.0", 8080, "dev")
    assert config.sync_interval_seconds == 1.0 and config.health_cache_seconds == 10.0
    assert config.klaviyo_base_url == "" and config.launchdarkly.sdk_key is None
    assert config.launchdarkly.flag_key == "klaviyo-enabled"


def test_sandbox_urls_and_overrides():
    config = load_config({**BASE, "KLAVIYO_BASE_URL": "http://127.0.0.1:9/", "PORT": "9090",
                          "HOST": "127.0.0.1", "APP_VERSION": "1.4.0", "KLAVIYO_REVISION": "2026-07-15",
                          "LAUNCHDARKLY_SDK_KEY": "sdk-x", "LAUNCHDARKLY_STREAM_URI": "http://127.0.0.1:7"})
    assert config.klaviyo_base_url == "http://127.0.0.1:9" and config.port == 9090
    assert config.klaviyo_revision == "2026-07-15" and config.version == "1.4.0"
    assert config.launchdarkly.stream_uri == "http://127.0.0.1:7"
    assert config.launchdarkly.sdk_key is not None and config.launchdarkly.sdk_key.reveal() == "sdk-x"


def test_the_real_klaviyo_host_means_no_test_host():
    assert load_config({**BASE, "KLAVIYO_BASE_URL": "https://a.klaviyo.com"}).klaviyo_base_url == ""


@pytest.mark.parametrize("name, value", [
    ("PORT", "http"), ("PORT", "0"), ("PORT", "70000"), ("SYNC_INTERVAL_SECONDS", "fast"),
    ("SYNC_INTERVAL_SECONDS", "0"), ("HEALTH_CACHE_SECONDS", "-1"), ("KLAVIYO_BASE_URL", "a.klaviyo.com"),
    ("LAUNCHDARKLY_BASE_URI", "ftp://x"),
])
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        load_config({**BASE, name: value})


@pytest.mark.parametrize("name", ["KLAVIYO_PRIVATE_KEY", "KLAVIYO_WEBHOOK_SIGNING_SECRET"])
def test_required_secrets(name):
    env = {k: v for k, v in BASE.items() if k != name}
    with pytest.raises(ConfigError, match=name):
        load_config(env)


def test_config_repr_never_shows_secrets():
    config = load_config({**BASE, "LAUNCHDARKLY_SDK_KEY": "sdk-secret-value"})
    text = repr(config) + str(config) + f"{config.private_key}"
    for secret in (*BASE.values(), "sdk-secret-value"):
        assert secret not in text
    assert sorted(config.secrets()) == sorted([*BASE.values(), "sdk-secret-value"])
