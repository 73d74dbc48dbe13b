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


def test_a_dead_holders_record_is_read_by_the_next_holder(kube):
    from datetime import datetime, timedelta, timezone

    lease_api = LeaseApi(kube_api_client(kube), "default")
    dead = DeployLock(lease_api, "app", "local", duration_seconds=3, identity="dead@host/1/x")
    dead.acquire()
    dead._stop.set()                         # the process "dies": no more renewals, no release
    dead.record(in_flight={"deploy_id": "d1", "from_revision": 3})
    later = lambda: datetime.now(timezone.utc) + timedelta(seconds=10)  # noqa: E731
    with DeployLock(lease_api, "app", "local", duration_seconds=3, identity="next@host/2/y", clock=later) as lock:
        assert lock.previous.holder == "dead@host/1/x" and not lock.previous.held
        assert lock.previous.info["in_flight"] == {"deploy_id": "d1", "from_revision": 3}
    assert lease_api.get("deploy-lock-app-local")["metadata"]["annotations"] == {}
