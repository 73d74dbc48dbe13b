"""Synthetic webhooks: prove each new pod accepts what Klaviyo signs and refuses what it did not.

Real traffic cannot prove the webhook path at a gate (Klaviyo may send nothing for minutes), so
each new pod gets two deliveries through the API server's pod proxy, built exactly as Klaviyo
builds a system webhook (docs/app.md, shared reference "System webhooks"):

* headers ``Klaviyo-Webhook-Id``, ``Klaviyo-Timestamp`` (an HTTP-date) and ``Klaviyo-Signature``
  = lowercase hex HMAC-SHA256(signing secret, raw body + timestamp header value), no separator;
* body ``{"data": [{"external_id", "topic", "payload"}], "meta": {"klaviyo_account_id",
  "klaviyo_webhook_id", "timestamp"}}`` with ``meta.timestamp`` ISO 8601 now and
  ``meta.klaviyo_webhook_id`` equal to the header.

The genuine one, signed with the environment's signing secret (``secrets.webhook_secret`` from
the secret source), must be accepted (2xx). The forged one, the same body signed with another
key, must be refused (401 or 403). One ``synthetic_webhook`` verdict per pod. Each delivery has
a fresh ``external_id`` (the app deduplicates by it, so a retried POST is harmless) and the topic
``event:pipeline.synthetic_check``, so the app's handlers can tell it from customer events.

The forged delivery increments the app's ``klaviyo_webhook_signature_failures_total``: the
verifier records each refusal and the metric verdict subtracts those (never below zero), so the
check cannot breach ``thresholds.webhook_signature_failures_max`` by itself. A genuine delivery
refused by a release with the wrong secret is not subtracted: it fails both checks.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets as random_tokens
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Callable, Mapping, Protocol, Sequence

from pipeline.config import ConfigError, EnvConfig
from pipeline.secrets import Secret, SecretSource
from pipeline.verify.podproxy import ProxyResponse
from pipeline.verify.transient import describe, from_proxy
from pipeline.verify.verdict import FAIL, P1, P2, PASS, Verdict

SIGNATURE_HEADER = "Klaviyo-Signature"
TIMESTAMP_HEADER = "Klaviyo-Timestamp"
WEBHOOK_ID_HEADER = "Klaviyo-Webhook-Id"
TOPIC = "event:pipeline.synthetic_check"
REFUSED = (401, 403)


class Poster(Protocol):
    def post(self, pod: str, port: int, path: str, body: bytes, headers: Mapping[str, str]) -> ProxyResponse: ...


@dataclass(frozen=True)
class Delivery:
    body: bytes
    headers: dict[str, str]


def sign(secret: str, body: bytes, timestamp: str) -> str:
    """Klaviyo's signature: hex HMAC-SHA256(secret, body + timestamp header value)."""
    return hmac.new(secret.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


def delivery(secret: str, now: datetime, token: str, pod: str) -> Delivery:
    """One system-webhook delivery as Klaviyo sends it, signed with ``secret``."""
    webhook_id = f"pipeline-verify-{token}"
    body = json.dumps({
        "data": [{"external_id": f"pipeline-synthetic-{token}", "topic": TOPIC,
                  "payload": {"id": token, "pod": pod, "source": "klaviyo-k8s-pipeline verification"}}],
        "meta": {"klaviyo_account_id": "pipeline-verify", "klaviyo_webhook_id": webhook_id,
                 "timestamp": now.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")},
    }, separators=(",", ":")).encode()
    timestamp = format_datetime(now.astimezone(timezone.utc), usegmt=True)
    return Delivery(body, {"Content-Type": "application/json", WEBHOOK_ID_HEADER: webhook_id,
                           TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(secret, body, timestamp)})


def forged_key(secret: str) -> str:
    """A key that is certainly not the signing secret."""
    return "pipeline-forged-" + hashlib.sha256(secret.encode()).hexdigest()[:16]


def judge_synthetic(pod: str, path: str, genuine: ProxyResponse, forged: ProxyResponse) -> Verdict:
    """Pass when the genuine delivery was accepted (2xx) and the forged one refused (401/403)."""
    source = f"pod {pod} POST {path}"
    data = {"pod": pod, "genuine_status": genuine.status, "forged_status": forged.status,
            "attempts": genuine.attempts + forged.attempts}

    def verdict(status: str, severity: str, detail: str, kind: str | None) -> Verdict:
        return Verdict("synthetic_webhook", severity, source, None, None, 0, status, f"pod {pod}: {detail}",
                       {**data, "kind": kind} if kind else data)

    for label, response in (("genuine", genuine), ("forged", forged)):
        if from_proxy(response.status, response.body):
            return verdict(FAIL, P1, f"{label} synthetic webhook did not reach the pod: "
                           f"{describe(response.status, response.body, response.error)}", "health_check")
    if not 200 <= genuine.status < 300:
        return verdict(FAIL, P2, f"a webhook signed with the environment's signing secret was refused "
                       f"({describe(genuine.status, genuine.body)}): the release verifies signatures with "
                       "another secret", "webhook_signatures")
    if forged.status not in REFUSED:
        return verdict(FAIL, P1, f"a wrongly signed webhook was not refused ({describe(forged.status, forged.body)};"
                       " expected 401 or 403)", "webhook_signatures")
    return verdict(PASS, P2, f"genuine webhook accepted (HTTP {genuine.status}), wrongly signed one refused "
                   f"(HTTP {forged.status})", None)


class SyntheticWebhooks:
    """Sends the two deliveries to each pod (concurrently across pods) and judges them."""

    def __init__(self, proxy: Poster, port: int, path: str, secret: Secret,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 token: Callable[[], str] = lambda: random_tokens.token_hex(8)):
        self.proxy, self.port, self.path, self.secret, self.now, self.token = proxy, port, path, secret, now, token

    def check(self, pods: Sequence[str]) -> list[Verdict]:
        """One ``synthetic_webhook`` verdict per pod, in the order of ``pods``."""
        if not pods:
            return []
        with ThreadPoolExecutor(max_workers=min(8, len(pods))) as pool:
            return list(pool.map(self._check_one, pods))

    def _check_one(self, pod: str) -> Verdict:
        key = self.secret.reveal()
        genuine = delivery(key, self.now(), self.token(), pod)
        forged = delivery(forged_key(key), self.now(), self.token(), pod)
        genuine_response = self.proxy.post(pod, self.port, self.path, genuine.body, genuine.headers)
        forged_response = self.proxy.post(pod, self.port, self.path, forged.body, forged.headers)
        return judge_synthetic(pod, self.path, genuine_response, forged_response)


def self_inflicted(verdict: Verdict) -> int:
    """Signature failures this check caused on the pod: its forged delivery, when refused."""
    return 1 if verdict.name == "synthetic_webhook" and verdict.data.get("forged_status") in REFUSED else 0


def synthetic_checker(config: EnvConfig, source: SecretSource, proxy: Poster) -> SyntheticWebhooks | None:
    """The checker ``config.rollout.synthetic_webhooks`` asks for, or None when it is off.

    Raises ConfigError (a usage error: nothing was changed yet) when it is on and the signing
    secret is not in the secret source."""
    if not config.rollout.synthetic_webhooks:
        return None
    name = config.secrets.webhook_secret
    secret = source.get(name) if name else None
    if secret is None:
        raise ConfigError(f"env.{config.name}.rollout.synthetic_webhooks is on but the webhook signing secret "
                          f"{name or '(secrets.webhook_secret is empty)'} is not in {source.describe()}; "
                          "set it there, or set synthetic_webhooks = false")
    return SyntheticWebhooks(proxy, config.kube.health_port, config.kube.webhook_path, secret)
