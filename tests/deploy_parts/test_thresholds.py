"""Thresholds over two scrapes: counters, resets, absent series, histogram_quantile, verdict text.

The evidence rules themselves (floors, inconclusive) are tested in tests/verify/test_judge.py;
here the floor is 1 request, so the arithmetic decides."""
from __future__ import annotations

import math

import pytest

from pipeline.config import Thresholds
from pipeline.verify.prometheus_text import MetricsParseError, parse, series
from pipeline.verify.judge import Evidence, judge
from pipeline.verify.thresholds import PodScrapes, histogram_quantile, increase, measure_pods
from pipeline.verify.verdict import INCONCLUSIVE

from .metrics_fixtures import AppMetrics

INF = math.inf


def verdicts_for(pods, window=60.0, thresholds=Thresholds()):
    measured = measure_pods(pods, window)
    sources = {name: f"pod {', '.join(p.pod for p in pods)} /metrics" for name in
               ("auth_errors", "server_errors", "rate_limited", "p95_latency", "webhook_signatures")}
    return {v.name: v for v in judge(measured, thresholds, sources, Evidence(min_requests=1))}


def window(start: AppMetrics | None, act, pod="web-1"):
    """Scrape, let ``act`` change the metrics, scrape again."""
    app = start or AppMetrics()
    before = parse(app.text())
    act(app)
    return PodScrapes(pod, before, parse(app.text()))


def test_parse_real_exposition_text():
    app = AppMetrics().respond("200", 0.2, 3).respond("401")
    scrape = parse(app.text())
    assert scrape[series("klaviyo_api_responses_total", endpoint="accounts", status="200")] == 3
    assert scrape[series("klaviyo_api_request_duration_seconds_bucket", endpoint="accounts", le="+Inf")] == 4
    assert scrape[series("klaviyo_api_request_duration_seconds_bucket", endpoint="accounts", le="0.25")] == 4


def test_parse_error_names_the_source():
    with pytest.raises(MetricsParseError, match="pod web-1 /metrics"):
        parse("klaviyo_api_responses_total{status= 1", "pod web-1 /metrics")


def test_quiet_window_passes_everything():
    verdicts = verdicts_for([window(AppMetrics().respond("200", times=5), lambda a: a.respond("200", 0.2, 10))])
    assert all(v.passed for v in verdicts.values())
    assert verdicts["server_errors"].detail == "5xx 0.0/min <= 10/min over 60s (0 in the window)"
    assert verdicts["p95_latency"].value == pytest.approx(0.1 + 0.15 * (0.95 * 10 - 0) / 10)


def test_server_errors_over_threshold_p1():
    pod = window(None, lambda a: a.respond("500", times=14).respond("200", times=20))
    verdict = verdicts_for([pod])["server_errors"]
    assert not verdict.passed and verdict.severity == "P1"
    assert verdict.value == 14.0 and verdict.threshold == 10.0 and verdict.window_seconds == 60
    assert verdict.detail.startswith("5xx 14.0/min > 10/min over 60s")
    assert verdict.source == "pod web-1 /metrics"


def test_rates_are_per_minute_of_the_window():
    pod = window(None, lambda a: a.respond("503", times=14))
    assert verdicts_for([pod], window=120)["server_errors"].value == 7.0      # 14 in 2 min
    assert verdicts_for([pod], window=120)["server_errors"].passed
    pod = window(None, lambda a: a.respond("429", times=6))
    assert not verdicts_for([pod])["rate_limited"].passed                   # 6/min > 5/min, P2
    assert verdicts_for([pod])["rate_limited"].severity == "P2"
    assert verdicts_for([pod], window=90)["rate_limited"].passed            # 4/min


def test_no_response_counts_as_unreachable():
    pod = window(None, lambda a: a.respond("error", times=11))
    verdict = verdicts_for([pod])["server_errors"]
    assert not verdict.passed and "11 without response" in verdict.detail


def test_any_auth_error_fails_p1():
    pod = window(AppMetrics().respond("401", times=3), lambda a: a.respond("403"))
    verdict = verdicts_for([pod])["auth_errors"]
    assert not verdict.passed and verdict.value == 1 and verdict.severity == "P1"
    assert "key may be revoked" in verdict.detail
    # errors before the window do not count
    pod = window(AppMetrics().respond("401", times=3), lambda a: a.respond("200"))
    assert verdicts_for([pod])["auth_errors"].passed


def test_auth_threshold_is_configurable():
    pod = window(None, lambda a: a.respond("401", times=2))
    assert verdicts_for([pod], thresholds=Thresholds(auth_errors_max=2))["auth_errors"].passed


def test_counters_sum_across_pods_and_endpoints():
    a = window(None, lambda m: m.respond("500", times=6, endpoint="profiles"), pod="web-1")
    b = window(None, lambda m: m.respond("502", times=6, endpoint="events"), pod="web-2")
    verdict = verdicts_for([a, b])["server_errors"]
    assert verdict.value == 12 and not verdict.passed


def test_counter_reset_counts_the_end_value_and_is_noted():
    before = parse(AppMetrics().respond("500", times=50).text())           # pod before restart
    after = parse(AppMetrics().respond("500", times=4).text())             # restarted: counters low
    verdicts = verdicts_for([PodScrapes("web-1", before, after)])
    assert verdicts["server_errors"].value == 4
    assert "counter reset on pod web-1" in verdicts["server_errors"].data["notes"][0]


def test_series_absent_at_start_or_pod_new():
    pod = window(AppMetrics().respond("200"), lambda a: a.respond("500", times=11))  # new series
    assert verdicts_for([pod])["server_errors"].value == 11
    fresh = PodScrapes("web-9", None, parse(AppMetrics().respond("429", times=6).text()))  # pod started in window
    assert verdicts_for([fresh])["rate_limited"].value == 6


def test_absent_metrics_say_no_samples_and_are_inconclusive():
    verdicts = verdicts_for([PodScrapes("web-1", {}, {})])
    assert all(v.status == INCONCLUSIVE and not v.passed for v in verdicts.values())
    assert verdicts["auth_errors"].detail.endswith("(no samples)")
    assert verdicts["webhook_signatures"].detail.endswith("(no samples)")
    assert verdicts["p95_latency"].value is None and "no samples" in verdicts["p95_latency"].detail


def test_webhook_signature_failure_fails_p2():
    def act(app: AppMetrics):
        app.signature_failures.inc()
    verdict = verdicts_for([window(None, act)])["webhook_signatures"]
    assert not verdict.passed and verdict.severity == "P2" and verdict.value == 1


def test_p95_latency_from_buckets():
    pod = window(None, lambda a: a.respond("200", 7.0, times=10))   # all in (5, 7.5]
    verdict = verdicts_for([pod])["p95_latency"]
    assert not verdict.passed and verdict.severity == "P2"
    assert verdict.value == pytest.approx(5 + 2.5 * 0.95)
    assert verdict.detail.startswith("p95 latency 7.38s > 5s over 60s")
    pod = window(None, lambda a: a.respond("200", 0.07, times=100))
    assert verdicts_for([pod])["p95_latency"].value == pytest.approx(0.05 + 0.05 * 0.95)


def test_window_must_be_positive():
    with pytest.raises(ValueError, match="window_seconds"):
        measure_pods([], 0)


@pytest.mark.parametrize("start,end,expected", [
    (None, 5, (5, False)), (3, 5, (2, False)), (7, 2, (2, True)), (4, None, (0, True)),
    (0, None, (0, False)), (None, None, (0, False)), (5, 5, (0, False)),
])
def test_increase(start, end, expected):
    assert increase(start, end) == expected


# histogram_quantile: cases worked as Prometheus's bucketQuantile does them
@pytest.mark.parametrize("q,buckets,expected", [
    (0.5, [(1, 10), (2, 20), (INF, 20)], 1.0),
    (0.95, [(1, 10), (2, 20), (INF, 20)], 1.9),
    (0.95, [(0.1, 0), (0.5, 50), (1, 100), (INF, 100)], 0.95),
    (0.5, [(0.1, 0), (0.5, 50), (1, 100), (INF, 100)], 0.5),
    (0.99, [(1, 10), (2, 10), (INF, 20)], 2.0),          # rank in +Inf: highest finite bound
    (0.25, [(1, 4), (INF, 4)], 0.25),                    # first bucket starts at 0
    (0.5, [(-1, 2), (1, 4), (INF, 4)], -1.0),            # first bound <= 0 returned as is
    (0.5, [(1, 10), (INF, 0)], 0.5),                     # +Inf forced monotonic up to 10
    (0.5, [(1, 0), (INF, 0)], math.nan),
    (0.5, [(INF, 5)], math.nan),                         # fewer than two buckets
    (0.5, [(1, 5), (2, 5)], math.nan),                   # no +Inf
    (-0.1, [(1, 5), (INF, 5)], -INF),
    (1.1, [(1, 5), (INF, 5)], INF),
    (0.5, [(2, 20), (1, 10), (INF, 20)], 1.0),           # order does not matter
    (0.5, [(1, 5), (1, 5), (2, 20), (INF, 20)], 1.0),    # same le from two series: summed
    (0.5, [(1, 10), (2, 8), (INF, 20)], 1.0),            # non-monotonic fixed upward
])
def test_histogram_quantile(q, buckets, expected):
    result = histogram_quantile(q, buckets)
    if isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(result)
    else:
        assert result == pytest.approx(expected)
