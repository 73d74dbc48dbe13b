"""Klaviyo system webhooks: signature verification, freshness, idempotency.

Klaviyo signs each delivery: ``Klaviyo-Signature`` = lowercase hex HMAC-SHA256(secret,
raw_body + Klaviyo-Timestamp header value), no separator. The body is
``{"data":[{"external_id","topic","payload"}...],"meta":{"klaviyo_account_id",
"klaviyo_webhook_id","timestamp"}}``. A delivery is accepted only when the signature
matches (constant-time compare), ``meta.klaviyo_webhook_id`` equals the
``Klaviyo-Webhook-Id`` header, and ``meta.timestamp`` is within the replay window.

``verify_delivery`` is pure (no clock, no I/O); :class:`WebhookReceiver` adds the clock and
the dedup memory.
"""
from __future__ import annotations

import enum
import hashlib
import hmac
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

SIGNATURE_HEADER = "Klaviyo-Signature"
TIMESTAMP_HEADER = "Klaviyo-Timestamp"
WEBHOOK_ID_HEADER = "Klaviyo-Webhook-Id"


class Result(str, enum.Enum):
    """The ``result`` label of ``klaviyo_webhook_requests_total``."""
    ACCEPTED = "accepted"
    INVALID_SIGNATURE = "invalid_signature"
    STALE = "stale"
    MALFORMED = "malformed"


HTTP_STATUS = {Result.ACCEPTED: 200, Result.INVALID_SIGNATURE: 401, Result.STALE: 401,
               Result.MALFORMED: 400}


@dataclass(frozen=True)
class Verdict:
    result: Result
    reason: str
    events: tuple[Mapping[str, Any], ...] = ()

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.result]


def sign(secret: str, raw_body: bytes, timestamp: str) -> str:
    """The signature Klaviyo sends for ``raw_body`` delivered with ``timestamp``."""
    return hmac.new(secret.encode(), raw_body + timestamp.encode(), hashlib.sha256).hexdigest()


def signature_matches(secret: str, raw_body: bytes, timestamp: str, signature: str) -> bool:
    expected = sign(secret, raw_body, timestamp)
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())


def verify_delivery(secret: str, raw_body: bytes, headers: Mapping[str, str], now: datetime,
                    max_age_seconds: float = 300.0) -> Verdict:
    """Decide on one delivery. ``headers`` lookups must be case-insensitive (an HTTP message)."""
    signature = headers.get(SIGNATURE_HEADER) or ""
    timestamp = headers.get(TIMESTAMP_HEADER) or ""
    if not signature or not timestamp:
        return Verdict(Result.INVALID_SIGNATURE, f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER}")
    if not signature_matches(secret, raw_body, timestamp, signature):
        return Verdict(Result.INVALID_SIGNATURE, "signature does not match the body")
    try:
        body = json.loads(raw_body)
        meta, events = body["meta"], body["data"]
        sent = parse_timestamp(meta["timestamp"])
        webhook_id = str(meta["klaviyo_webhook_id"])
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise TypeError("data must be a list of objects")
    except (ValueError, KeyError, TypeError) as exc:
        return Verdict(Result.MALFORMED, f"body is not a Klaviyo webhook delivery: {exc}")
    if webhook_id != (headers.get(WEBHOOK_ID_HEADER) or ""):
        return Verdict(Result.INVALID_SIGNATURE,
                       f"meta.klaviyo_webhook_id does not match the {WEBHOOK_ID_HEADER} header")
    age = abs((now - sent).total_seconds())
    if age > max_age_seconds:
        return Verdict(Result.STALE, f"meta.timestamp is {age:.0f} s from now (limit {max_age_seconds:.0f} s)")
    return Verdict(Result.ACCEPTED, "ok", tuple(events))


def parse_timestamp(value: object) -> datetime:
    """ISO 8601 (``2026-11-02T10:00:00Z`` or with an offset); naive values are UTC."""
    if not isinstance(value, str):
        raise ValueError("meta.timestamp must be an ISO 8601 string")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def event_key(event: Mapping[str, Any]) -> str:
    """Idempotency key: Klaviyo's ``external_id``; else ``payload.id``; else a content hash."""
    if event.get("external_id"):
        return str(event["external_id"])
    payload = event.get("payload")
    if isinstance(payload, dict) and payload.get("id"):
        return f"{event.get('topic', '')}:{payload['id']}"
    return hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()


@dataclass
class Outcome:
    verdict: Verdict
    new: int = 0
    duplicates: int = 0

    def body(self) -> dict[str, Any]:
        if self.verdict.result is Result.ACCEPTED:
            return {"result": "accepted", "new": self.new, "duplicates": self.duplicates}
        return {"result": self.verdict.result.value, "error": self.verdict.reason}


@dataclass
class WebhookReceiver:
    """Verifies deliveries and remembers the last ``capacity`` event keys (dedup)."""
    secret: str = field(repr=False)
    max_age_seconds: float = 300.0
    capacity: int = 10_000
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    _seen: "OrderedDict[str, None]" = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def receive(self, raw_body: bytes, headers: Mapping[str, str]) -> Outcome:
        verdict = verify_delivery(self.secret, raw_body, headers, self.clock(), self.max_age_seconds)
        outcome = Outcome(verdict)
        for event in verdict.events:
            if self._remember(event_key(event)):
                outcome.new += 1
            else:
                outcome.duplicates += 1
        return outcome

    def _remember(self, key: str) -> bool:
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return False
            self._seen[key] = None
            while len(self._seen) > self.capacity:
                self._seen.popitem(last=False)
            return True
