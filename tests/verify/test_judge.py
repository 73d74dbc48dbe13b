"""The evidence rules (pure): no values is not zero, a floor of requests, certain breaches at once."""
from __future__ import annotations

import pytest

from pipeline.config import Thresholds
from pipeline.verify.judge import Evidence, judge, worst
from pipeline.verify.thresholds import Measured, Measurements
from pipeline.verify.verdict import FAIL, INCONCLUSIVE, PASS

SOURCES = {name: "pod web-1 /metrics" for name in
           ("auth_errors", "server_errors", "rate_limited", "p95_latency", "webhook_signatures")}


def measurements(requests=20.0, seconds=60.0, auth=0.0, server=0.0, throttled=0.0, p95=0.2, observations=None,
                 signatures=0.0, responses=True, buckets=True, signature_series=True):
    minutes = seconds / 60
    return Measurements(
        seconds, Measured(auth, responses, auth), Measured(server / minutes, responses, server),
        Measured(throttled / minutes, responses, throttled),
        Measured(p95, buckets, requests if observations is None else observations),
        Measured(signatures, signature_series, signatures), requests=requests if responses else None)


def by_name(m, floor=5, waiver=""):
    return {v.name: v for v in judge(m, Thresholds(), SOURCES, Evidence(floor, waiver))}


def test_enough_evidence_and_no_breach_passes():
    verdicts = by_name(measurements())
    assert all(v.status == PASS for v in verdicts.values())
    assert verdicts["auth_errors"].data["requests"] == 20 and verdicts["auth_errors"].data["min_requests"] == 5


def test_a_verdict_with_no_samples_is_inconclusive():
    verdicts = by_name(measurements(responses=False, buckets=False, signature_series=False, p95=None))
    assert {v.status for v in verdicts.values()} == {INCONCLUSIVE}
    assert verdicts["server_errors"].detail.endswith("(no samples)")
    assert verdicts["server_errors"].value is None             # no values is not zero


def test_a_missing_latency_is_inconclusive():
    verdict = by_name(measurements(p95=None, observations=0))["p95_latency"]
    assert verdict.status == INCONCLUSIVE and "no latency observations" in verdict.detail


def test_too_few_requests_is_inconclusive_and_names_the_floor():
    verdicts = by_name(measurements(requests=3, seconds=6), floor=5)
    for name in ("auth_errors", "server_errors", "rate_limited", "p95_latency"):
        assert verdicts[name].status == INCONCLUSIVE, name
        assert "floor 5 (rollout.min_requests)" in verdicts[name].detail
    assert verdicts["webhook_signatures"].status == PASS     # not request-based: the series is the evidence


def test_a_single_auth_error_fails_at_once_whatever_the_floor():
    verdict = by_name(measurements(requests=1, seconds=2, auth=1))["auth_errors"]
    assert verdict.status == FAIL and verdict.detail.startswith("401/403 1 > 0 over 2s")


@pytest.mark.parametrize("count,requests,status", [
    (2, 2, INCONCLUSIVE),      # 60/min extrapolated from 2 requests: not enough evidence yet
    (2, 6, FAIL),              # the same rate with the floor met
    (11, 11, FAIL),            # more than a whole minute allows: certain, floor or not
    (0, 6, PASS),
    (0, 2, INCONCLUSIVE),
])
def test_rate_breaches_need_the_floor_unless_certain(count, requests, status):
    verdict = by_name(measurements(requests=requests, seconds=2, server=count), floor=5)["server_errors"]
    assert verdict.status == status


def test_latency_needs_the_floor_both_ways():
    assert by_name(measurements(p95=7.4, observations=2), floor=5)["p95_latency"].status == INCONCLUSIVE
    assert by_name(measurements(p95=7.4, observations=5), floor=5)["p95_latency"].status == FAIL
    assert by_name(measurements(p95=0.3, observations=2), floor=5)["p95_latency"].status == INCONCLUSIVE


def test_signature_failures_fail_at_once():
    assert by_name(measurements(requests=0, signatures=1))["webhook_signatures"].status == FAIL


def test_the_operators_waiver_passes_missing_request_evidence_but_never_a_breach():
    waived = by_name(measurements(requests=0, responses=False, buckets=False, p95=None), waiver="kill switch OFF")
    assert all(waived[n].status == PASS and "not verified: kill switch OFF" in waived[n].detail
               for n in ("auth_errors", "server_errors", "rate_limited", "p95_latency"))
    assert waived["webhook_signatures"].status == PASS
    assert by_name(measurements(requests=1, auth=1), waiver="kill switch OFF")["auth_errors"].status == FAIL
    no_series = by_name(measurements(signature_series=False), waiver="kill switch OFF")["webhook_signatures"]
    assert no_series.status == INCONCLUSIVE


def test_worst_takes_a_recent_breach_over_the_whole_window():
    whole = judge(measurements(requests=600, seconds=600, server=60), Thresholds(), SOURCES)   # 6/min overall
    recent = judge(measurements(requests=60, seconds=60, server=60), Thresholds(), SOURCES)    # 60/min lately
    combined = {v.name: v for v in worst(whole, recent)}
    assert combined["server_errors"].status == FAIL and "over 60s" in combined["server_errors"].detail
    assert combined["auth_errors"].window_seconds == 600
    inconclusive_recent = judge(measurements(requests=1, seconds=60), Thresholds(), SOURCES)
    assert all(v.status == PASS for v in worst(whole[:1], inconclusive_recent))
