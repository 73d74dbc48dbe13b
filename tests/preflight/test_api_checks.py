"""api-auth and rate-limit against the Klaviyo stand-in: one shared accounts response, <= 2 requests."""
import dataclasses

import pytest

from pipeline.klaviyo.client import ApiResponse
from pipeline.preflight.check import Verdict
from pipeline.preflight.checks.rate_limit import evaluate_rate_limit
from pipeline.preflight.context import AccountsProbe

ONLY_API = ["status-page", "sdk-pin", "revision", "secrets", "hardcoded-keys"]


def test_healthy_key_passes_both_from_one_request(run, accounts_log, sb):
    report = run(skip=ONLY_API)
    auth, rate = report.result("api-auth"), report.result("rate-limit")
    account = sb.credentials.klaviyo_public_key
    assert auth.verdict is Verdict.PASS
    assert auth.detail == (f"GET /api/accounts/ at revision 2026-10-15 answered 200 (expected 200): key "
                           f"accepted, account {account}")
    assert rate.verdict is Verdict.PASS
    assert rate.detail.startswith("RateLimit-Remaining 14 >= floor 5 (RateLimit-Limit 15, resets in ")
    log = accounts_log()
    assert len(log) == 1
    assert log[0]["revision"] == "2026-10-15" and log[0]["auth_scheme"] == "Klaviyo-API-Key"


def test_revoked_key_fails(run, scenario, accounts_log):
    scenario("klaviyo", {"revoked_key": True})
    auth = run(skip=ONLY_API).result("api-auth")
    assert auth.verdict is Verdict.FAIL
    assert auth.detail.startswith("key invalid or revoked: GET /api/accounts/ at revision 2026-10-15 "
                                  "answered 401 (expected 200), authentication_failed")
    assert len(accounts_log()) == 1


def test_missing_scope_fails(run, scenario):
    scenario("klaviyo", {"missing_scopes": ["accounts:read"]})
    auth = run(skip=ONLY_API).result("api-auth")
    assert auth.verdict is Verdict.FAIL
    assert auth.detail.startswith("key lacks a scope (accounts:read): GET /api/accounts/ at revision "
                                  "2026-10-15 answered 403 (expected 200), permission_denied")


def test_cdn_html_challenge_is_reported_not_crashed_on(run, scenario):
    scenario("klaviyo", {"html_errors": 403})
    report = run(skip=ONLY_API)
    auth, rate = report.result("api-auth"), report.result("rate-limit")
    assert auth.verdict is Verdict.ERROR
    assert "answered 403 with a non-JSON text/html body, cf-mitigated: challenge" in auth.detail
    assert auth.detail.endswith("the CDN refused the request before Klaviyo saw the key")
    assert rate.verdict is Verdict.ERROR
    assert rate.detail == ("headroom not measured: the accounts request answered HTTP 403 without a "
                           "RateLimit-Remaining header (floor 5; see api-auth)")


def test_html_5xx_fails_as_an_outage(run, scenario):
    scenario("klaviyo", {"html_errors": 502})
    auth = run(skip=ONLY_API).result("api-auth")
    assert auth.verdict is Verdict.FAIL
    assert auth.detail.startswith("Klaviyo API is failing: GET /api/accounts/ at revision 2026-10-15 "
                                  "answered 502 (expected 200), non-JSON text/html body")


def test_server_errors_fail(run, scenario):
    scenario("klaviyo", {"server_errors": 503})
    auth = run(skip=ONLY_API).result("api-auth")
    assert auth.verdict is Verdict.FAIL
    assert "answered 503 (expected 200), service_unavailable" in auth.detail


def test_headroom_below_floor_fails(run, scenario):
    scenario("klaviyo", {"rate_limits": {"XS": {"steady": 4}}})
    rate = run(skip=ONLY_API).result("rate-limit")
    assert rate.verdict is Verdict.FAIL
    assert rate.detail.startswith("RateLimit-Remaining 3 < floor 5 (RateLimit-Limit 4, resets in ")
    assert rate.measured["remaining"] == 3 and rate.measured["floor"] == 5


def test_long_throttle_reports_how_long_without_retrying(run, scenario, accounts_log):
    scenario("klaviyo", {"throttle": {"retry_after": 30}})
    report = run(skip=ONLY_API)
    rate, auth = report.result("rate-limit"), report.result("api-auth")
    assert rate.verdict is Verdict.FAIL
    assert rate.detail == ("throttled: 429, Retry-After 30 s: the account is throttled for 30 s "
                           "(floor 5 requests left)")
    assert auth.verdict is Verdict.ERROR
    assert "answered 429 (throttled, Retry-After 30 s): the key could not be verified" in auth.detail
    assert len(accounts_log()) == 1


def test_short_retry_after_is_honoured_once_then_reported(run, scenario, accounts_log):
    scenario("klaviyo", {"throttle": {"retry_after": 1}})
    rate = run(skip=ONLY_API).result("rate-limit")
    assert rate.verdict is Verdict.FAIL
    assert rate.detail.startswith("throttled still: 429 after honouring Retry-After 1 s of a first 429")
    log = accounts_log()
    assert len(log) == 2 and log[1]["time"] - log[0]["time"] >= 1.0


def test_retry_that_succeeds_measures_the_second_answer():
    first = ApiResponse(429, {"retry-after": "1"})
    ok = ApiResponse(200, {"ratelimit-remaining": "13", "ratelimit-limit": "15", "ratelimit-reset": "40"}, {"data": []})
    finding = evaluate_rate_limit(AccountsProbe(first, ok, 1.0), 5)
    assert finding.verdict is Verdict.PASS
    assert finding.detail == ("RateLimit-Remaining 13 >= floor 5 (RateLimit-Limit 15, resets in 40 s after "
                              "honouring Retry-After 1 s of a first 429)")


def test_non_integer_retry_after_is_reported():
    finding = evaluate_rate_limit(AccountsProbe(ApiResponse(429, {"retry-after": "soon"})), 5)
    assert finding.verdict is Verdict.FAIL
    assert "Retry-After 'soon' (not an integer number of seconds)" in finding.detail


def test_slow_api_times_out_as_error(run, scenario, config):
    scenario("klaviyo", {"latency_seconds": 2})
    quick = dataclasses.replace(config, klaviyo=dataclasses.replace(config.klaviyo, timeout_seconds=0.3))
    report = run(quick, skip=ONLY_API)
    for name in ("api-auth", "rate-limit"):
        assert report.result(name).verdict is Verdict.ERROR
        assert report.result(name).detail == "timed out after 0.3 s (its timeout)"


def test_unreachable_api_is_an_error(run, config):
    dead = dataclasses.replace(config, klaviyo=dataclasses.replace(config.klaviyo, base_url="http://127.0.0.1:9"))
    auth = run(dead, skip=ONLY_API).result("api-auth")
    assert auth.verdict is Verdict.ERROR
    assert auth.detail.startswith("could not run: ConnectError")


@pytest.mark.parametrize("scenario_patch", [{}, {"revoked_key": True}, {"throttle": {"retry_after": 0}},
                                            {"html_errors": 403}, {"server_errors": 500}])
def test_never_more_than_two_accounts_requests(run, scenario, accounts_log, scenario_patch):
    scenario("klaviyo", scenario_patch)
    run()
    assert 1 <= len(accounts_log()) <= 2
