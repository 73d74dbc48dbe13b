"""Synthetic webhooks (pure parts): signed as Klaviyo signs, checked by the app's own verifier."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from pipeline.config import ConfigError, EnvConfig, RolloutSettings
from pipeline.secrets import MappingSource
from pipeline.verify.podproxy import ProxyResponse
from pipeline.verify.synthetic import (SIGNATURE_HEADER, TIMESTAMP_HEADER, WEBHOOK_ID_HEADER, delivery, forged_key,
                                       judge_synthetic, self_inflicted, sign, synthetic_checker)

from .fakes import PROXY_503, SECRET, FakePod, FakePods, utc

from klaviyo_sync.webhooks import Result, verify_delivery  # noqa: E402  (on sys.path via .fakes)


def test_signature_is_hex_hmac_sha256_of_body_plus_timestamp():
    # Worked by hand: HMAC-SHA256("secret", b'{"a":1}' + b"Tue, 24 Nov 2026 19:15:06 GMT")
    import hashlib
    import hmac
    expected = hmac.new(b"secret", b'{"a":1}Tue, 24 Nov 2026 19:15:06 GMT', hashlib.sha256).hexdigest()
    assert sign("secret", b'{"a":1}', "Tue, 24 Nov 2026 19:15:06 GMT") == expected


def test_the_apps_own_verifier_accepts_the_genuine_delivery_and_refuses_the_forged_one():
    now = utc()
    genuine = delivery(SECRET, now, "0123abcd", "web-1")
    assert genuine.headers[TIMESTAMP_HEADER] == "Tue, 24 Nov 2026 19:15:06 GMT"
    body = json.loads(genuine.body)
    assert body["meta"]["klaviyo_webhook_id"] == genuine.headers[WEBHOOK_ID_HEADER]
    assert body["meta"]["timestamp"] == "2026-11-24T19:15:06Z"
    assert body["data"][0]["topic"] == "event:pipeline.synthetic_check"
    assert verify_delivery(SECRET, genuine.body, genuine.headers, now).result is Result.ACCEPTED
    forged = delivery(forged_key(SECRET), now, "4567ef01", "web-1")
    assert forged_key(SECRET) != SECRET and SECRET not in forged.headers[SIGNATURE_HEADER]
    assert verify_delivery(SECRET, forged.body, forged.headers, now).result is Result.INVALID_SIGNATURE
    late = verify_delivery(SECRET, genuine.body, genuine.headers, now + timedelta(seconds=400))
    assert late.result is Result.STALE            # fresh at send time is what the app checks


ACCEPTED = ProxyResponse(200, '{"result":"accepted","new":1,"duplicates":0}')
REFUSED = ProxyResponse(401, '{"result":"invalid_signature","error":"signature does not match the body"}')


@pytest.mark.parametrize("genuine,forged,status,kind,text", [
    (ACCEPTED, REFUSED, "pass", None, "genuine webhook accepted (HTTP 200), wrongly signed one refused (HTTP 401)"),
    (REFUSED, REFUSED, "fail", "webhook_signatures", "signed with the environment's signing secret was refused"),
    (ACCEPTED, ACCEPTED, "fail", "webhook_signatures", "a wrongly signed webhook was not refused"),
    (ACCEPTED, ProxyResponse(400, '{"result":"malformed"}'), "fail", "webhook_signatures", "expected 401 or 403"),
    (PROXY_503, REFUSED, "fail", "health_check", "did not reach the pod: HTTP 503 ServiceUnavailable"),
])
def test_judge_synthetic(genuine, forged, status, kind, text):
    verdict = judge_synthetic("web-1", "/webhooks/klaviyo", genuine, forged)
    assert verdict.status == status and text in verdict.detail and verdict.data.get("kind") == kind
    assert verdict.source == "pod web-1 POST /webhooks/klaviyo"


def test_only_a_refused_forged_delivery_is_self_inflicted():
    assert self_inflicted(judge_synthetic("p", "/w", ACCEPTED, REFUSED)) == 1
    assert self_inflicted(judge_synthetic("p", "/w", ACCEPTED, ACCEPTED)) == 0


def test_checker_against_a_pod_with_the_wrong_secret():
    pods = FakePods(good=FakePod(), bad=FakePod(webhook_secret="whsec_sandbox_fault_bad_webhook_secret"))
    config = EnvConfig("test")
    checker = synthetic_checker(config, MappingSource({"KLAVIYO_WEBHOOK_SIGNING_SECRET": SECRET}, "test"), pods)
    good, bad = checker.check(["good", "bad"])
    assert good.passed and bad.status == "fail" and bad.data["kind"] == "webhook_signatures"
    assert pods.count("POST", "/webhooks/klaviyo") == 4
    assert pods.pods["good"].signature_failures() == 1     # the forged one, refused
    assert pods.pods["bad"].signature_failures() == 2      # both refused


def test_checker_is_off_by_setting_and_refuses_to_start_without_the_secret():
    off = EnvConfig("test", rollout=RolloutSettings(synthetic_webhooks=False))
    assert synthetic_checker(off, MappingSource({}, "nothing"), FakePods()) is None
    with pytest.raises(ConfigError, match="env.test.rollout.synthetic_webhooks is on but the webhook signing "
                                          "secret KLAVIYO_WEBHOOK_SIGNING_SECRET is not in environment variables"):
        synthetic_checker(EnvConfig("test"), MappingSource({}, "environment variables"), FakePods())
