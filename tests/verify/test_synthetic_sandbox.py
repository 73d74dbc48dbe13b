"""The whole gate on the sandbox: the real app as pod processes, the kube stand-in's pod proxy,
the Klaviyo stand-in serving its traffic. A good release passes (health, both synthetic
webhooks, metrics with enough requests); ``1.4.0-bad-webhook-secret`` fails the synthetic check."""
from __future__ import annotations

import threading
import time

import pytest

from pipeline.config import EnvConfig, RolloutSettings
from pipeline.deploy.verification import verifier_for
from pipeline.secrets import MappingSource

from deploy_parts.conftest import kube_api_client

harness = pytest.importorskip("pipeline.sandbox.harness")
pytest.importorskip("pipeline.sandbox.kube.controllers.processes")
pytestmark = pytest.mark.slow

SECRET_NAME = "klaviyo-sync-secrets"
KEYS = ("KLAVIYO_PRIVATE_KEY", "KLAVIYO_WEBHOOK_SIGNING_SECRET", "LAUNCHDARKLY_SDK_KEY")


def app_pod(name: str, image: str) -> dict:
    env = [{"name": key, "valueFrom": {"secretKeyRef": {"name": SECRET_NAME, "key": key}}} for key in KEYS]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "klaviyo-sync"}},
            "spec": {"containers": [{
                "name": "app", "image": image, "env": env, "ports": [{"name": "http", "containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1}}]}}


def wait_ready(core, names: list[str], deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        pods = {p.metadata.name: p for p in core.list_namespaced_pod("default").items}
        if all(any(c.type == "Ready" and c.status == "True" for c in (pods[n].status.conditions or []))
               for n in names if n in pods) and set(names) <= set(pods):
            return
        time.sleep(0.2)
    raise AssertionError(f"pods {names} not Ready within {deadline}s")


def test_gate_on_the_sandbox_passes_a_good_release_and_fails_bad_webhook_secret():
    from kubernetes import client

    with harness.Sandbox(["kube", "klaviyo", "launchdarkly"]) as sandbox:
        api = kube_api_client(sandbox.urls["kube"])
        core = client.CoreV1Api(api)
        secrets = sandbox.credentials.env()
        core.create_namespaced_secret("default", {"apiVersion": "v1", "kind": "Secret",
                                                  "metadata": {"name": SECRET_NAME},
                                                  "stringData": {k: secrets[k] for k in KEYS}})
        core.create_namespaced_pod("default", app_pod("good", "klaviyo-sync:1.4.0"))
        core.create_namespaced_pod("default", app_pod("bad", "klaviyo-sync:1.4.0-bad-webhook-secret"))
        wait_ready(core, ["good", "bad"])

        config = EnvConfig("local", rollout=RolloutSettings(scrape_interval_seconds=0.5))
        source = MappingSource({"KLAVIYO_WEBHOOK_SIGNING_SECRET": secrets["KLAVIYO_WEBHOOK_SIGNING_SECRET"]},
                               "sandbox credentials")
        verifier = verifier_for(config, api, threading.Event(), source)

        good = verifier.gate("gate 1/1", ["good"], max_seconds=45)
        assert good.passed, good.detail
        verdicts = {v.name: v for v in good.verdicts}
        assert verdicts["synthetic_webhook"].detail == ("pod good: genuine webhook accepted (HTTP 200), wrongly "
                                                        "signed one refused (HTTP 401)")
        assert verdicts["webhook_signatures"].passed                 # the forged probe's failure is the verifier's
        assert verdicts["auth_errors"].data["requests"] >= config.rollout.min_requests
        assert good.requests == 1 + 1 + 2 + good.rounds             # baseline, health, 2 webhooks, 1 scrape/round

        bad = verifier.gate("gate 1/1", ["bad"], max_seconds=45)
        assert bad.status == "fail" and bad.failure_kind == "webhook_signatures" and bad.rounds == 0
        assert "pod bad: a webhook signed with the environment's signing secret was refused (HTTP 401" in bad.detail
