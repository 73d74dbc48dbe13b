"""Row "rate-limit handling": the app's steady volume fits each endpoint's documented limit, and a 429 is retried.

Volume: every replica syncs each installed account once per ``SYNC_INTERVAL_SECONDS``, one call
to each sync endpoint (the app's endpoint table, except the accounts probe, which ``/health``
makes at most once per cache window and only without recent sync traffic). Replicas and the
interval come from the Deployment in ``kube.manifests`` (the interval's default is the app's,
1 s). Limits are the steady per-minute figures docs/api-endpoints.md gives the app's rows
(one quota per account, or per OAuth install). Handling: the pinned klaviyo-api SDK's retry
codes include 429 (it honours ``Retry-After``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.listing.markdown_tables import code, rows_with
from pipeline.listing.model import Row, failed, not_checked, passed
from pipeline.preflight.checks.oauth import DeclarationError, read_declaration

NAME = "rate-limits"
REQUIREMENT = "Respect API rate limits to avoid unnecessary load"
APP_DEFAULT_INTERVAL = 1.0
PROBE_PATH = "/api/accounts"
_STEADY = re.compile(r"(\d+)/min")


@dataclass(frozen=True)
class Schedule:
    replicas: int
    interval_seconds: float


def schedule(manifests: Path, deployment: str) -> Schedule:
    """Replicas and the sync interval of ``deployment`` in the manifest directory."""
    for path in sorted(manifests.glob("*.y*ml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "Deployment" and doc["metadata"]["name"] == deployment:
                env = [e for c in doc["spec"]["template"]["spec"]["containers"] for e in c.get("env") or []]
                interval = next((float(e["value"]) for e in env if e.get("name") == "SYNC_INTERVAL_SECONDS"
                                 and "value" in e), APP_DEFAULT_INTERVAL)
                return Schedule(int(doc["spec"].get("replicas", 1)), interval)
    raise ValueError(f"no Deployment {deployment!r} in {manifests}")


def documented_limits(doc: str) -> dict[str, int]:
    """Steady per-minute limit of each path the app calls, from the doc's Klaviyo table."""
    limits = {}
    for row in rows_with(doc, "caller", "method", "path", "rate limit"):
        found = _STEADY.search(row["rate limit"])
        if "app" in code(row["caller"]) and found:
            limits[code(row["path"]).rstrip("/")] = int(found.group(1))
    return limits


def sdk_retries_429() -> tuple[bool | None, str]:
    try:
        from importlib.metadata import version

        from klaviyo_api import KlaviyoAPI  # type: ignore[import-untyped]
    except ImportError:
        return None, "the klaviyo-api SDK is not installed here"
    codes = sorted(KlaviyoAPI._RETRY_CODES)
    return 429 in codes, f"klaviyo-api {version('klaviyo-api')} retries {', '.join(map(str, codes))}"


def rate_row(app_source: Path, manifests: Path, deployment: str, doc_path: Path) -> Row:
    try:
        declared = read_declaration(app_source)
        plan = schedule(manifests, deployment)
        limits = documented_limits(doc_path.read_text())
    except (OSError, DeclarationError, ValueError, KeyError, yaml.YAMLError) as exc:
        return not_checked(NAME, REQUIREMENT, str(exc))
    per_minute = plan.replicas * 60.0 / plan.interval_seconds
    sync_paths = [path for _, path, _, _ in declared.endpoints if path != PROBE_PATH]
    missing = [p for p in sync_paths if p not in limits]
    if missing:
        return not_checked(NAME, REQUIREMENT, f"{doc_path} gives no rate limit for {', '.join(missing)}")
    over = [f"{p} {per_minute:g}/min > {limits[p]}/min" for p in sync_paths if per_minute > limits[p]]
    retries, sdk = sdk_retries_429()
    volume = ", ".join(f"{p} {per_minute:g}/min of {limits[p]}/min" for p in sync_paths)
    measured = {"replicas": plan.replicas, "interval_seconds": plan.interval_seconds, "per_minute": per_minute,
                "limits": {p: limits[p] for p in sync_paths}}
    basis = f"{plan.replicas} replicas x 1 call per {plan.interval_seconds:g} s per account"
    if over:
        return failed(NAME, REQUIREMENT, f"over the steady limit per account: {'; '.join(over)} ({basis})", **measured)
    if retries is False:
        return failed(NAME, REQUIREMENT, f"{sdk}: a 429 is not retried; volume {volume}", **measured)
    if retries is None:
        return not_checked(NAME, REQUIREMENT, f"429 handling ({sdk}); volume {volume} ({basis})", **measured)
    return passed(NAME, REQUIREMENT, (f"{volume} ({basis}); {PROBE_PATH} only from /health, cached; 429 retried "
                                      f"honouring Retry-After ({sdk})"), **measured)
