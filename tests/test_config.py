"""pipeline.toml is validated into dataclasses; every error names the setting."""
import pytest

from pipeline.config import ConfigError, load_config

ENV = {"KUBECONFIG": "/tmp/k", "SANDBOX_KLAVIYO_URL": "http://127.0.0.1:1",
       "SANDBOX_STATUS_URL": "http://127.0.0.1:2", "SANDBOX_LAUNCHDARKLY_URL": "http://127.0.0.1:3"}


def write(tmp_path, text):
    path = tmp_path / "pipeline.toml"
    path.write_text(text)
    return path


def test_repository_config_loads_every_environment():
    for env in ("local", "staging", "prod"):
        config = load_config(env, environ=ENV)
        assert config.name == env
    assert load_config("local", environ=ENV).klaviyo.base_url == "http://127.0.0.1:1"
    assert load_config("prod", environ=ENV).rollout.gates == ("1", "25%", "50%", "100%")


def test_environment_overrides_defaults_key_by_key(tmp_path):
    path = write(tmp_path, '[defaults.rollout]\nbake_seconds = 60\ngates = ["1"]\n'
                           '[env.a.rollout]\nbake_seconds = 5\n')
    config = load_config("a", path, environ={})
    assert config.rollout.bake_seconds == 5.0 and config.rollout.gates == ("1",)


@pytest.mark.parametrize("text, message", [
    ('[env.a.klaviyo]\nrevison = "2026-10-15"\n', "unknown setting env.a.klaviyo.revison"),
    ('[env.a.klaviyo]\nrevision = "15-10-2026"\n', "env.a.klaviyo.revision: '15-10-2026' is not a revision date"),
    ('[env.a.rollout]\nbake_seconds = "soon"\n', "env.a.rollout.bake_seconds must be float"),
    ('[env.a.rollout]\ngates = ["0%"]\n', "env.a.rollout.gates: '0%'"),
    ('[env.a.rollback]\nvia = ["pray"]\n', "env.a.rollback.via: unknown mechanism 'pray'"),
    ('[env.a.klaviyo]\nbase_url = "${NOPE}"\n', "env.a.klaviyo.base_url: variable ${NOPE} is not set"),
    ('[env.a]\nkube = 3\n', "env.a.kube must be a table"),
    ('[env.a\n', "is not valid TOML"),
])
def test_bad_settings_are_named(tmp_path, text, message):
    with pytest.raises(ConfigError, match=None) as error:
        load_config("a", write(tmp_path, text), environ={})
    assert message in str(error.value)


def test_unknown_environment_lists_the_known_ones(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_config("prd", write(tmp_path, "[env.prod]\n[env.staging]\n"), environ={})
    assert str(error.value) == "unknown environment 'prd' (--env): " + str(tmp_path / "pipeline.toml") + " defines prod, staging"


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config("a", tmp_path / "absent.toml")


def test_negative_whole_number_for_a_decimal_setting_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="env.a.rollout.bake_seconds must not be negative, got -1"):
        load_config("a", write(tmp_path, "[env.a.rollout]\nbake_seconds = -1\n"), environ={})


def test_name_is_not_a_setting(tmp_path):
    with pytest.raises(ConfigError, match="unknown setting env.a.name"):
        load_config("a", write(tmp_path, '[env.a]\nname = "b"\n'), environ={})
    with pytest.raises(ConfigError) as error:
        load_config("a", write(tmp_path, '[env.a]\nnope = 1\n'), environ={})
    assert "name" not in str(error.value).split("accepted here: ")[1].split(", ")
