"""The verifier's gate and bake, judged continuously, on in-memory pods and a fake clock.

The real PodMetricsProvider and SyntheticWebhooks run over a fake pod proxy (tests/verify/fakes.py);
time moves only when the verifier waits, so the assertions count scrape rounds, never seconds of
wall clock."""
from __future__ import annotations

import threading
from collections import deque

from pipeline.config import Thresholds
from pipeline.deploy.verification import Verifier, VerifySettings, round_wait
from pipeline.secrets import Secret
from pipeline.verify.providers.pods import PodMetricsProvider
from pipeline.verify.synthetic import SyntheticWebhooks

from .fakes import PROXY_503, SECRET, FakeClock, FakePod, FakePods, quiet, steady


def verifier(pods: FakePods, synthetic: bool = True, interval: float = 1.0, min_requests: int = 5,
             accepted: bool = False, on_sleep=None) -> tuple[Verifier, FakeClock, threading.Event]:
    stop = threading.Event()
    clock = FakeClock(pods, stop, on_sleep)
    provider = PodMetricsProvider(pods, 8080, clock=clock)
    checker = SyntheticWebhooks(pods, 8080, "/webhooks/klaviyo", Secret("KLAVIYO_WEBHOOK_SIGNING_SECRET", SECRET))
    settings = VerifySettings(8080, "/health", Thresholds(), min_requests, interval, kill_switch_off_accepted=accepted)
    return (Verifier(pods, provider, settings, stop, checker if synthetic else None, clock=clock, sleep=clock.sleep),
            clock, stop)


def names(result):
    return {v.name: v for v in result.verdicts}


def test_a_good_release_passes_as_soon_as_the_evidence_is_there():
    pods = FakePods(web_1=FakePod(traffic=steady("200", per_second=2)))
    v, clock, _ = verifier(pods)
    result = v.gate("gate 1/3", ["web_1"], max_seconds=30)
    assert result.status == "pass" and result.passed and result.failure_kind is None
    assert result.rounds == 3 and result.seconds == 3                  # 2, 4, 6 requests: floor 5 met at round 3
    assert clock.sleeps == [1.0, 1.0, 1.0]                             # one scrape interval per round, no window
    assert names(result)["synthetic_webhook"].passed
    assert names(result)["webhook_signatures"].passed                   # the forged probe's failure was the verifier's
    assert "verifier's own wrongly signed" in names(result)["webhook_signatures"].data["notes"][0]
    # requests: baseline scrape, health, 2 webhooks, 3 scrape rounds: each pod scraped once per round
    assert result.requests == 1 + 1 + 2 + 3 == pods.requests
    assert pods.count("GET", "/metrics") == 4 and result.to_json()["status"] == "pass"


def test_a_breach_fails_at_once_not_at_the_end_of_the_window():
    pods = FakePods(web_1=FakePod(traffic=steady("500", per_second=2)))
    v, clock, _ = verifier(pods)
    result = v.gate("gate 1/3", ["web_1"], max_seconds=30)
    assert result.status == "fail" and result.failure_kind == "server_errors"
    assert result.rounds == 3 and clock.now - 1000 == 3                 # as soon as 5 requests back the 120/min
    assert names(result)["server_errors"].detail.startswith("5xx 120.0/min > 10/min over 3s")


def test_an_auth_error_fails_on_the_first_round():
    pods = FakePods(web_1=FakePod(traffic=steady("401", per_second=1)))
    v, _, _ = verifier(pods)
    result = v.gate("gate 1/3", ["web_1"], max_seconds=30)
    assert result.rounds == 1 and result.failure_kind == "auth_errors"


def test_no_evidence_by_the_deadline_is_a_failure_that_says_inconclusive():
    pods = FakePods(web_1=FakePod(traffic=quiet))
    v, _, _ = verifier(pods)
    result = v.gate("gate 1/3", ["web_1"], max_seconds=6)
    assert result.status == "fail" and not result.passed and result.rounds == 6 and result.seconds == 6
    assert result.detail.startswith("inconclusive after 6s: auth_errors: 401/403 0 <= 0 over 6s (no samples); ")
    assert "p95_latency: p95 latency: no latency observations over 6s: inconclusive (no samples)" in result.detail
    assert result.failure_kind == "verification_error"
    assert {v.status for n, v in names(result).items() if n in ("auth_errors", "p95_latency")} == {"inconclusive"}


def test_health_disabled_by_the_kill_switch_is_not_healthy():
    pods = FakePods(web_1=FakePod(health="disabled", traffic=quiet))
    v, _, _ = verifier(pods)
    result = v.health("gate 1/3", ["web_1"])
    assert result.status == "inconclusive" and not result.passed and result.failure_kind == "verification_error"
    assert v.health("after rollback", ["web_1"], kill_switch_off_accepted=True).passed   # the rollback turned it off
    gated = v.gate("gate 1/3", ["web_1"], max_seconds=3)
    assert gated.status == "fail" and "pod web_1: disabled by the kill switch; Klaviyo not probed" in gated.detail
    assert pods.count("GET", "/health") == 2 + 1 + 3                    # re-asked each round while inconclusive


def test_the_kill_switch_off_passes_only_when_the_operator_accepted_it():
    pods = FakePods(web_1=FakePod(health="disabled", traffic=quiet))
    v, _, _ = verifier(pods, accepted=True)
    result = v.gate("gate 1/3", ["web_1"], max_seconds=10)
    assert result.passed and result.rounds == 1
    assert "Klaviyo was not verified" in names(result)["health"].detail
    assert "not verified: the kill switch is OFF" in names(result)["server_errors"].detail


def test_the_kill_switch_waiver_does_not_apply_to_pods_that_call_klaviyo():
    pods = FakePods(web_1=FakePod(health="disabled", traffic=quiet), web_2=FakePod(traffic=quiet))
    v, _, _ = verifier(pods, accepted=True)
    assert v.gate("gate 2/3", ["web_1", "web_2"], max_seconds=2).status == "fail"


def test_a_pods_own_503_down_fails_at_once():
    # (retries of the proxy's own 503s: tests/verify/test_podproxy.py, through a real HTTP client)
    pods = FakePods(web_2=FakePod(health="down"))
    v, _, _ = verifier(pods)
    result = v.health("gate", ["web_2"])
    assert result.status == "fail" and result.failure_kind == "auth_errors" and result.requests == 1


def test_the_bad_webhook_secret_release_fails_the_synthetic_check_before_any_round():
    pods = FakePods(web_1=FakePod(webhook_secret="whsec_sandbox_fault_bad_webhook_secret"))
    v, _, _ = verifier(pods)
    result = v.gate("gate 1/3", ["web_1"], max_seconds=30)
    assert result.status == "fail" and result.rounds == 0 and result.failure_kind == "webhook_signatures"
    assert "signed with the environment's signing secret was refused" in result.detail


def test_without_the_synthetic_check_a_genuine_signature_failure_still_fails_the_metric():
    pod = FakePod()
    pods = FakePods(web_1=pod)
    v, _, _ = verifier(pods, synthetic=False,
                       on_sleep=lambda now: pod.metrics.signature_failures.inc() if now == 1001 else None)
    result = v.gate("gate 1/3", ["web_1"], max_seconds=30)
    assert result.failure_kind == "webhook_signatures" and result.rounds == 2


def test_stop_returns_at_once_with_an_interrupted_failure():
    pods = FakePods(web_1=FakePod(traffic=quiet))
    v, clock, stop = verifier(pods, on_sleep=lambda now: stop.set() if now >= 1002 else None)
    result = v.gate("gate 1/3", ["web_1"], max_seconds=60)
    assert result.interrupted and result.status == "fail" and result.failure_kind == "verification_error"
    assert result.rounds == 2 and clock.now == 1002
    assert names(result)["interrupted"].detail == "verification interrupted after 2.0s (stop requested)"


def test_the_bake_runs_its_whole_length_and_fails_at_once_on_a_breach():
    pod = FakePod()
    pods = FakePods(web_1=pod)
    v, clock, _ = verifier(pods, interval=5)
    result = v.bake("bake", lambda: ["web_1"], seconds=40)
    # a pass does not end the bake; while it passes, rounds thin out (5, 25, 40 s)
    assert result.passed and result.rounds == 3 and clock.now == 1040
    assert pods.count("GET", "/metrics") == 4 and pods.count("GET", "/health") == 2   # start and end
    assert pods.count("POST", "/webhooks/klaviyo") == 0

    pod.traffic = steady("429", per_second=1)
    result = v.bake("bake", lambda: ["web_1"], seconds=600)
    assert result.failure_kind == "throttling" and result.rounds == 1   # 5 x 429 in 5 s: > 5/min, floor met


def test_a_late_burst_in_a_long_bake_is_judged_over_the_last_minute():
    pod = FakePod()
    pods = FakePods(web_1=pod)

    def burst(now: float) -> None:
        if now >= 1300:
            pod.traffic = steady("500", per_second=0.25)                 # 15/min lately; 5/min over the bake
    v, clock, _ = verifier(pods, interval=10, on_sleep=burst)
    result = v.bake("bake", lambda: ["web_1"], seconds=600)
    assert result.failure_kind == "server_errors" and clock.now < 1400
    assert "over 60s" in names(result)["server_errors"].detail


def test_pods_that_appear_during_the_bake_are_measured_from_their_start():
    first, second = FakePod(), FakePod(traffic=steady("401", per_second=0.1))
    pods = FakePods(web_1=first, web_2=second)
    v, _, _ = verifier(pods, interval=5, on_sleep=None)
    current = ["web_1"]
    result = v.bake("bake", lambda: list(current), seconds=20)
    assert result.passed
    second.metrics.respond("401")                                         # before the next bake began
    current.append("web_2")
    result = v.bake("bake", lambda: list(current), seconds=20)
    assert result.failure_kind == "auth_errors"


def test_the_bake_ends_inconclusive_as_a_failure_when_the_floor_was_never_met():
    pods = FakePods(web_1=FakePod(traffic=steady("200", per_second=0.05)))
    v, _, _ = verifier(pods, interval=5, min_requests=5)
    result = v.bake("bake", lambda: ["web_1"], seconds=20)
    assert result.status == "fail" and result.detail.startswith("inconclusive after 20s")


def test_an_unreachable_metrics_source_is_inconclusive_then_a_failure():
    pod = FakePod()
    pods = FakePods(web_1=pod)
    v, _, _ = verifier(pods, synthetic=False)
    pod.queued["/metrics"] = deque([PROXY_503] * 10)      # baseline and every round fail
    result = v.gate("gate 1/3", ["web_1"], max_seconds=3)
    assert result.status == "fail" and result.failure_kind == "verification_error"
    assert "metrics_unavailable: metrics not readable: pod web_1 /metrics: HTTP 503 ServiceUnavailable" in result.detail


def test_no_pods_is_a_failure():
    v, _, _ = verifier(FakePods())
    assert v.gate("gate 1/3", [], max_seconds=5).status == "fail"
    assert v.health("after rollback", []).status == "fail"


def test_requests_per_bake_grow_with_scrape_rounds_only():
    def requests(seconds: float) -> int:
        pods = FakePods(web_1=FakePod(), web_2=FakePod())
        v, _, _ = verifier(pods, interval=5)
        return v.bake("bake", lambda: ["web_1", "web_2"], seconds=seconds).requests
    # 2 pods: a baseline and one scrape per round each, health at the start and the end; rounds at
    # 5, 10 s for a 10 s bake and 5, 25, 40 s for a 40 s one: four times the length, 2 more requests
    assert requests(10) == 2 * (1 + 2) + 2 * 2
    assert requests(40) == 2 * (1 + 3) + 2 * 2


def test_the_bake_scrapes_more_sparsely_while_everything_passes_and_resets_on_anything_else():
    from pipeline.deploy.verification import BAKE_MAX_INTERVAL_SECONDS, next_interval
    from pipeline.verify.verdict import FAIL, INCONCLUSIVE, PASS

    steps, interval = [], 1.0
    for _ in range(7):
        interval = next_interval(interval, PASS, 1.0)
        steps.append(interval)
    assert steps == [4.0, 16.0] + [BAKE_MAX_INTERVAL_SECONDS] * 5
    assert next_interval(16.0, INCONCLUSIVE, 1.0) == 1.0 and next_interval(16.0, FAIL, 1.0) == 1.0
    assert next_interval(0.5, PASS, 45.0) == 45.0          # never below the configured interval


def test_a_slow_release_fails_on_the_first_round_that_makes_its_p95_certain():
    """One observation above 5 s decides the p95 of the first 5 (the floor): no need to wait for
    the floor, nor for the window to end."""
    pods = FakePods(web_1=FakePod(traffic=steady("200", per_second=1, seconds=6.0)))
    v, clock, _ = verifier(pods)
    result = v.gate("gate 1/3", ["web_1"], max_seconds=30)
    assert result.status == "fail" and result.failure_kind == "latency" and result.rounds == 1
    assert "certain before the floor" in names(result)["p95_latency"].detail


def test_the_next_round_is_one_interval_after_the_last_scrape_not_after_the_health_check():
    assert round_wait(now=1000.0, last_scrape=999.5, interval=1.0, deadline=1030.0) == 0.5
    assert round_wait(now=1006.0, last_scrape=1000.0, interval=1.0, deadline=1030.0) == 0.0   # health took 6 s
    assert round_wait(now=1000.0, last_scrape=1000.0, interval=5.0, deadline=1002.0) == 2.0   # never past the deadline
