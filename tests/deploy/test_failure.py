import pytest

from pipeline.deploy.failure import failure_kind
from pipeline.rollback.policy import FAILURE_KINDS, KLAVIYO_FACING
from pipeline.verify.verdict import Verdict


def verdict(name, passed=False, state=None, **data):
    return Verdict(name, "P1", "pod a /metrics", 1, 0, 60, state or ("pass" if passed else "fail"),
                   f"{name} detail", data)


@pytest.mark.parametrize("name, kind", [
    ("auth_errors", "auth_errors"), ("server_errors", "server_errors"), ("rate_limited", "throttling"),
    ("p95_latency", "latency"), ("webhook_signatures", "webhook_signatures"),
    ("metrics_unavailable", "verification_error"),
])
def test_metric_verdicts_map_to_policy_kinds(name, kind):
    assert failure_kind([verdict("health", True), verdict(name)]) == kind
    assert kind in FAILURE_KINDS


@pytest.mark.parametrize("data, kind", [
    ({"status": "down", "error": "401: Incorrect authentication credentials."}, "auth_errors"),
    ({"status": "down", "error": "403: You do not have permission"}, "auth_errors"),
    ({"status": "down", "error": "503: upstream"}, "server_errors"),
    ({"status": "degraded", "error": "429: throttled"}, "throttling"),
    ({"status": "down", "error": "connection refused"}, "health_check"),
    ({}, "health_check"),
])
def test_health_failures_are_classified_by_the_klaviyo_status(data, kind):
    assert failure_kind([verdict("health", **data)]) == kind


def test_klaviyo_facing_kinds_are_those_the_verdicts_produce():
    assert {"auth_errors", "server_errors", "throttling", "latency", "webhook_signatures"} == set(KLAVIYO_FACING)


def test_a_metric_failure_outranks_a_health_failure():
    assert failure_kind([verdict("health", status="down", error="timeout"), verdict("server_errors")]) == "server_errors"


def test_nothing_failed_is_an_error():
    with pytest.raises(ValueError):
        failure_kind([verdict("health", True)])


def test_inconclusive_alone_is_a_verification_error_and_a_breach_outranks_it():
    assert failure_kind([verdict("health", state="inconclusive", status="disabled")]) == "verification_error"
    assert failure_kind([verdict("health", state="inconclusive", status="disabled"),
                         verdict("inconclusive")]) == "verification_error"
    assert failure_kind([verdict("metrics_unavailable", state="inconclusive"),
                         verdict("auth_errors")]) == "auth_errors"
    assert failure_kind([verdict("interrupted")]) == "verification_error"


@pytest.mark.parametrize("kind", ["webhook_signatures", "health_check"])
def test_synthetic_webhook_failures_say_their_kind(kind):
    assert failure_kind([verdict("synthetic_webhook", kind=kind)]) == kind


def test_an_inconclusive_gate_takes_the_kind_of_a_metric_leaning_to_a_breach():
    slow = Verdict("p95_latency", "P2", "pod a /metrics", 6.2, 5.0, 8, "inconclusive", "p95 6.2s > 5s", {})
    quiet = Verdict("p95_latency", "P2", "pod a /metrics", None, 5.0, 8, "inconclusive", "no observations", {})
    assert failure_kind([slow, verdict("inconclusive")]) == "latency"
    assert failure_kind([quiet, verdict("inconclusive")]) == "verification_error"
