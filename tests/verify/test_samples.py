"""Samples kept across scrape rounds (pure): spans, resets, late pods, the verifier's own probes."""
from __future__ import annotations

from pipeline.verify.prometheus_text import parse, series
from pipeline.verify.samples import SampleStore, increases, span_increase
from pipeline.verify.thresholds import SIGNATURE_FAILURES, measure

from deploy_parts.metrics_fixtures import AppMetrics

SERVER_500 = series("klaviyo_api_responses_total", endpoint="accounts", status="500")


def rounds(*scrapes_by_round, start=100.0, step=10.0):
    store = SampleStore(start)
    for index, results in enumerate(scrapes_by_round):
        store.record(start + index * step, {pod: parse(app.text()) if isinstance(app, AppMetrics) else app
                                            for pod, app in results.items()})
    return store


def test_increases_sum_consecutive_rounds_and_survive_a_restart():
    app = AppMetrics().respond("500", times=50)               # before the window: not counted
    store = SampleStore(0.0)
    store.record(0.0, {"web-1": parse(app.text())})
    app.respond("500", times=3)
    store.record(10.0, {"web-1": parse(app.text())})
    restarted = AppMetrics().respond("500", times=2)          # the pod restarted: counters from 0
    store.record(20.0, {"web-1": parse(restarted.text())})
    [pod] = increases(store, 0.0, {})
    assert pod.increases[SERVER_500] == 5 and pod.reset


def test_a_pod_first_scraped_later_counts_from_its_process_start():
    late = AppMetrics().respond("500", times=4)
    store = rounds({"web-1": AppMetrics()}, {"web-1": AppMetrics(), "web-2": late})
    by_pod = {p.pod: p for p in increases(store, store.started, {})}
    assert by_pod["web-2"].increases[SERVER_500] == 4
    assert not store.pods["web-2"].baseline and store.pods["web-1"].baseline


def test_a_failed_baseline_counts_from_the_process_start_and_a_failed_round_is_a_problem():
    app = AppMetrics().respond("500", times=4)
    store = rounds({"web-1": "pod web-1 /metrics: HTTP 503"}, {"web-1": app})
    [pod] = increases(store, store.started, {})
    assert pod.increases[SERVER_500] == 4 and store.problems() == []
    store.record(120.0, {"web-1": "pod web-1 /metrics: no answer (timeout)"})
    assert store.problems() == ["pod web-1 /metrics: no answer (timeout)"]


def test_a_span_starts_at_the_last_sample_at_or_before_since():
    app = AppMetrics()
    store = SampleStore(0.0)
    for at in (0.0, 30.0, 60.0, 90.0):
        store.record(at, {"web-1": parse(app.text())})
        app.respond("500", times=10)
    history = store.pods["web-1"]
    assert span_increase(history, 0.0).increases[SERVER_500] == 30
    assert span_increase(history, 30.0).increases[SERVER_500] == 20      # rounds at 30, 60, 90
    assert span_increase(history, 45.0).increases[SERVER_500] == 20      # still from 30
    assert span_increase(history, 60.0).increases[SERVER_500] == 10


def test_probes_count_only_between_the_spans_first_and_last_sample():
    app = AppMetrics()
    store = SampleStore(0.0)
    store.record(0.0, {"web-1": parse(app.text())})          # round 0
    app.signature_failures.inc()                              # the verifier's forged webhook, after round 0
    store.record(10.0, {"web-1": parse(app.text())})          # round 1 shows it
    history = store.pods["web-1"]
    assert span_increase(history, 0.0, [0]).self_inflicted_signature_failures == 1
    assert span_increase(history, 10.0, [0]).self_inflicted_signature_failures == 0   # not in that span
    assert span_increase(history, 0.0, [1]).self_inflicted_signature_failures == 0    # sent after the last round
    measured = measure(increases(store, 0.0, {"web-1": [0]}), 10.0)
    assert measured.webhook_signatures.value == 0 and measured.webhook_signatures.samples
    assert "verifier's own wrongly signed" in measured.notes[0]


def test_a_real_signature_failure_is_not_hidden_by_the_subtraction():
    app = AppMetrics()
    store = SampleStore(0.0)
    store.record(0.0, {"web-1": parse(app.text())})
    app.signature_failures.inc(2)                             # the probe's failure and a genuine one
    store.record(10.0, {"web-1": parse(app.text())})
    measured = measure(increases(store, 0.0, {"web-1": [0]}), 10.0)
    assert measured.webhook_signatures.value == 1
    assert (SIGNATURE_FAILURES, ()) in store.pods["web-1"].samples[-1].scrape
