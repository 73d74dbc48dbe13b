"""Early certain failure (pure): a breach decided before the floor never disagrees with the
verdict the full evidence gives, and nothing passes below the floor."""
from __future__ import annotations

import math

from hypothesis import given, settings, strategies as st

from pipeline.config import Thresholds
from pipeline.verify.certainty import certainly_over, latency_certain, minutes_covering, rate_certain
from pipeline.verify.judge import Evidence, judge
from pipeline.verify.thresholds import (DURATION_BUCKETS, RESPONSES, Measured, Measurements, PodIncrease,
                                        histogram_quantile, measure)
from pipeline.verify.verdict import FAIL, PASS

APP_BOUNDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0)     # the sample app's latency buckets
THRESHOLD = Thresholds().p95_latency_seconds_max                   # the checklist's 5 s
REQUEST_BASED = ("auth_errors", "server_errors", "rate_limited", "p95_latency")


def cumulative(bounds, per_bucket):
    """(le, cumulative count) from per-bucket counts; the last bucket is +Inf."""
    out, total = [], 0
    for bound, count in zip(list(bounds) + [math.inf], per_bucket):
        total += count
        out.append((bound, float(total)))
    return out


def pod(bounds, per_bucket, status="200"):
    """One pod's increases: the latency histogram and as many responses as observations."""
    series = {(DURATION_BUCKETS, (("endpoint", "events"), ("le", "+Inf" if math.isinf(b) else repr(b)))): c
              for b, c in cumulative(bounds, per_bucket)}
    series[(RESPONSES, (("endpoint", "events"), ("status", status)))] = float(sum(per_bucket))
    return PodIncrease("web-1", series)


def p95_verdict(bounds, per_bucket, floor, seconds=10.0):
    verdicts = judge(measure([pod(bounds, per_bucket)], seconds), Thresholds(), {}, Evidence(floor))
    return next(v for v in verdicts if v.name == "p95_latency")


@st.composite
def histograms(draw):
    """Bucket bounds (the threshold sometimes one of them), a floor, what was seen below it and a
    completion of the rest: (bounds, threshold, floor, seen, completion), counts per bucket."""
    bounds = sorted(set(draw(st.lists(st.sampled_from([0.1, 0.5, 1.0, 2.5, 4.0, 5.0, 6.0, 7.5, 10.0, 30.0]),
                                      min_size=1, max_size=6))))
    threshold = draw(st.sampled_from(bounds + [0.3, 3.0, 5.0, 8.0, 50.0]))
    floor = draw(st.integers(1, 40))
    size = len(bounds) + 1
    seen_total = draw(st.integers(1, floor - 1)) if floor > 1 else 0
    seen = spread(draw, seen_total, size)
    completion = spread(draw, floor - seen_total, size)
    return bounds, threshold, floor, seen, completion


def spread(draw, total, size):
    """``total`` observations placed into ``size`` buckets, any way."""
    counts = [0] * size
    for _ in range(total):
        counts[draw(st.integers(0, size - 1))] += 1
    return counts


def quantile(bounds, per_bucket):
    return histogram_quantile(0.95, cumulative(bounds, per_bucket))


@settings(max_examples=600, deadline=None)
@given(histograms())
def test_a_certain_latency_breach_holds_for_every_completion_of_the_floor(case):
    bounds, threshold, floor, seen, completion = case
    if not latency_certain(cumulative(bounds, seen), threshold, floor):
        return
    worst = [seen[0] + floor - sum(seen)] + seen[1:]        # every remaining observation as fast as can be
    for final in (worst, [a + b for a, b in zip(seen, completion)]):
        assert sum(final) == floor
        assert quantile(bounds, final) > threshold, (seen, final)


@settings(max_examples=300, deadline=None)
@given(histograms())
def test_with_the_threshold_a_bucket_bound_the_rule_is_exact(case):
    """Not certain -> some completion (all remaining observations in the lowest bucket) keeps the
    p95 at or below the threshold: the judge fails no later than the evidence allows."""
    bounds, _, floor, seen, _ = case
    threshold = bounds[-1] if len(bounds) == 1 else bounds[len(bounds) // 2 - 1]
    if floor < 2 or latency_certain(cumulative(bounds, seen), threshold, floor):
        return
    worst = [seen[0] + floor - sum(seen)] + seen[1:]
    assert quantile(bounds, worst) <= threshold


@settings(max_examples=300, deadline=None)
@given(st.integers(2, 30), st.data())
def test_the_judge_fails_early_only_when_the_full_evidence_fails(floor, data):
    """Through measure() and judge(), with the sample app's buckets and the checklist's 5 s."""
    size = len(APP_BOUNDS) + 1
    seen = spread(data.draw, data.draw(st.integers(1, floor - 1)), size)
    early = p95_verdict(APP_BOUNDS, seen, floor)
    assert early.status != PASS                               # below the floor: never a pass
    if early.status != FAIL:
        return
    assert early.data["certain_over"] > 0 and "certain before the floor" in early.detail
    completion = spread(data.draw, floor - sum(seen), size)
    worst = [seen[0] + floor - sum(seen)] + seen[1:]
    for final in (worst, [a + b for a, b in zip(seen, completion)]):
        assert p95_verdict(APP_BOUNDS, final, floor).status == FAIL


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 30), st.data())
def test_nothing_request_based_passes_below_the_floor(floor, data):
    requests = data.draw(st.integers(0, floor - 1))
    minutes = data.draw(st.floats(0.05, 3.0))
    counts = [data.draw(st.integers(0, requests)) for _ in range(3)]
    p95 = data.draw(st.one_of(st.none(), st.floats(0.0, 20.0)))
    observations = data.draw(st.integers(0, requests))
    m = Measurements(minutes * 60, Measured(float(counts[0]), True, float(counts[0])),
                     Measured(counts[1] / minutes, True, float(counts[1])),
                     Measured(counts[2] / minutes, True, float(counts[2])),
                     Measured(p95, True, float(observations), buckets=((5.0, 0.0), (math.inf, float(observations)))),
                     Measured(0.0, True, 0.0), requests=float(requests))
    for verdict in judge(m, Thresholds(), {}, Evidence(floor)):
        if verdict.name in REQUEST_BASED:
            assert verdict.status != PASS, verdict.detail


@settings(max_examples=400, deadline=None)
@given(st.lists(st.floats(0.0, 200.0), min_size=0, max_size=40), st.integers(0, 12), st.floats(1.0, 200.0))
def test_a_certain_rate_breach_is_a_minute_above_the_maximum(times, maximum, window):
    """Events at any times inside the span: "certain" means some 60 s holds more than the maximum."""
    inside = [t for t in times if t <= window]
    if not rate_certain(len(inside), maximum, window):
        return
    busiest = max(sum(1 for t in inside if start <= t < start + 60) for start in inside)
    assert busiest > maximum


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 30), st.floats(1.0, 60.0), st.integers(0, 40), st.floats(0.0, 1.0))
def test_a_certain_rate_breach_below_the_floor_stays_a_breach_with_the_floor_met(count, seconds, more, later):
    """Within a minute: 5xx only accumulate, so the full evidence (more requests, more 5xx, a span
    still inside that minute) fails whenever the early verdict failed."""
    def verdict(errors, span, requests, floor=50):
        m = Measurements(span, Measured(0.0, True, 0.0), Measured(errors / (span / 60), True, float(errors)),
                         Measured(0.0, True, 0.0), Measured(None, False, 0.0), Measured(0.0, True, 0.0),
                         requests=float(requests))
        return next(v for v in judge(m, Thresholds(), {}, Evidence(floor)) if v.name == "server_errors")

    early = verdict(count, seconds, count)
    assert early.status != PASS
    if early.status == FAIL:
        final_span = seconds + (60.0 - seconds) * later
        assert verdict(count + more, final_span, 50 + more).status == FAIL


def test_one_slow_observation_decides_the_p95_of_a_floor_of_five():
    """The sample app's slow release: its first 6 s observation fails the gate (floor 5)."""
    one_slow = [0] * 7 + [1, 0, 0]                  # one observation in (5, 7.5]
    verdict = p95_verdict(APP_BOUNDS, one_slow, 5)
    assert verdict.status == FAIL and verdict.data["certain_over"] == 1
    assert p95_verdict(APP_BOUNDS, one_slow, 25).status != FAIL     # 1 of 25 is 4 %: not decided


def test_observations_in_the_bucket_holding_the_threshold_are_not_counted_as_over():
    bounds = (2.5, 7.5)                              # 5 s lies inside (2.5, 7.5]
    assert certainly_over(cumulative(bounds, [0, 4, 0]), 5.0) == 0
    assert certainly_over(cumulative(bounds, [0, 4, 2]), 5.0) == 2
    assert certainly_over(cumulative((1.0, 5.0), [0, 0, 3]), 5.0) == 0   # +Inf reports 5 s: not above


def test_without_buckets_nothing_is_certain():
    m = Measured(7.4, True, 2.0)                     # e.g. a provider that reports only the p95
    assert certainly_over(m.buckets, 5.0) == 0 and not latency_certain(m.buckets, 5.0, 5)
