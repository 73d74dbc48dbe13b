"""Real kubectl (1.32 via the dispatcher) against the kube stand-in with its controllers.

Outputs are those of a real cluster (kubectl prints them from the objects the controllers
write: status, conditions, ReplicaSet revisions and change-causes).
"""
from __future__ import annotations

import json

import pytest

from pipeline.sandbox.kube.resources import PODS, REPLICASETS

from tests.waiting import wait_for
from tests.sandbox_kube.conftest import Kube

pytestmark = pytest.mark.kubectl

MANIFEST = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}},
}


def create(kube: Kube, **spec: object) -> None:
    body = json.loads(json.dumps(MANIFEST))
    body["spec"].update(spec)
    kube.kubectl("create", "-f", "-", input=json.dumps(body))
    status(kube)


def status(kube: Kube, *extra: str, check: bool = True):
    return kube.kubectl("rollout", "status", "deploy/web", "--timeout=60s", *extra, check=check)


def live_pods(kube: Kube) -> list[dict]:
    """Pods not being deleted (deleted pods stay Terminating a moment, as on a real cluster)."""
    pods = kube.sandbox.call(lambda: kube.cluster.list(PODS, "default"))
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def settled_pods(kube: Kube, count: int) -> list[dict]:
    """The pods once every deleted one has gone."""
    def listed() -> list[dict] | None:
        pods = kube.sandbox.call(lambda: kube.cluster.list(PODS, "default"))
        return pods if len(pods) == count else None
    return wait_for(listed)


def replicasets(kube: Kube) -> dict[str, dict]:
    items = kube.sandbox.call(lambda: kube.cluster.list(REPLICASETS, "default"))
    return {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs for rs in items}


def test_set_image_then_rollout_status_succeeds(kube_with_controllers: Kube) -> None:
    kube = kube_with_controllers
    create(kube, replicas=10)
    assert kube.kubectl("set", "image", "deploy/web", "web=nginx:1.26").stdout == "deployment.apps/web image updated\n"
    done = status(kube)
    assert done.returncode == 0
    assert done.stdout.splitlines()[-1] == 'deployment "web" successfully rolled out'
    rss = replicasets(kube)
    assert {k: v["spec"]["replicas"] for k, v in rss.items()} == {"1": 0, "2": 10}
    pods = live_pods(kube)
    assert len(pods) == 10 and {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.26"}
    pods = settled_pods(kube, 10)
    assert len(pods) == 10 and {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.26"}
    again = kube.kubectl("set", "image", "deploy/web", "web=nginx:1.26")
    assert again.stdout == ""   # same image: no PATCH, nothing printed
    got = json.loads(kube.kubectl("get", "deploy/web", "-o", "json").stdout)
    assert got["status"]["updatedReplicas"] == 10 and "unavailableReplicas" not in got["status"]
    assert [c["reason"] for c in got["status"]["conditions"]] == ["MinimumReplicasAvailable", "NewReplicaSetAvailable"]


def test_rollout_status_reports_exceeded_progress_deadline(kube_with_controllers: Kube) -> None:
    kube = kube_with_controllers
    create(kube, replicas=2, progressDeadlineSeconds=2)
    kube.images({"nginx:broken": {"never_ready": True}})
    kube.kubectl("set", "image", "deploy/web", "web=nginx:broken")
    done = status(kube, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == 'error: deployment "web" exceeded its progress deadline'
    assert 'Waiting for deployment "web" rollout to finish: 1 out of 2 new replicas have been updated...' in done.stdout
    described = json.loads(kube.kubectl("get", "deploy/web", "-o", "json").stdout)
    progressing = [c for c in described["status"]["conditions"] if c["type"] == "Progressing"][0]
    assert progressing["status"] == "False" and progressing["reason"] == "ProgressDeadlineExceeded"


def test_rollout_status_timeout(kube_with_controllers: Kube) -> None:
    kube = kube_with_controllers
    create(kube, replicas=2)
    kube.images({"nginx:slow": {"never_ready": True}})
    kube.kubectl("set", "image", "deploy/web", "web=nginx:slow")
    done = kube.kubectl("rollout", "status", "deploy/web", "--timeout=2s", check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == "error: timed out waiting for the condition"


def test_history_undo_and_to_revision_reuse_old_replicasets(kube_with_controllers: Kube) -> None:
    kube = kube_with_controllers
    create(kube, replicas=2)
    kube.kubectl("set", "image", "deploy/web", "web=nginx:1.26")
    kube.kubectl("annotate", "deploy/web", "kubernetes.io/change-cause=upgrade to 1.26")
    status(kube)
    history = kube.kubectl("rollout", "history", "deploy/web").stdout
    assert history == ("deployment.apps/web \nREVISION  CHANGE-CAUSE\n1         <none>\n"
                       "2         upgrade to 1.26\n\n")
    first_rs = replicasets(kube)["1"]["metadata"]["name"]

    assert kube.kubectl("rollout", "undo", "deploy/web").stdout == "deployment.apps/web rolled back\n"
    status(kube)
    rss = replicasets(kube)
    assert sorted(rss) == ["2", "3"]
    assert rss["3"]["metadata"]["name"] == first_rs          # old ReplicaSet reused, not a new one
    assert rss["3"]["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    assert rss["3"]["spec"]["replicas"] == 2 and rss["2"]["spec"]["replicas"] == 0
    assert kube.kubectl("rollout", "history", "deploy/web").stdout == (
        "deployment.apps/web \nREVISION  CHANGE-CAUSE\n2         upgrade to 1.26\n3         <none>\n\n")

    assert kube.kubectl("rollout", "undo", "deploy/web", "--to-revision=2").stdout == "deployment.apps/web rolled back\n"
    status(kube)
    rss = replicasets(kube)
    assert sorted(rss) == ["3", "4"]
    assert rss["4"]["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "2"
    assert rss["4"]["metadata"]["annotations"]["kubernetes.io/change-cause"] == "upgrade to 1.26"
    got = json.loads(kube.kubectl("get", "deploy/web", "-o", "json").stdout)
    assert got["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"
    assert got["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"

    missing = kube.kubectl("rollout", "undo", "deploy/web", "--to-revision=9", check=False)
    assert missing.returncode == 1 and "unable to find specified revision 9 in history" in missing.stderr
    same = kube.kubectl("rollout", "undo", "deploy/web", "--to-revision=4")
    assert same.stdout == "deployment.apps/web skipped rollback (current template already matches revision 4)\n"


def test_pause_holds_the_rollout_and_resume_finishes_it(kube_with_controllers: Kube) -> None:
    kube = kube_with_controllers
    create(kube, replicas=2)
    assert kube.kubectl("rollout", "pause", "deploy/web").stdout == "deployment.apps/web paused\n"
    kube.kubectl("set", "image", "deploy/web", "web=nginx:1.27")
    once = kube.kubectl("rollout", "status", "deploy/web", "--watch=false")
    assert once.stdout == 'Waiting for deployment "web" rollout to finish: 0 out of 2 new replicas have been updated...\n'
    assert sorted(replicasets(kube)) == ["1"]
    got = json.loads(kube.kubectl("get", "deploy/web", "-o", "json").stdout)
    progressing = [c for c in got["status"]["conditions"] if c["type"] == "Progressing"][0]
    assert (progressing["status"], progressing["reason"]) == ("Unknown", "DeploymentPaused")
    undo = kube.kubectl("rollout", "undo", "deploy/web", check=False)   # kubectl looks up history first
    assert undo.stderr == 'error: no rollout history found for deployment "web"\n'
    assert kube.kubectl("rollout", "resume", "deploy/web").stdout == "deployment.apps/web resumed\n"
    assert status(kube).stdout.splitlines()[-1] == 'deployment "web" successfully rolled out'
    assert sorted(replicasets(kube)) == ["1", "2"]


def test_scale(kube_with_controllers: Kube) -> None:
    kube = kube_with_controllers
    create(kube, replicas=2)
    assert kube.kubectl("scale", "deploy/web", "--replicas=5").stdout == "deployment.apps/web scaled\n"
    status(kube)
    pods = kube.sandbox.call(lambda: kube.cluster.list(PODS, "default"))
    assert len(pods) == 5
    assert replicasets(kube)["1"]["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "5"
    kube.kubectl("scale", "deploy/web", "--replicas=1")
    status(kube)
    assert len(live_pods(kube)) == 1
    assert len(settled_pods(kube, 1)) == 1
