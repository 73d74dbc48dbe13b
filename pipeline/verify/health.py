"""Each new pod's health endpoint, judged per pod (pure judge + thin fetch).

The app answers ``GET /health`` (docs/app.md; the checklist's health check) with
``{"status": "healthy"|"degraded"|"down"|"disabled", "services": {"klaviyo": {...}}}``
and HTTP 200 (healthy, disabled) or 503. Verdicts, one per pod, named ``health``:

* ``healthy`` -> pass;
* ``disabled`` (the kill switch turned the integration off; Klaviyo was not probed) ->
  **inconclusive**: nothing proves the release can talk to Klaviyo. Only when the operator
  explicitly accepted deploying with the switch OFF (``kill_switch_off_accepted=True``) does
  it pass, and the detail says Klaviyo was not verified;
* ``degraded`` (Klaviyo answered 429) -> fail, P2; ``down``, non-JSON or an unknown status
  -> fail, P1. The detail carries the pod's own error text;
* the API server's pod proxy answered instead of the pod (a ``Status`` body, a gateway error,
  no answer; after the proxy's bounded retries) -> fail, P1, saying so and how many attempts.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, Sequence

from pipeline.verify.podproxy import ProxyResponse
from pipeline.verify.transient import describe, from_proxy
from pipeline.verify.verdict import FAIL, INCONCLUSIVE, P1, P2, PASS, Verdict


class Getter(Protocol):
    def get(self, pod: str, port: int, path: str) -> ProxyResponse: ...


def judge_health(pod: str, response: ProxyResponse, path: str = "/health",
                 kill_switch_off_accepted: bool = False) -> Verdict:
    source = f"pod {pod} {path}"

    def verdict(status: str, severity: str, detail: str, app_status: str | None, data: dict[str, Any]) -> Verdict:
        return Verdict("health", severity, source, None, None, 0, status, f"pod {pod}: {detail}",
                       {"pod": pod, "status": app_status, "http_status": response.status,
                        "attempts": response.attempts, **data})

    if from_proxy(response.status, response.body):
        tries = f" after {response.attempts} attempts" if response.attempts > 1 else ""
        return verdict(FAIL, P1, f"the pod did not answer through the pod proxy{tries}: "
                       f"{describe(response.status, response.body, response.error)}", None, {"unreachable": True})
    try:
        body = json.loads(response.body)
    except ValueError:
        snippet = response.body.strip().replace("\n", " ")[:120]
        return verdict(FAIL, P1, f"HTTP {response.status}, body is not JSON: {snippet!r}", None, {})
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        return verdict(FAIL, P1, f"HTTP {response.status}, JSON without a string \"status\"", None, {})
    status = body["status"]
    klaviyo = (body.get("services") or {}).get("klaviyo") or {}
    klaviyo = klaviyo if isinstance(klaviyo, dict) else {}
    facts = {k: klaviyo[k] for k in ("latencyMs", "accountId", "error") if k in klaviyo}
    latency = f" in {klaviyo['latencyMs']} ms" if "latencyMs" in klaviyo else ""
    error = f": {klaviyo['error']}" if klaviyo.get("error") else ""
    if status == "healthy":
        return verdict(PASS, P1, f"healthy (Klaviyo answered{latency})", status, facts)
    if status == "disabled":
        if kill_switch_off_accepted:
            return verdict(PASS, P2, "disabled by the kill switch (accepted by the operator); Klaviyo was not "
                           f"verified{error}", status, {**facts, "klaviyo_verified": False})
        return verdict(INCONCLUSIVE, P2, f"disabled by the kill switch; Klaviyo not probed{error}", status, facts)
    if status == "degraded":
        return verdict(FAIL, P2, f"degraded (Klaviyo rate-limited the probe{latency}){error}", status, facts)
    if status == "down":
        return verdict(FAIL, P1, f"down (HTTP {response.status}){error}", status, facts)
    return verdict(FAIL, P1, f"unknown health status {status!r} (HTTP {response.status})", status, facts)


def check_health(proxy: Getter, pods: Sequence[str], port: int, path: str = "/health",
                 kill_switch_off_accepted: bool = False) -> list[Verdict]:
    """One verdict per pod, fetched concurrently, in the order of ``pods``."""
    if not pods:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(pods))) as pool:
        responses = list(pool.map(lambda pod: proxy.get(pod, port, path), pods))
    return [judge_health(pod, response, path, kill_switch_off_accepted) for pod, response in zip(pods, responses)]
