"""HTTPS enforced at configuration load; the opt-out is explicit and kept; errors never echo a secret."""
from __future__ import annotations

import pytest

from pipeline.config import SERVICE_URLS, ConfigError, http_opt_outs, load_config

KEY = "pk_" + "0123456789abcdef" * 2 + "ab"        # shaped like a real private key
TOKEN = "api-0123456789abcdef0123456789abcdef"


def write(tmp_path, text: str):
    path = tmp_path / "pipeline.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("key", SERVICE_URLS)
def test_every_service_url_must_be_https_outside_local(tmp_path, key):
    section, name = key.split(".")
    path = write(tmp_path, f'[env.prod.{section}]\n{name} = "http://svc.internal"\n')
    with pytest.raises(ConfigError) as refused:
        load_config("prod", path, environ={})
    assert str(refused.value).startswith(f"env.prod.{key} must be an https:// URL outside the local sandbox")


def test_local_may_use_http(tmp_path):
    path = write(tmp_path, '[env.local.klaviyo]\nbase_url = "http://127.0.0.1:9"\n')
    assert load_config("local", path, environ={}).klaviyo.base_url == "http://127.0.0.1:9"


def test_the_opt_out_names_the_setting_and_keeps_its_reason(tmp_path):
    path = write(tmp_path, '[env.staging.https]\nallow_http = ["klaviyo.status_page_url"]\n'
                           'reason = "status mirror inside the VPC"\n'
                           '[env.staging.klaviyo]\nstatus_page_url = "http://status.internal"\n')
    config = load_config("staging", path, environ={})
    assert http_opt_outs(config) == ("klaviyo.status_page_url",)
    assert config.https.reason == "status mirror inside the VPC"
    other = write(tmp_path, '[env.staging.https]\nallow_http = ["klaviyo.status_page_url"]\nreason = "x"\n'
                            '[env.staging.flags]\napi_url = "http://ld.internal"\n')
    with pytest.raises(ConfigError, match="env.staging.flags.api_url must be an https:// URL"):
        load_config("staging", other, environ={})


def test_rollback_via_flag_never_gets_an_http_launchdarkly_url(tmp_path):
    """The issue: `invoke rollback --env prod --via flag` sent the LaunchDarkly token over HTTP."""
    path = write(tmp_path, '[env.prod.flags]\napi_url = "${LD_URL}"\n')
    with pytest.raises(ConfigError) as refused:
        load_config("prod", path, environ={"LD_URL": "http://ld.example.com", "LAUNCHDARKLY_API_TOKEN": TOKEN})
    assert "env.prod.flags.api_url must be an https:// URL" in str(refused.value)
    assert "ld.example.com" not in str(refused.value)


@pytest.mark.parametrize("text", [
    '[env.prod.klaviyo]\nrate_limit_floor = "${KLAVIYO_PRIVATE_KEY}"\n',
    '[env.prod.klaviyo]\nrevision = "${KLAVIYO_PRIVATE_KEY}"\n',
    '[env.prod.rollout]\ngates = ["${KLAVIYO_PRIVATE_KEY}"]\n',
    '[env.prod.rollback]\nvia = ["${KLAVIYO_PRIVATE_KEY}"]\n',
    '[env.prod.secrets]\nprivate_key = "${KLAVIYO_PRIVATE_KEY}"\n',
    f'[env.prod.secrets]\nprivate_key = "{KEY}"\n',
])
def test_configuration_errors_never_echo_a_secret(tmp_path, text):
    """Before: `env.prod.klaviyo.rate_limit_floor must be int, got 'pk_...'` printed the key."""
    with pytest.raises(ConfigError) as refused:
        load_config("prod", write(tmp_path, text), environ={"KLAVIYO_PRIVATE_KEY": KEY})
    message = str(refused.value)
    assert KEY not in message and "pk_0123" not in message
    assert message.startswith("env.prod.")
