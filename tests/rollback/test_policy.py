"""Which mechanisms run, in what order (pure)."""
import pytest

from pipeline.rollback import policy
from pipeline.rollback.policy import PolicyError


def test_on_demand_puts_the_flag_first_and_dedupes():
    assert policy.on_demand(["git", "undo", "flag", "undo"], ("flag", "undo", "git")).mechanisms == (
        "flag", "git", "undo")


def test_on_demand_refuses_a_mechanism_the_environment_does_not_allow():
    with pytest.raises(policy.PolicyError, match="--via git: not allowed in this environment; its rollback.via "
                                                 "allows: flag, undo"):
        policy.on_demand(["undo", "git"], ("flag", "undo"))


def test_on_demand_defaults_to_the_configured_order():
    decision = policy.on_demand(None, ("undo", "flag"))
    assert decision.mechanisms == ("flag", "undo") and "rollback.via" in decision.why


def test_parse_via_rejects_unknown_and_empty():
    assert policy.parse_via("undo, git") == ("undo", "git")
    with pytest.raises(PolicyError, match="unknown mechanism 'helm'; accepted: flag, undo, git"):
        policy.parse_via("undo,helm")
    with pytest.raises(PolicyError, match="names no mechanism"):
        policy.parse_via(" , ")


@pytest.mark.parametrize("kind", sorted(policy.KLAVIYO_FACING))
def test_klaviyo_facing_failures_turn_the_flag_off_first(kind):
    decision = policy.automatic(kind, ("flag", "undo", "git"), "abc123")
    assert decision.mechanisms == ("flag", "undo", "git")


@pytest.mark.parametrize("kind", sorted(policy.OTHER_FAILURES))
def test_other_failures_roll_the_release_back_without_the_flag(kind):
    assert policy.automatic(kind, ("flag", "undo", "git"), "abc123").mechanisms == ("undo", "git")


def test_automatic_respects_configuration_and_needs_a_deploy_commit():
    decision = policy.automatic("server_errors", ("undo", "git"), None)
    assert decision.mechanisms == ("undo",)
    assert decision.skipped == ("flag: not in rollback.via", "git: no deploy commit recorded")
    assert policy.automatic("latency", ("flag", "undo"), "x", enabled=False).mechanisms == ()


def test_unknown_failure_kind_is_rejected():
    with pytest.raises(PolicyError, match="unknown failure kind 'boom'"):
        policy.automatic("boom", ("undo",), None)
