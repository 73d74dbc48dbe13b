"""A pipeline.toml for the sandbox's stand-ins: one template for the tests and the benchmarks.

Everything points at the variables ``invoke sandbox.up`` (or a test's ``Sandbox``) provides;
callers choose the rollout's timings, the rollback mechanisms and the environments.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

TEMPLATE = """
[defaults]
app = "klaviyo-sync"
[defaults.kube]
kubeconfig = "${{KUBECONFIG}}"
manifests = {manifests}
[defaults.klaviyo]
base_url = "${{SANDBOX_KLAVIYO_URL}}"
status_page_url = "${{SANDBOX_STATUS_URL}}"
app_source = {app_source}
[defaults.flags]
api_url = "${{SANDBOX_LAUNCHDARKLY_URL}}"
stream_url = "${{SANDBOX_LAUNCHDARKLY_URL}}"
events_url = "${{SANDBOX_LAUNCHDARKLY_URL}}"
project = "klaviyo-sync"
environment = "local"
[defaults.rollout]
{rollout}
[defaults.rollback]
{rollback}
{environments}
"""
# what the non-local environments of a sandbox file need: the stand-ins listen on plain http
LOOPBACK_HTTPS = {"allow_http": ["klaviyo.base_url", "klaviyo.status_page_url", "flags.api_url",
                                 "flags.stream_url", "flags.events_url"],
                  "reason": "the sandbox's stand-ins listen on loopback"}


def table(values: Mapping[str, object]) -> str:
    """``key = value`` lines (strings, numbers, booleans and lists of strings, as TOML reads them)."""
    return "\n".join(f"{key} = {json.dumps(value)}" for key, value in values.items())


def sandbox_toml(root: Path, rollout: Mapping[str, object], via: Sequence[str],
                 rollback: Mapping[str, object] | None = None, environments: str = "[env.local]") -> str:
    return TEMPLATE.format(manifests=json.dumps(str(root / "k8s")),
                           app_source=json.dumps(str(root / "examples" / "klaviyo-sync")),
                           rollout=table(rollout), rollback=table({"via": list(via), **(rollback or {})}),
                           environments=environments)
