"""The Prometheus provider's PromQL against a real Prometheus server (Debian's package).

Each "pod" is a real prometheus_client registry served over HTTP on loopback; Prometheus
scrapes it every second with the ``pod``/``namespace`` target labels the provider selects on.
The test moves the counters and waits (never sleeps a guess) until Prometheus has scraped
what it needs, then measures.
"""
from __future__ import annotations

import pytest
from prometheus_client import start_http_server

from pipeline.config import Thresholds
from pipeline.verify.judge import judge
from pipeline.verify.providers.prometheus import PrometheusProvider, duration
from tests.deploy_parts.metrics_fixtures import AppMetrics
from tests.prometheus_server import BINARY, SKIP_REASON, FileTargets, PrometheusServer
from tests.waiting import wait_for

pytestmark = pytest.mark.skipif(BINARY is None, reason=SKIP_REASON)
NAMESPACE = "shop"


class Pod:
    def __init__(self, name: str) -> None:
        self.name, self.metrics = name, AppMetrics()
        self.server, _ = start_http_server(0, "127.0.0.1", self.metrics.registry)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Prometheus scraping three pods (one has a dot in its name: the selector escapes it)."""
    directory = tmp_path_factory.mktemp("prometheus")
    pods = {name: Pod(name) for name in ("web-a", "web-b", "web.c")}
    targets = FileTargets(directory / "targets.json")
    targets.write([(pod.address, {"pod": pod.name, "namespace": NAMESPACE}) for pod in pods.values()])
    config = [{"job_name": "pods", "file_sd_configs": [{"files": [str(targets.path)], "refresh_interval": "1s"}]}]
    try:
        with PrometheusServer(config, directory) as prometheus:
            yield prometheus, pods
    finally:
        for pod in pods.values():
            pod.stop()


def scraped_after(prometheus, pod: Pod, value: float, metric: str = "klaviyo_api_responses_total") -> bool:
    result = prometheus.query(f'sum({metric}{{pod="{pod.name}"}})')
    return bool(result) and float(result[0]["value"][1]) >= value


def verdicts(reading):
    return {v.name: v for v in judge(reading.measurements, Thresholds(), reading.sources)}


def settle(provider, window, pods, until, what):
    """Observe and measure, as the verifier does once per round, until ``until(verdicts)``."""
    def reading():
        provider.observe(window, pods)
        found = verdicts(provider.measure(window))
        return found if until(found) else None
    return wait_for(reading, what, 30)


def plain_increase(prometheus, series: str, seconds: float) -> float:
    result = prometheus.query(f"sum(increase({series}[{duration(seconds)}]))")
    return float(result[0]["value"][1]) if result else 0.0


def test_a_healthy_pod_passes_on_evidence_and_statuses_without_series_count_zero(cluster):
    prometheus, pods = cluster
    pod = pods["web-a"]
    provider = PrometheusProvider(prometheus.url, NAMESPACE)
    wait_for(lambda: prometheus.scraped(pod.name, 2), "two scrapes of web-a")
    window = provider.begin([pod.name])
    pod.metrics.respond("200", 0.2, times=20)
    found = settle(provider, window, [pod.name], lambda f: all(v.passed for v in f.values()),
                   "every verdict of a healthy pod to pass")
    # no 401/429/5xx series at all: counted 0, not "no values"
    assert found["auth_errors"].value == 0 and found["server_errors"].value == 0
    assert found["auth_errors"].data["requests"] == 20     # exact: nothing extrapolated
    assert 0.1 < found["p95_latency"].value <= 0.25
    assert "increase(klaviyo_api_responses_total{" in found["auth_errors"].source


def test_the_first_401_of_a_pod_is_counted_although_its_series_starts_at_one(cluster):
    """increase() alone never sees the increment that created a series: the 401 series appears
    with value 1 and stays there. Counted from its first sample, it fails the threshold of 0."""
    prometheus, pods = cluster
    pod = pods["web.c"]
    pod.metrics.respond("200", times=10)
    wait_for(lambda: scraped_after(prometheus, pod, 10), "Prometheus to scrape web.c's responses", 30)
    provider = PrometheusProvider(prometheus.url, NAMESPACE)
    window = provider.begin([pod.name])
    pod.metrics.respond("401", times=1)
    series = f'klaviyo_api_responses_total{{pod="{pod.name}",status="401"}}'
    wait_for(lambda: len((prometheus.query(f"{series}[10s]") or [{"values": []}])[0]["values"]) >= 3,
             "three samples of the 401 series", 30)
    found = settle(provider, window, [pod.name], lambda f: f["auth_errors"].status == "fail",
                   "auth_errors to fail on the one 401")
    assert found["auth_errors"].value == 1
    assert plain_increase(prometheus, series, found["auth_errors"].window_seconds) == 0


def test_no_data_for_the_pods_is_no_values_never_a_pass(cluster):
    prometheus, _ = cluster
    wait_for(lambda: prometheus.scraped("web-a", 3), "Prometheus to hold scrapes of the other pods")
    for provider, pod in ((PrometheusProvider(prometheus.url, NAMESPACE), "web-zzz"),       # not scraped
                          (PrometheusProvider(prometheus.url, "another-namespace"), "web-a")):  # wrong namespace
        window = provider.begin([pod])
        provider.observe(window, [pod])
        reading = provider.measure(window)
        assert reading.measurements.requests is None
        assert {v.status for v in verdicts(reading).values()} == {"inconclusive"}


def test_server_errors_and_latency_over_the_thresholds_fail(cluster):
    prometheus, pods = cluster
    pod = pods["web-b"]
    wait_for(lambda: prometheus.scraped(pod.name, 2), "two scrapes of web-b")
    provider = PrometheusProvider(prometheus.url, NAMESPACE)
    window = provider.begin([pod.name])
    pod.metrics.respond("503", 6.0, times=30)
    found = settle(provider, window, [pod.name],
                   lambda f: f["server_errors"].status == "fail" and f["p95_latency"].status == "fail",
                   "server_errors and p95_latency to fail")
    assert found["p95_latency"].value > 5 and found["auth_errors"].passed


def scraped_since(prometheus, pod: Pod, started: float) -> bool:
    result = prometheus.query(f'timestamp(up{{pod="{pod.name}"}})')
    return bool(result) and float(result[0]["value"][1]) > started


def test_the_verifiers_own_refused_probe_leaves_exactly_zero(cluster):
    """One forged synthetic webhook refused by the pod inside the span, subtracted as the
    verifier's own: the verdict is 0 and passes (an extrapolated 1.14 - 1 = 0.14 would be a
    false breach); not subtracted, it is exactly 1."""
    prometheus, pods = cluster
    pod = pods["web-a"]
    provider = PrometheusProvider(prometheus.url, NAMESPACE)
    window = provider.begin([pod.name])
    wait_for(lambda: scraped_since(prometheus, pod, window.started), "a scrape of web-a inside the span")
    before = float(prometheus.query(f'klaviyo_webhook_signature_failures_total{{pod="{pod.name}"}}')[0]["value"][1])
    pod.metrics.signature_failures.inc()                  # the probe
    settle(provider, window, [pod.name],
           lambda f: scraped_after(prometheus, pod, before + 1, "klaviyo_webhook_signature_failures_total"),
           "the probe's failure to be scraped")
    found = verdicts(provider.measure(window, None, {pod.name: [0]}))
    assert found["webhook_signatures"].passed and found["webhook_signatures"].value == 0, found["webhook_signatures"]
    unsubtracted = verdicts(provider.measure(window))["webhook_signatures"]
    assert unsubtracted.status == "fail" and unsubtracted.value == 1


def test_a_probe_sent_before_the_span_is_not_counted_in_it(cluster):
    """A probe of the previous stage that Prometheus scrapes only after this span began (the bake
    after the last gate): the bake knows of no probe to subtract, so it must not count it."""
    prometheus, pods = cluster
    pod = pods["web-b"]
    wait_for(lambda: prometheus.scraped(pod.name, 2), "two scrapes of web-b")
    before = float(prometheus.query(f'klaviyo_webhook_signature_failures_total{{pod="{pod.name}"}}')[0]["value"][1])
    pod.metrics.signature_failures.inc()                  # the last gate's probe
    provider = PrometheusProvider(prometheus.url, NAMESPACE)
    window = provider.begin([pod.name])
    found = settle(provider, window, [pod.name],
                   lambda f: scraped_after(prometheus, pod, before + 1, "klaviyo_webhook_signature_failures_total")
                   and scraped_since(prometheus, pod, window.started + 1), "the probe to be scraped")
    assert found["webhook_signatures"].passed and found["webhook_signatures"].value == 0, found["webhook_signatures"]
