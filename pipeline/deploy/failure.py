"""Which kind of failure a set of verdicts is, in the rollback policy's words. Pure.

The kind decides whether the failure is Klaviyo-facing (kill switch first) or not
(``pipeline.rollback.policy``). Breaches (status ``fail``) decide; a verification with no
breach but inconclusive verdicts is a ``verification_error`` (it could not be verified), as
is an interrupted one. The ``inconclusive`` failure a gate ends with when its wait is over
takes the kind of a metric verdict that was leaning to a breach without enough evidence
(``p95 latency 6.2s > 5s ... 1 latency observations < floor 5``: ``latency``, so a slow
release still turns the kill switch off first), else ``verification_error``. A failed health check is classified by the Klaviyo status the pod reported, when it
reported one; a synthetic webhook check by what it found (a refused genuine or an accepted
forged delivery: ``webhook_signatures``; a pod it could not reach: ``health_check``).
"""
from __future__ import annotations

import re
from typing import Sequence

from pipeline.verify.verdict import Verdict, breaches, failed

BY_VERDICT = {
    "auth_errors": "auth_errors",
    "server_errors": "server_errors",
    "rate_limited": "throttling",
    "p95_latency": "latency",
    "webhook_signatures": "webhook_signatures",
    "metrics_unavailable": "verification_error",
    "inconclusive": "verification_error",
    "interrupted": "verification_error",
}
METRICS = ("auth_errors", "server_errors", "rate_limited", "p95_latency", "webhook_signatures")


def failure_kind(verdicts: Sequence[Verdict]) -> str:
    bad = breaches(verdicts)
    if not bad:
        if failed(verdicts):
            return "verification_error"          # only inconclusive: not verified
        raise ValueError("no failed verdict to classify")
    metric = next((v for v in bad if v.name in METRICS), None)
    if metric is not None:
        return BY_VERDICT[metric.name]
    if bad[0].name == "inconclusive":
        leaning = next((v for v in failed(verdicts) if v.name in METRICS and leans_to_breach(v)), None)
        if leaning is not None:
            return BY_VERDICT[leaning.name]
    synthetic = next((v for v in bad if v.name == "synthetic_webhook"), None)
    if synthetic is not None:
        return str(synthetic.data.get("kind") or "webhook_signatures")
    health = next((v for v in bad if v.name == "health"), None)
    if health is not None:
        return health_kind(health)
    return BY_VERDICT.get(bad[0].name, "verification_error")


def leans_to_breach(verdict: Verdict) -> bool:
    """An inconclusive metric whose value, on the evidence there is, is over its threshold."""
    return verdict.value is not None and verdict.threshold is not None and verdict.value > verdict.threshold


def health_kind(verdict: Verdict) -> str:
    """``down: 401: ...`` is an auth failure; a 429 probe is throttling; 5xx server errors."""
    if verdict.data.get("status") == "degraded":
        return "throttling"
    error = str(verdict.data.get("error") or "")
    match = re.match(r"\s*(\d{3})\b", error)
    code = int(match.group(1)) if match else 0
    if code in (401, 403):
        return "auth_errors"
    if code == 429:
        return "throttling"
    if 500 <= code < 600:
        return "server_errors"
    return "health_check"
