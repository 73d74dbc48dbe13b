"""kubectl rollout undo's decision, pure: target revision, refusals, no-op, the JSON Patch."""
import pytest

from pipeline.kube import history
from pipeline.kube.history import HistoryError
from pipeline.rollback.rollout_undo import decide

UID = "d-uid"


def template(image, hash_=None, **extra):
    labels = {"app": "web"} | ({"pod-template-hash": hash_} if hash_ else {})
    return {"metadata": {"labels": labels, **extra},
            "spec": {"containers": [{"name": "app", "image": image}]}}


def rs(rev, image, owner=UID, controller=True, **annotations):
    return {"metadata": {"name": f"web-{rev}", "ownerReferences": [{"uid": owner, "controller": controller}],
                         "annotations": {"deployment.kubernetes.io/revision": str(rev), **annotations}},
            "spec": {"template": template(image, f"h{rev}")}}


def deployment(image="web:3", rev=3, paused=False, **annotations):
    return {"metadata": {"name": "web", "uid": UID,
                         "annotations": {"deployment.kubernetes.io/revision": str(rev), **annotations}},
            "spec": {"paused": paused, "selector": {"matchLabels": {"app": "web"}}, "template": template(image)}}


HISTORY = [rs(1, "web:1"), rs(2, "web:2"), rs(3, "web:3")]


def test_previous_revision_is_the_second_highest():
    decision = decide(deployment(), HISTORY, container="app")
    assert (decision.from_revision, decision.to_revision) == (3, 2)
    assert (decision.from_image, decision.to_image) == ("web:3", "web:2")
    assert not decision.noop


def test_to_revision_and_missing_revision():
    assert decide(deployment(), HISTORY, 1).to_revision == 1
    with pytest.raises(HistoryError, match="^unable to find specified revision 9 in history$"):
        decide(deployment(), HISTORY, 9)


def test_no_history():
    with pytest.raises(HistoryError, match='^no rollout history found for deployment "web"$'):
        decide(deployment(), HISTORY[2:])


def test_paused_is_refused_before_anything_else():
    with pytest.raises(HistoryError, match="you cannot rollback a paused deployment; resume it first with "
                                           "'kubectl rollout resume' and try again"):
        decide(deployment(paused=True), [], 9)


def test_replica_sets_not_controlled_by_the_deployment_are_ignored():
    foreign = [rs(5, "other:5", owner="someone-else"), rs(6, "web:6", controller=False)]
    assert decide(deployment(), HISTORY + foreign).to_revision == 2


def test_noop_when_template_matches_ignoring_hash_and_empties():
    d = deployment(image="web:2")
    d["spec"]["template"]["metadata"]["creationTimestamp"] = None
    d["spec"]["template"]["spec"]["containers"][0]["resources"] = {}
    assert decide(d, HISTORY, 2).noop


def test_patch_is_kubectls():
    d = deployment(**{"kubernetes.io/change-cause": "v3", "team": "x",
                      "kubectl.kubernetes.io/last-applied-configuration": "{}"})
    old = rs(2, "web:2", **{"kubernetes.io/change-cause": "v2", "deployment.kubernetes.io/desired-replicas": "3"})
    patch = decide(d, [rs(1, "web:1"), old, rs(3, "web:3")]).patch
    assert patch[0] == {"op": "replace", "path": "/spec/template", "value": template("web:2")}
    assert patch[1] == {"op": "replace", "path": "/metadata/annotations", "value": {
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
        "deployment.kubernetes.io/revision": "3",
        "kubernetes.io/change-cause": "v2"}}


def test_selector_string():
    sel = {"matchLabels": {"app": "web", "a": "b"},
           "matchExpressions": [{"key": "tier", "operator": "In", "values": ["y", "x"]},
                                {"key": "t", "operator": "NotIn", "values": ["z"]},
                                {"key": "e", "operator": "Exists"}, {"key": "n", "operator": "DoesNotExist"}]}
    assert history.selector_string(sel) == "a=b,app=web,tier in (x,y),t notin (z),e,!n"


def test_canonical():
    assert history.canonical({"a": None, "b": {}, "c": [], "d": {"e": {"f": None}}, "g": [1, {}], "h": 0}) == \
        {"g": [1, {}], "h": 0}


def test_resume_paused_undoes_and_unpauses_in_one_patch():
    decision = decide(deployment(paused=True), HISTORY, resume_paused=True)
    assert decision.to_revision == 2 and decision.resume and not decision.noop
    assert decision.patch[-1] == {"op": "remove", "path": "/spec/paused"}
    assert [op["path"] for op in decision.patch] == ["/spec/template", "/metadata/annotations", "/spec/paused"]


def test_resume_paused_already_at_target_only_unpauses():
    decision = decide(deployment(image="web:2", paused=True), HISTORY, to_revision=2, resume_paused=True)
    assert not decision.noop and decision.patch == [{"op": "remove", "path": "/spec/paused"}]


def test_paused_before_its_new_template_rolled_out_returns_to_the_last_rolled_out_revision():
    d = deployment(image="web:4", paused=True)              # template changed while paused: no RS has it
    decision = decide(d, HISTORY, resume_paused=True)
    assert (decision.to_revision, decision.to_image) == (3, "web:3")
