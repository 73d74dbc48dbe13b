"""RolloutUndo against the kube stand-in, judged by the real kubectl on an identical history."""
from __future__ import annotations

import json
import re

import pytest

from pipeline.rollback.result import Outcome
from pipeline.rollback.rollout_undo import RolloutUndo

pytestmark = pytest.mark.kubectl


def undo(kube, name, **kw) -> RolloutUndo:
    return RolloutUndo(kube.apps, "default", name, "app", timeout_seconds=30, **kw)


def history_text(kube, name, *extra) -> str:
    text = kube.kubectl("rollout", "history", f"deploy/{name}", *extra).stdout
    text = text.replace(f"deployment.apps/{name}", "deployment.apps/X").replace(name, "X")
    return re.sub(r"pod-template-hash=\w+", "pod-template-hash=H", text)   # hashes differ: labels differ


def rs_rows(kube, name) -> list[list[str]]:
    """`kubectl get rs` rows with each name replaced by its revision, AGE dropped."""
    items = json.loads(kube.kubectl("get", "rs", "-l", f"app={name}", "-o", "json").stdout)["items"]
    revision = {i["metadata"]["name"]: i["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                for i in items}
    lines = kube.kubectl("get", "rs", "-l", f"app={name}").stdout.splitlines()
    assert lines[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    return sorted([f"rev{revision[cols[0]]}", *cols[1:-1]] for cols in (line.split() for line in lines[1:]))


def deployment_facts(kube, name) -> dict:
    d = kube.read(name)
    annotations = d["metadata"].get("annotations", {})
    return {"annotations": annotations, "image": d["spec"]["template"]["spec"]["containers"][0]["image"],
            "generation": d["metadata"]["generation"],
            "status": {k: v for k, v in d["status"].items() if k != "conditions"}}


def assert_same_as_kubectl(kube, theirs, ours):
    assert history_text(kube, ours) == history_text(kube, theirs)
    assert rs_rows(kube, ours) == rs_rows(kube, theirs)
    assert deployment_facts(kube, ours) == deployment_facts(kube, theirs)


def test_undo_leaves_what_kubectl_rollout_undo_leaves(kube):
    for name in ("cmp-kubectl", "cmp-ours"):
        kube.history(name, "web:1", "web:2", "web:3")
    assert_same_as_kubectl(kube, "cmp-kubectl", "cmp-ours")

    out = kube.kubectl("rollout", "undo", "deploy/cmp-kubectl").stdout
    assert out == "deployment.apps/cmp-kubectl rolled back\n"
    kube.kubectl("rollout", "status", "deploy/cmp-kubectl", "--timeout=30s")
    result = undo(kube, "cmp-ours").execute("test")
    assert result.outcome is Outcome.DONE, result.detail
    assert_same_as_kubectl(kube, "cmp-kubectl", "cmp-ours")
    assert history_text(kube, "cmp-ours") == ("deployment.apps/X \nREVISION  CHANGE-CAUSE\n"
                                              "1         <none>\n3         deploy web:3\n4         deploy web:2\n\n")

    # and again, to an explicit revision
    kube.kubectl("rollout", "undo", "deploy/cmp-kubectl", "--to-revision=1")
    kube.kubectl("rollout", "status", "deploy/cmp-kubectl", "--timeout=30s")
    assert undo(kube, "cmp-ours", to_revision=1).execute("test").outcome is Outcome.DONE
    assert_same_as_kubectl(kube, "cmp-kubectl", "cmp-ours")
    assert history_text(kube, "cmp-ours", "--revision=5") == history_text(kube, "cmp-kubectl", "--revision=5")


def test_result_names_revisions_images_and_is_verified(kube):
    kube.history("facts", "web:1", "web:2")
    seen = []
    mechanism = undo(kube, "facts", on_progress=lambda status, d: seen.append(status.message))
    plan = mechanism.plan()
    assert (plan.current, plan.target) == ("image web:2 at revision 2", "image web:1 (revision 1)")
    result = mechanism.execute("latency")
    assert result.outcome is Outcome.DONE
    assert {k: result.data[k] for k in ("from_revision", "to_revision", "from_image", "to_image", "new_revision")} \
        == {"from_revision": 2, "to_revision": 1, "from_image": "web:2", "to_image": "web:1", "new_revision": 3}
    assert result.duration_seconds > 0 and result.data["wait"] == "complete"
    assert seen[-1] == 'deployment "facts" successfully rolled out'
    assert kube.kubectl("rollout", "status", "deploy/facts").stdout == 'deployment "facts" successfully rolled out\n'


def test_plan_and_dry_run_change_nothing(kube):
    kube.history("quiet", "web:1", "web:2")
    before = kube.read("quiet")["metadata"]["resourceVersion"]
    undo(kube, "quiet").plan()
    result = undo(kube, "quiet").execute("x", dry_run=True)
    assert result.outcome is Outcome.DRY_RUN and "revision 2 (web:2) to revision 1 (web:1)" in result.detail
    assert kube.read("quiet")["metadata"]["resourceVersion"] == before


def test_noop_when_already_at_the_revision_says_what_kubectl_says(kube):
    kube.history("same", "web:1", "web:2")
    before = kube.read("same")["metadata"]["resourceVersion"]
    result = undo(kube, "same", to_revision=2).execute("x")
    theirs = kube.kubectl("rollout", "undo", "deploy/same", "--to-revision=2").stdout.strip()
    assert result.outcome is Outcome.ALREADY
    assert result.detail == theirs == "deployment.apps/same skipped rollback (current template already matches revision 2)"
    assert kube.read("same")["metadata"]["resourceVersion"] == before


@pytest.mark.parametrize("setup, kwargs, kubectl_args", [
    ("paused", {}, []),
    ("unknown", {"to_revision": 9}, ["--to-revision=9"]),
    ("fresh", {}, []),
])
def test_refusals_use_kubectls_words(kube, setup, kwargs, kubectl_args):
    name = f"refuse-{setup}"
    if setup == "fresh":
        kube.create(name, "web:1")
    else:
        kube.history(name, "web:1", "web:2")
    if setup == "paused":
        kube.kubectl("rollout", "pause", f"deploy/{name}")
    before = kube.read(name)["metadata"]["resourceVersion"]
    result = undo(kube, name, **kwargs).execute("x")
    theirs = kube.kubectl("rollout", "undo", f"deploy/{name}", *kubectl_args, check=False)
    assert result.outcome is Outcome.FAILED
    assert theirs.returncode == 1 and theirs.stderr.strip() == f"error: {result.detail}"
    assert kube.read(name)["metadata"]["resourceVersion"] == before


def test_missing_deployment(kube):
    result = undo(kube, "nowhere").execute("x")
    assert result.outcome is Outcome.FAILED and 'deployments.apps "nowhere" not found' in result.detail


def test_undo_to_a_revision_that_never_becomes_ready_fails_at_the_progress_deadline(kube):
    kube.images({"stuck:2": {"never_ready": True}})
    kube.create("stall", "web:1", progressDeadlineSeconds=1)
    kube.set_image("stall", "stuck:2", wait=False)
    kube.set_image("stall", "web:3")
    result = undo(kube, "stall").execute("x")            # previous revision: the stuck image
    assert result.outcome is Outcome.FAILED
    assert result.data["wait"] == "deadline_exceeded"
    assert re.search(r'deployment "stall" exceeded its progress deadline', result.detail)


def test_resume_paused_undoes_a_deploy_paused_at_a_gate(kube):
    kube.images({"gate:2": {"never_ready": True}})
    kube.create("gated", "web:1", replicas=4)
    kube.set_image("gated", "gate:2", wait=False)            # the new pod never becomes ready ...
    kube.kubectl("rollout", "pause", "deploy/gated")           # ... and the deploy paused at its gate
    assert undo(kube, "gated").execute("x").outcome is Outcome.FAILED        # kubectl's refusal by default
    result = undo(kube, "gated", resume_paused=True).execute("gate verdict failed")
    assert result.outcome is Outcome.DONE, result.detail
    assert result.data["resumed"] and result.data["to_image"] == "web:1"
    live = kube.read("gated")
    assert not live["spec"].get("paused")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "web:1"
    assert kube.kubectl("rollout", "status", "deploy/gated").stdout == 'deployment "gated" successfully rolled out\n'


def test_resume_paused_before_the_new_template_rolled_out(kube):
    kube.history("prepaused", "web:1", "web:2")
    kube.kubectl("rollout", "pause", "deploy/prepaused")
    kube.set_image("prepaused", "web:3", wait=False)         # paused: no new ReplicaSet yet
    result = undo(kube, "prepaused", resume_paused=True).execute("x")
    assert result.outcome is Outcome.DONE, result.detail
    assert (result.data["to_revision"], result.data["to_image"]) == (2, "web:2")
    assert "web:3" not in kube.kubectl("get", "rs", "-l", "app=prepaused", "-o", "wide").stdout
