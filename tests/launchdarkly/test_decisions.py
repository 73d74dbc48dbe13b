"""Pure parts: retry decisions, Retry-After parsing, the REST flag parser."""
from email.utils import formatdate

import pytest

from pipeline.launchdarkly import LaunchDarklyError, flag_state, retry_after
from pipeline.rollback.flag_kill_switch import GiveUp, Retry, RetryPolicy, backoff, next_step, served_as_wanted

POLICY = RetryPolicy()


def error(status, wait=None):
    return LaunchDarklyError(status, "code", "message", wait)


def test_conflicts_back_off_then_give_up():
    waits = [next_step(error(409), n, POLICY).wait_seconds for n in range(POLICY.max_conflict_retries)]
    assert waits == sorted(waits) and waits[0] == POLICY.backoff_initial_seconds
    assert max(waits) <= POLICY.backoff_max_seconds
    assert isinstance(next_step(error(409), POLICY.max_conflict_retries, POLICY), GiveUp)


def test_rate_limit_waits_as_asked_up_to_the_cap():
    assert next_step(error(429, 2.5), 0, POLICY) == Retry(2.5, "429 rate limited: waiting 2.5 s as the server asks")
    assert next_step(error(429, None), 0, POLICY).wait_seconds == POLICY.default_rate_limit_wait_seconds
    over = next_step(error(429, 90), 0, POLICY)
    assert isinstance(over, GiveUp) and "90 s" in over.why and "30 s" in over.why
    assert isinstance(next_step(error(429, 1), POLICY.max_rate_limit_retries, POLICY), GiveUp)


def test_unreachable_and_5xx_retry_briefly():
    assert isinstance(next_step(error(0), 0, POLICY), Retry)
    assert isinstance(next_step(error(503), 1, POLICY), Retry)
    assert isinstance(next_step(error(503), POLICY.max_unreachable_retries, POLICY), GiveUp)


@pytest.mark.parametrize("status, words", [(401, "rejected"), (403, "role"), (404, "not found"), (400, "400")])
def test_other_refusals_are_not_retried(status, words):
    step = next_step(error(status), 0, POLICY)
    assert isinstance(step, GiveUp) and words in step.why


def test_backoff_doubles_and_caps():
    policy = RetryPolicy(backoff_initial_seconds=1, backoff_max_seconds=5)
    assert [backoff(n, policy) for n in range(5)] == [1, 2, 4, 5, 5]


def test_retry_after_takes_the_longer_of_both_headers():
    now = 1_000_000.0
    assert retry_after({"Retry-After": "3"}, now) == 3
    assert retry_after({"X-Ratelimit-Reset": str(int((now + 7) * 1000))}, now) == pytest.approx(7)
    assert retry_after({"Retry-After": "3", "X-Ratelimit-Reset": str(int((now + 7) * 1000))}, now) == pytest.approx(7)
    assert retry_after({"X-Ratelimit-Reset": str(int((now - 7) * 1000))}, now) == 0
    assert retry_after({"Retry-After": formatdate(now + 10, usegmt=True)}, now) == pytest.approx(10)
    assert retry_after({"Retry-After": "soon"}, now) is None
    assert retry_after({}, now) is None


def test_flag_state_reads_one_environment():
    flag = {"key": "k", "_version": 9, "variations": [{"value": True}, {"value": False}],
            "environments": {"production": {"on": False, "version": 4, "offVariation": 1, "lastModified": 5}}}
    state = flag_state(flag, "p", "production")
    assert (state.on, state.version, state.flag_version, state.off_value) == (False, 4, 9, False)
    assert "OFF" in state.describe()
    with pytest.raises(LaunchDarklyError, match="no environment 'staging'"):
        flag_state(flag, "p", "staging")


class Detail:
    def __init__(self, reason):
        self.reason = reason


def test_served_as_wanted():
    off, on = served_as_wanted(False), served_as_wanted(True)
    assert off(Detail({"kind": "OFF"})) and not off(Detail({"kind": "FALLTHROUGH"}))
    assert on(Detail({"kind": "FALLTHROUGH"})) and not on(Detail({"kind": "OFF"}))
    assert not on(Detail({"kind": "ERROR", "errorKind": "CLIENT_NOT_READY"}))
