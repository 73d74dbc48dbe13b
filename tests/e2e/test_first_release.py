"""A failed first release (no Deployment existed before it) ends with no release, as before it,
whether the deploy rolls itself back or dies and the next command converges; the next deploy
then starts from nothing. Each command runs as a process, in a namespace of its own."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from kubernetes import client

from pipeline.kube.client import api_client
from pipeline.lock import INFO_ANNOTATION, LeaseApi, lease_name
from pipeline.sandbox.pipeline_toml import sandbox_toml
from tests.waiting import wait_for

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
ROLLOUT = {"gates": ["1", "100%"], "gate_verify_seconds": 3, "bake_seconds": 2, "progress_deadline_seconds": 20,
           "lock_seconds": 4}


class Fresh:
    """An environment ``fresh`` whose namespace has never held the app."""

    def __init__(self, world, tmp_path: Path) -> None:
        self.namespace = f"first-{uuid.uuid4().hex[:8]}"
        self.config = tmp_path / "pipeline.toml"
        self.config.write_text(sandbox_toml(ROOT, ROLLOUT, ["flag", "undo"], environments=(
            f'[env.fresh]\n[env.fresh.kube]\nnamespace = "{self.namespace}"\n'
            '[env.fresh.https]\nallow_http = ["klaviyo.base_url", "klaviyo.status_page_url", "flags.api_url", '
            '"flags.stream_url", "flags.events_url"]\nreason = "loopback stand-ins"\n')))
        self.kube = world.config().kube
        self.core = client.CoreV1Api(api_client(self.kube))
        self.core.create_namespace({"metadata": {"name": self.namespace}})
        self.env = {**os.environ, **world.environ, "CI": "true", "COLUMNS": "200"}
        self.world = world

    def deploy(self, image: str, kill_after: str = "") -> tuple[int, str]:
        process = subprocess.Popen([sys.executable, "-m", "invoke", "deploy", "--env", "fresh", "--image", image,
                                    "--config", str(self.config), "--skip", "rate-limit"], cwd=ROOT, env=self.env,
                                   text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            text = line.strip()
            if kill_after and text[:1] in ("✓", "✗") and text[1:].strip().startswith(kill_after + " "):
                process.send_signal(signal.SIGKILL)
                kill_after = ""
        return process.wait(timeout=180), "".join(lines)

    def deploy_once_the_dead_lease_expires(self, image: str) -> tuple[int, str]:
        deadline = time.monotonic() + 60
        while True:
            code, output = self.deploy(image)
            if code != 4 or time.monotonic() > deadline:
                return code, output
            time.sleep(0.5)

    def remove_the_app(self) -> None:
        """The sandbox is shared by the package's tests: pods left running here would call the one
        Klaviyo stand-in with the same key and eat the rate limits the next test's verdicts read."""
        apps = client.AppsV1Api(api_client(self.kube))
        for deployment in apps.list_namespaced_deployment(self.namespace).items:
            apps.delete_namespaced_deployment(deployment.metadata.name, self.namespace,
                                              propagation_policy="Foreground")
        wait_for(lambda: not self.core.list_namespaced_pod(self.namespace).items,
                 f"the pods in {self.namespace} to be gone", seconds=90)

    def present(self) -> dict[str, bool]:
        apps = client.AppsV1Api(api_client(self.kube))
        names = {"Deployment": [d.metadata.name for d in apps.list_namespaced_deployment(self.namespace).items],
                 "Service": [s.metadata.name for s in self.core.list_namespaced_service(self.namespace).items]}
        return {kind: "klaviyo-sync" in found for kind, found in names.items()}

    def flag_on(self) -> bool:
        import httpx

        url = self.world.environ["SANDBOX_LAUNCHDARKLY_URL"]
        body = httpx.get(f"{url}/api/v2/flags/klaviyo-sync/klaviyo-enabled", params={"env": "local"},
                         headers={"Authorization": self.world.sandbox.credentials.launchdarkly_api_token},
                         trust_env=False).json()
        return bool(body["environments"]["local"]["on"])

    def lease(self) -> dict:
        lease = LeaseApi(api_client(self.kube), self.namespace).get(lease_name("klaviyo-sync", "fresh")) or {}
        info = ((lease.get("metadata") or {}).get("annotations") or {}).get(INFO_ANNOTATION) or "{}"
        return {"holder": (lease.get("spec") or {}).get("holderIdentity"), "info": json.loads(info)}


@pytest.fixture
def fresh(world, tmp_path):
    environment = Fresh(world, tmp_path)
    yield environment
    environment.remove_the_app()




def assert_nothing_left(fresh: Fresh) -> None:
    assert fresh.present() == {"Deployment": False, "Service": False}
    assert fresh.flag_on()
    lease = fresh.lease()
    assert not lease["holder"] and "in_flight" not in lease["info"], lease


def test_a_failed_first_release_is_removed_and_the_next_deploy_starts_from_nothing(fresh):
    code, output = fresh.deploy("klaviyo-sync:1.5.0-bad-auth")
    assert code == 5, output
    flat = " ".join(output.split())
    assert "no release is serving, as before this first deploy" in flat, output
    assert_nothing_left(fresh)

    code, output = fresh.deploy("klaviyo-sync:1.5.0")
    assert code == 0, output
    assert fresh.present() == {"Deployment": True, "Service": True}


def test_a_first_deploy_killed_mid_rollout_is_removed_by_the_next_deploy(fresh):
    code, output = fresh.deploy("klaviyo-sync:1.5.0-bad-auth", kill_after="gate 1/2")
    assert code == -signal.SIGKILL, output
    assert fresh.present()["Deployment"]

    code, output = fresh.deploy_once_the_dead_lease_expires("klaviyo-sync:1.5.0")
    assert code == 0, output
    flat = " ".join(output.split())
    assert "left its first release unverified; there was no release before it, so it is removed" in flat, output
    assert fresh.present() == {"Deployment": True, "Service": True}
