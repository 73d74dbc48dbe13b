"""Webhook verification (pure) and the receiver's idempotency."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from app.support import APP_SOURCE  # noqa: F401
from klaviyo_sync.webhooks import Result, WebhookReceiver, event_key, sign, signature_matches, verify_delivery

SECRET = "whsec_test_secret_0123456789"
NOW = datetime(2026, 11, 2, 10, 0, 0, tzinfo=timezone.utc)
HTTP_DATE = "Mon, 02 Nov 2026 10:00:00 GMT"


def delivery(events=None, webhook_id="wh_1", when=NOW, secret=SECRET, header_id=None):
    body = json.dumps({
        "data": events if events is not None else [
            {"external_id": "ev_1", "topic": "event:klaviyo.sent_sms", "payload": {"id": "p1"}}],
        "meta": {"klaviyo_account_id": "Sbx123", "klaviyo_webhook_id": webhook_id,
                 "timestamp": when.isoformat().replace("+00:00", "Z")},
    }).encode()
    headers = {"Klaviyo-Signature": sign(secret, body, HTTP_DATE), "Klaviyo-Timestamp": HTTP_DATE,
               "Klaviyo-Webhook-Id": header_id or webhook_id}
    return body, headers


def test_signature_is_hex_hmac_of_body_then_timestamp():
    import hashlib
    import hmac
    expected = hmac.new(SECRET.encode(), b'{"a":1}' + HTTP_DATE.encode(), hashlib.sha256).hexdigest()
    assert sign(SECRET, b'{"a":1}', HTTP_DATE) == expected
    assert signature_matches(SECRET, b'{"a":1}', HTTP_DATE, expected.upper())
    assert not signature_matches(SECRET, b'{"a":2}', HTTP_DATE, expected)
    assert not signature_matches(SECRET, b'{"a":1}', HTTP_DATE, "not-hex")


def test_valid_delivery_is_accepted():
    body, headers = delivery()
    verdict = verify_delivery(SECRET, body, headers, NOW)
    assert verdict.result is Result.ACCEPTED and verdict.status == 200
    assert len(verdict.events) == 1


def test_wrong_secret_or_tampered_body_is_invalid_signature():
    body, headers = delivery(secret="another-secret-value")
    assert verify_delivery(SECRET, body, headers, NOW).result is Result.INVALID_SIGNATURE
    body, headers = delivery()
    tampered = body.replace(b"ev_1", b"ev_2")
    verdict = verify_delivery(SECRET, tampered, headers, NOW)
    assert verdict.result is Result.INVALID_SIGNATURE and verdict.status == 401


def test_missing_headers_are_invalid_signature():
    body, headers = delivery()
    del headers["Klaviyo-Timestamp"]
    assert verify_delivery(SECRET, body, headers, NOW).result is Result.INVALID_SIGNATURE


def test_webhook_id_mismatch_is_rejected():
    body, headers = delivery(webhook_id="wh_1", header_id="wh_other")
    verdict = verify_delivery(SECRET, body, headers, NOW)
    assert verdict.result is Result.INVALID_SIGNATURE and "Klaviyo-Webhook-Id" in verdict.reason


def test_stale_and_future_timestamps_are_rejected():
    body, headers = delivery(when=NOW - timedelta(seconds=301))
    assert verify_delivery(SECRET, body, headers, NOW).result is Result.STALE
    body, headers = delivery(when=NOW + timedelta(seconds=400))
    assert verify_delivery(SECRET, body, headers, NOW).result is Result.STALE
    body, headers = delivery(when=NOW - timedelta(seconds=299))
    assert verify_delivery(SECRET, body, headers, NOW).result is Result.ACCEPTED


def test_signed_but_malformed_body_is_malformed():
    for raw in (b"not json", b'{"data": []}', b'{"data": "x", "meta": {"klaviyo_webhook_id": "w", '
                b'"timestamp": "2026-11-02T10:00:00Z"}}', b'{"data": [], "meta": {"klaviyo_webhook_id": "w", '
                b'"timestamp": "yesterday"}}'):
        headers = {"Klaviyo-Signature": sign(SECRET, raw, HTTP_DATE), "Klaviyo-Timestamp": HTTP_DATE,
                   "Klaviyo-Webhook-Id": "w"}
        verdict = verify_delivery(SECRET, raw, headers, NOW)
        assert verdict.result is Result.MALFORMED and verdict.status == 400, raw


def test_receiver_deduplicates_by_event_id():
    receiver = WebhookReceiver(SECRET, clock=lambda: NOW)
    events = [{"external_id": "a", "topic": "t", "payload": {}}, {"external_id": "b", "topic": "t", "payload": {}}]
    first = receiver.receive(*delivery(events))
    again = receiver.receive(*delivery(events + [{"external_id": "c", "topic": "t", "payload": {}}]))
    assert (first.new, first.duplicates) == (2, 0)
    assert (again.new, again.duplicates) == (1, 2)
    assert again.body() == {"result": "accepted", "new": 1, "duplicates": 2}


def test_receiver_forgets_oldest_beyond_capacity():
    receiver = WebhookReceiver(SECRET, capacity=2, clock=lambda: NOW)
    for key in ("a", "b", "c"):
        receiver.receive(*delivery([{"external_id": key, "topic": "t", "payload": {}}]))
    assert receiver.receive(*delivery([{"external_id": "a", "topic": "t", "payload": {}}])).new == 1


def test_event_key_fallbacks():
    assert event_key({"external_id": "x"}) == "x"
    assert event_key({"topic": "t", "payload": {"id": 7}}) == "t:7"
    assert event_key({"topic": "t", "payload": {"a": 1}}) == event_key({"payload": {"a": 1}, "topic": "t"})


def test_receiver_repr_hides_the_secret():
    assert SECRET not in repr(WebhookReceiver(SECRET))
