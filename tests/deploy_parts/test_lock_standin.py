"""The deploy lock against the kube stand-in (Sandbox(["kube"])), read back with real kubectl."""
from __future__ import annotations

import json
import subprocess

import pytest

from pipeline.lock import DeployLock, LeaseApi, LockHeld

from .conftest import kube_api_client

harness = pytest.importorskip("pipeline.sandbox.harness")
pytest.importorskip("pipeline.sandbox.kube.server")


@pytest.fixture(scope="module")
def kube():
    with harness.Sandbox(["kube"]) as sandbox:
        yield sandbox.urls["kube"]


def kubectl(url: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    from pipeline.sandbox.supervisor import kubeconfig

    config = tmp_path / "kubeconfig"
    config.write_text(kubeconfig(url))
    return subprocess.run(["kubectl", "--kubeconfig", str(config), *args], capture_output=True, text=True, timeout=60)


def test_lock_cycle_against_the_stand_in(kube, tmp_path, kubecache):
    api = LeaseApi(kube_api_client(kube), "default")
    with DeployLock(api, "klaviyo-sync", "local", info={"image": "klaviyo-sync:2"}, identity="ada@laptop/1/a"):
        shown = kubectl(kube, tmp_path, "get", "lease", "deploy-lock-klaviyo-sync-local", "-n", "default", "-o", "json")
        assert shown.returncode == 0, shown.stderr
        lease = json.loads(shown.stdout)
        assert lease["spec"]["holderIdentity"] == "ada@laptop/1/a"
        with pytest.raises(LockHeld, match="held by ada@laptop deploying klaviyo-sync:2"):
            DeployLock(api, "klaviyo-sync", "local", identity="bob@ci/2/b").acquire()
    with DeployLock(api, "klaviyo-sync", "local", identity="bob@ci/2/b") as lock:
        lock.renew()
        lease = api.get(lock.name)
        assert lease["spec"]["holderIdentity"] == "bob@ci/2/b"
        assert lease["spec"]["leaseTransitions"] == 1      # a new holder, as client-go counts
