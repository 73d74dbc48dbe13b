"""Every Kubernetes write (and the reads that decide one) goes through :func:`call`.

The policy, like client-go's ``retry.RetryOnConflict`` plus its rate-limit handling, written
once with tenacity:

* **409 Conflict**: someone else wrote first. The operation is retried as a whole, so an
  operation that re-reads the object and re-applies its intent converges (a plain PATCH of
  an intent such as ``spec.paused: true`` is safe to repeat as it is).
* **429 Too Many Requests, 500, 502, 503, 504**, a timeout or a dropped connection: the
  server did not act, or acting again is harmless because every write we make states an
  intent rather than a delta. Waits honour ``Retry-After`` (capped), else exponential
  backoff with jitter.
* anything else (400 invalid, 403 forbidden, 404 not found, 422): final at once.

Attempts and total time are bounded (:class:`RetryPolicy`); the last error is raised, so the
caller's state machine decides what a failed write means. Never loops forever.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, TypeVar

from kubernetes.client.exceptions import ApiException
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay
from urllib3.exceptions import HTTPError as Urllib3Error

T = TypeVar("T")
RETRIED_STATUSES = frozenset({409, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    total_seconds: float = 30.0
    first_wait: float = 0.1
    max_wait: float = 3.0


DEFAULT = RetryPolicy()
LEASE = RetryPolicy(attempts=4, total_seconds=5.0)     # well inside a lease's duration


def transient(error: BaseException) -> bool:
    """Worth another attempt: a conflict, throttling, a server error, a timeout or a cut connection."""
    if isinstance(error, ApiException):
        return (error.status or 0) in RETRIED_STATUSES or not error.status   # status 0: transport error
    return isinstance(error, (Urllib3Error, ConnectionError, TimeoutError))


def retry_after(error: BaseException | None) -> float | None:
    """Seconds from an integer ``Retry-After`` header of an ApiException (None when absent)."""
    headers = getattr(error, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return min(float(value), MAX_RETRY_AFTER_SECONDS) if value is not None else None
    except (TypeError, ValueError):
        return None


def backoff(attempt: int, policy: RetryPolicy, jitter: float) -> float:
    """Pure: exponential from ``first_wait``, capped at ``max_wait``, scaled by ``jitter`` in [0.5, 1]."""
    return min(policy.max_wait, policy.first_wait * 2 ** max(attempt - 1, 0)) * jitter


def _wait(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        hinted = retry_after(error)
        return hinted if hinted is not None else backoff(state.attempt_number, policy, random.uniform(0.5, 1))
    return wait


def transient_not_conflict(error: BaseException) -> bool:
    """For writes that carry a resourceVersion (the Lease): a 409 means re-read, not resend."""
    status = getattr(error, "status", None)
    if status is not None and not isinstance(error, ApiException):
        return status in RETRIED_STATUSES - {409} or status == 0
    return transient(error) and not (isinstance(error, ApiException) and error.status == 409)


def call(operation: Callable[[], T], policy: RetryPolicy = DEFAULT,
         on_retry: Callable[[BaseException, int], None] | None = None,
         retry_on: Callable[[BaseException], bool] = transient) -> T:
    """Run ``operation`` until it succeeds, a final error, or the policy's bounds; raise the last error."""
    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            on_retry(state.outcome.exception(), state.attempt_number)   # type: ignore[arg-type]

    retrying = Retrying(retry=retry_if_exception(retry_on), wait=_wait(policy), reraise=True,
                        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.total_seconds),
                        before_sleep=before_sleep)
    return retrying(operation)


def describe(error: BaseException) -> str:
    """One line for a result: ``HTTP 409 Conflict: <message>`` or the exception's type and text."""
    if isinstance(error, ApiException):
        import json

        try:
            message = json.loads(error.body or "").get("message", "")
        except (ValueError, AttributeError):
            message = ""
        return f"HTTP {error.status} {error.reason or ''}".rstrip() + (f": {message}" if message else "")
    return f"{type(error).__name__}: {error}"
