"""flags/ as code: the shipped definitions load, and bad definitions are refused by name."""
from pathlib import Path

import pytest

from pipeline.flags import FlagDefinitionError, load_file, load_project, load_projects, parse_project

REPO = Path(__file__).resolve().parents[2]
ENVS = ["local", "staging", "production"]


def project(**flag):
    base = {"variations": [True, False], "offVariation": 1, "fallthrough": 0, "targeting": True}
    return {"project": "p", "environments": ENVS, "flags": {"f": {**base, **flag}}}


def test_shipped_kill_switch_is_a_boolean_on_everywhere_serving_false_when_off():
    definition = load_project("klaviyo-sync", REPO / "flags").flag("klaviyo-enabled")
    assert definition.variations == (True, False)
    assert definition.off_variation == 1 and definition.off_value is False
    assert definition.on_value is True
    assert definition.on == {"local": True, "staging": True, "production": True}
    assert definition.is_kill_switch


def test_shipped_project_has_the_pipeline_environments():
    assert set(ENVS) <= set(load_projects(REPO / "flags")["klaviyo-sync"].environments)


def test_json_files_are_accepted(tmp_path):
    import json
    (tmp_path / "p.json").write_text(json.dumps(project()))
    assert load_projects(tmp_path)["p"].flag("f").on["staging"] is True


def test_targeting_per_environment_must_name_every_environment():
    with pytest.raises(FlagDefinitionError, match=r"flags\.f\.targeting.*production"):
        parse_project(project(targeting={"local": True, "staging": False}), "x.yaml")


def test_yaml_bare_on_key_gets_a_hint(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("project: p\nenvironments: [local]\nflags:\n  f:\n    offVariation: 1\n    on: true\n")
    with pytest.raises(FlagDefinitionError, match="targeting"):
        load_file(path)


@pytest.mark.parametrize("change, field", [
    ({"offVariation": 2}, "offVariation"),
    ({"offVariation": None}, "offVariation"),
    ({"variations": [1, 0]}, "variations"),
    ({"kind": "string"}, "kind"),
    ({"colour": "red"}, "colour"),
    ({"targeting": {"local": "yes", "staging": True, "production": True}}, "targeting.local"),
])
def test_bad_flag_fields_are_named(change, field):
    with pytest.raises(FlagDefinitionError, match=field):
        parse_project(project(**change), "x.yaml")


def test_kill_switch_must_serve_false_when_off():
    with pytest.raises(FlagDefinitionError, match="kill-switch"):
        parse_project(project(tags=["kill-switch"], offVariation=0), "x.yaml")


def test_unknown_project_names_the_known_ones(tmp_path):
    with pytest.raises(FlagDefinitionError, match="klaviyo-sync"):
        load_project("nope", REPO / "flags")


def test_missing_directory_and_bad_yaml(tmp_path):
    with pytest.raises(FlagDefinitionError, match="not found"):
        load_projects(tmp_path / "absent")
    (tmp_path / "bad.yaml").write_text("project: [\n")
    with pytest.raises(FlagDefinitionError, match="bad.yaml: not valid YAML"):
        load_projects(tmp_path)
