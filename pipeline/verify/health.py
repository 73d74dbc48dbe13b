"""Each new pod's health endpoint, judged per pod (pure judge + thin fetch).

The app answers ``GET /health`` (docs/app.md; the checklist's health check) with
``{"status": "healthy"|"degraded"|"down"|"disabled", "services": {"klaviyo": {...}}}``
and HTTP 200 (healthy, disabled) or 503. Verdicts, one per pod, named ``health``:

* ``healthy`` -> pass;
* ``disabled`` (the kill switch turned the integration off; Klaviyo is not probed) -> pass
  unless ``disabled_ok=False``, with the detail saying so;
* ``degraded`` (Klaviyo answered 429) -> fail, P2; ``down``, unreachable, non-JSON or an
  unknown status -> fail, P1. The detail carries the pod's own error text.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from pipeline.verify.podproxy import PodProxy, ProxyResponse
from pipeline.verify.verdict import P1, P2, Verdict


def judge_health(pod: str, response: ProxyResponse, path: str = "/health", disabled_ok: bool = True) -> Verdict:
    source = f"pod {pod} {path}"

    def verdict(passed: bool, severity: str, detail: str, status: str | None, data: dict[str, Any]) -> Verdict:
        return Verdict("health", severity, source, None, None, 0, passed, f"pod {pod}: {detail}",
                       {"pod": pod, "status": status, "http_status": response.status, **data})

    if response.status == 0:
        return verdict(False, P1, f"no answer through the pod proxy ({response.error})", None, {})
    try:
        body = json.loads(response.body)
    except ValueError:
        snippet = response.body.strip().replace("\n", " ")[:120]
        return verdict(False, P1, f"HTTP {response.status}, body is not JSON: {snippet!r}", None, {})
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        return verdict(False, P1, f"HTTP {response.status}, JSON without a string \"status\"", None, {})
    status = body["status"]
    klaviyo = (body.get("services") or {}).get("klaviyo") or {}
    klaviyo = klaviyo if isinstance(klaviyo, dict) else {}
    facts = {k: klaviyo[k] for k in ("latencyMs", "accountId", "error") if k in klaviyo}
    latency = f" in {klaviyo['latencyMs']} ms" if "latencyMs" in klaviyo else ""
    error = f": {klaviyo['error']}" if klaviyo.get("error") else ""
    if status == "healthy":
        return verdict(True, P1, f"healthy (Klaviyo answered{latency})", status, facts)
    if status == "disabled":
        return verdict(disabled_ok, P2, f"disabled by the kill switch; Klaviyo not probed{error}", status, facts)
    if status == "degraded":
        return verdict(False, P2, f"degraded (Klaviyo rate-limited the probe{latency}){error}", status, facts)
    if status == "down":
        return verdict(False, P1, f"down (HTTP {response.status}){error}", status, facts)
    return verdict(False, P1, f"unknown health status {status!r} (HTTP {response.status})", status, facts)


def check_health(proxy: PodProxy, pods: Sequence[str], port: int, path: str = "/health",
                 disabled_ok: bool = True) -> list[Verdict]:
    """One verdict per pod, fetched concurrently, in the order of ``pods``."""
    if not pods:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(pods))) as pool:
        responses = list(pool.map(lambda pod: proxy.get(pod, port, path), pods))
    return [judge_health(pod, response, path, disabled_ok) for pod, response in zip(pods, responses)]
