"""FlagKillSwitch against the stand-in, with the app's own official SDK client watching."""
from __future__ import annotations

import dataclasses
import json

import httpx
import pytest

from pipeline.launchdarkly import LaunchDarklyApi
from pipeline.rollback.flag_kill_switch import FlagKillSwitch, RetryPolicy
from pipeline.rollback.result import Outcome
from pipeline.secrets import Secret
from tests.launchdarkly.conftest import FLAG, PROJECT, user

POLICY = RetryPolicy(jitter_seconds=0)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def switch(ld, sleeps=None, variables=None, **flags) -> FlagKillSwitch:
    config = ld.config(**flags)
    if variables is not None:
        config = dataclasses.replace(config, variables={**config.variables, **variables})
    return FlagKillSwitch(config, policy=POLICY, sleep=sleeps if sleeps is not None else Sleeps())


def no_secrets(ld, result) -> None:
    text = json.dumps(result.to_json(), default=str)
    assert ld.token not in text and ld.sdk_key not in text


def patches(ld) -> list[dict]:
    return [r for r in ld.requests() if r["method"] == "PATCH"]


def test_kill_switch_turns_the_flag_off_and_the_app_sees_it(ld, app_client, value_changes):
    result = switch(ld).execute("p95 latency 7.2 s > 5 s")
    assert result.outcome is Outcome.DONE, result.detail
    change = value_changes.wait(1)[0]
    assert (change.old_value, change.new_value) == (True, False)
    assert app_client.variation_detail(FLAG, user(), None).reason == {"kind": "OFF"}
    assert ld.flag()["environments"]["local"]["on"] is False
    data = result.data
    assert data["version_after"] > data["version_before"]
    assert data["sdk_ready"]
    assert data["served_reason"] == {"kind": "OFF"} and data["served_value"] is False
    assert 0 <= data["observed_after_seconds"] < 5
    assert "OFF" in result.detail and "after the PATCH" in result.detail
    [patch] = patches(ld)
    assert "domain-model=launchdarkly.semanticpatch" in patch["content_type"]
    assert patch["ld_api_version"] == "20240415"
    [audit] = httpx.get(ld.url + "/_sandbox/changes").json()
    assert "p95 latency 7.2 s > 5 s" in audit["comment"]
    no_secrets(ld, result)


def test_the_patch_goes_out_before_the_verifying_sdk_connects(ld):
    """Nothing delays the kill switch: the plan's client sends the PATCH, then the SDK connects
    (its stream request comes after the PATCH) and still verifies OFF from its first payload."""
    flag = switch(ld)
    assert not flag.plan().noop
    result = flag.execute("fast")
    assert result.outcome is Outcome.DONE and result.data["served_reason"] == {"kind": "OFF"}, result.detail
    log = [(r["method"], r["path"]) for r in ld.requests()]
    patch = log.index(("PATCH", f"/api/v2/flags/{PROJECT}/{FLAG}"))
    streams = [i for i, (method, path) in enumerate(log) if method == "GET" and path == "/all"]
    assert streams and min(streams) > patch, log
    assert [m for m, path in log if path.startswith("/api/v2/")] == ["GET", "GET", "PATCH"], log


def test_plan_reads_without_changing(ld):
    plan = switch(ld).plan()
    assert plan.mechanism == "flag" and not plan.noop
    assert "ON" in plan.current and plan.data["version"] == 1
    ld.turn(False)
    assert switch(ld).plan().noop
    assert patches(ld) == [patches(ld)[0]]


def test_already_off_is_already_and_sends_no_patch(ld):
    ld.turn(False)
    httpx.delete(ld.url + "/_sandbox/requests")
    result = switch(ld).execute("again")
    assert result.outcome is Outcome.ALREADY and result.ok
    assert result.data["served_reason"] == {"kind": "OFF"}
    assert patches(ld) == []


def test_dry_run_changes_nothing(ld):
    result = switch(ld).execute("what if", dry_run=True)
    assert result.outcome is Outcome.DRY_RUN and "would turn" in result.detail
    assert patches(ld) == [] and ld.flag()["environments"]["local"]["on"] is True


def test_conflicts_are_retried_with_backoff(ld):
    ld.scenario(conflicts=2)
    sleeps = Sleeps()
    result = switch(ld, sleeps).execute("conflict")
    assert result.outcome is Outcome.DONE, result.detail
    assert sleeps == [POLICY.backoff_initial_seconds, POLICY.backoff_initial_seconds * 2]
    assert len(result.data["retries"]) == 2 and "409" in result.data["retries"][0]
    assert len(patches(ld)) == 3


def test_endless_conflicts_fail(ld):
    ld.scenario(conflicts=POLICY.max_conflict_retries + 1)
    result = switch(ld).execute("conflict")
    assert result.outcome is Outcome.FAILED and "409" in result.detail
    assert ld.flag()["environments"]["local"]["on"] is True


def test_rate_limit_waits_retry_after(ld):
    ld.scenario(rate_limited=2, retry_after_seconds=3)
    sleeps = Sleeps()
    result = switch(ld, sleeps).execute("rate limited")
    assert result.outcome is Outcome.DONE, result.detail
    assert len(sleeps) == 2 and all(2 <= s <= 3.5 for s in sleeps)  # Retry-After 3 s, X-Ratelimit-Reset now+3 s


def test_rate_limit_longer_than_the_cap_fails_stating_the_wait(ld):
    ld.scenario(rate_limited=1, retry_after_seconds=120)
    sleeps = Sleeps()
    result = switch(ld, sleeps).execute("rate limited")
    assert result.outcome is Outcome.FAILED
    assert "120 s" in result.detail and "30 s" in result.detail
    assert sleeps == []


def test_approvals_required_creates_an_approval_request(ld, app_client, value_changes):
    ld.scenario(approvals_required={"local": True})
    result = switch(ld).execute("needs approval")
    assert result.outcome is Outcome.PENDING_APPROVAL and not result.ok
    request_id = result.data["approval_request_id"]
    assert request_id in result.detail and "approval" in result.detail
    assert ld.flag()["environments"]["local"]["on"] is True
    with LaunchDarklyApi(ld.url, Secret("t", ld.token)) as api:
        pending = api.get_approval_request(PROJECT, FLAG, "local", request_id)
        assert pending["status"] == "pending" and pending["instructions"] == [{"kind": "turnFlagOff"}]
        assert "needs approval" in pending["description"]
        api.review_approval_request(PROJECT, FLAG, "local", request_id, "approve")
        api.apply_approval_request(PROJECT, FLAG, "local", request_id, "approved at 3 a.m.")
    assert value_changes.wait(1)[0].new_value is False
    assert app_client.variation_detail(FLAG, user(), None).reason == {"kind": "OFF"}


def test_wrong_api_token_fails_clearly_without_the_token(ld):
    result = switch(ld, variables={"LAUNCHDARKLY_API_TOKEN": "api-not-the-right-one"}).execute("x")
    assert result.outcome is Outcome.FAILED
    assert "401" in result.detail and "LAUNCHDARKLY_API_TOKEN" in result.detail
    assert "api-not-the-right-one" not in json.dumps(result.to_json())
    assert ld.flag()["environments"]["local"]["on"] is True


def test_sdk_key_as_api_token_is_refused(ld):
    result = switch(ld, variables={"LAUNCHDARKLY_API_TOKEN": ld.sdk_key}).execute("x")
    assert result.outcome is Outcome.FAILED and "401" in result.detail
    no_secrets(ld, result)


def test_forbidden_token_fails_naming_the_role(ld):
    ld.scenario(forbidden=True)
    result = switch(ld).execute("x")
    assert result.outcome is Outcome.FAILED and "403" in result.detail and "role" in result.detail
    no_secrets(ld, result)


def test_missing_api_token_names_the_secret(ld):
    result = switch(ld, variables={"LAUNCHDARKLY_API_TOKEN": ""}).execute("x")
    assert result.outcome is Outcome.FAILED and "LAUNCHDARKLY_API_TOKEN not found" in result.detail


def test_missing_sdk_key_turns_off_but_reports_unverified(ld):
    result = switch(ld, variables={"LAUNCHDARKLY_SDK_KEY": ""}).execute("x")
    assert result.outcome is Outcome.FAILED and "not verified" in result.detail
    assert result.data["flag_changed"] is True
    assert ld.flag()["environments"]["local"]["on"] is False


def test_sdk_that_never_sees_off_fails_at_the_deadline(ld):
    staging_key = f"{ld.sdk_key}-{PROJECT}-staging"  # an SDK watching another environment
    result = switch(ld, variables={"LAUNCHDARKLY_SDK_KEY": staging_key},
                    observe_timeout_seconds=0.5).execute("x")
    assert result.outcome is Outcome.FAILED
    assert "did not serve OFF within 0.5 s" in result.detail
    no_secrets(ld, result)


def test_unreachable_api_fails_after_bounded_retries(ld):
    config = ld.config()
    config = dataclasses.replace(config, flags=dataclasses.replace(config.flags, api_url="http://127.0.0.1:9"))
    sleeps = Sleeps()
    result = FlagKillSwitch(config, policy=POLICY, sleep=sleeps).execute("x")
    assert result.outcome is Outcome.FAILED and "unavailable" in result.detail
    assert len(sleeps) == POLICY.max_unreachable_retries
    assert switch(ld).plan().current.startswith("flag")  # the real one still answers


def test_turn_back_on_after_a_fix(ld, app_client, value_changes):
    mechanism = switch(ld)
    assert mechanism.execute("broken").outcome is Outcome.DONE
    result = mechanism.turn_on("fixed in 1.4.1")
    assert result.outcome is Outcome.DONE, result.detail
    assert value_changes.wait(2)[1].new_value is True
    assert app_client.variation_detail(FLAG, user(), None).reason == {"kind": "FALLTHROUGH"}
    assert mechanism.turn_on("again").outcome is Outcome.ALREADY


def test_bad_environment_fails_by_name(ld):
    result = switch(ld, environment="mars").execute("x")
    assert result.outcome is Outcome.FAILED and "mars" in result.detail


@pytest.mark.parametrize("latency", [0.2])
def test_slow_api_still_completes(ld, latency):
    ld.scenario(latency_seconds=latency)
    result = switch(ld).execute("slow")
    assert result.outcome is Outcome.DONE
    assert result.duration_seconds >= 2 * latency
