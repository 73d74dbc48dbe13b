"""On-demand undo never lands on a release a deploy already rejected."""
from pipeline.kube.history import select_revision
from pipeline.rollback.audit_trail import verified_images
from pipeline.rollback.rollout_undo import decide

REVISION = "deployment.kubernetes.io/revision"


def rs(revision: int, image: str, uid: str = "d1") -> dict:
    return {"metadata": {"name": f"web-{revision}", "annotations": {REVISION: str(revision)},
                         "ownerReferences": [{"uid": uid, "controller": True}]},
            "spec": {"template": {"metadata": {"labels": {"app": "web", "pod-template-hash": str(revision)}},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}}}


def deployment(image: str, revision: int) -> dict:
    return {"metadata": {"name": "web", "uid": "d1", "annotations": {REVISION: str(revision)}},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}}}


# After an automatic rollback of a bad release: 2 good, 3 bad (rejected), 4 = good again (current).
HISTORY = [rs(2, "app:1.0.0"), rs(3, "app:1.2.0-bad"), rs(4, "app:1.1.0")]


def entry(kind, run, **data):
    return {"kind": kind, "run": run, "data": data}


LOG = [entry("deploy_started", "a", image="app:1.0.0"), entry("deploy_finished", "a", outcome="deployed"),
       entry("deploy_started", "b", image="app:1.1.0"), entry("deploy_finished", "b", outcome="deployed"),
       entry("deploy_started", "c", image="app:1.2.0-bad"), entry("deploy_finished", "c", outcome="rolled_back"),
       entry("deploy_started", "d", image="app:9"), entry("deploy_finished", "d", outcome="refused")]


def test_verified_images_are_the_last_good_verdicts():
    assert verified_images(LOG) == {"app:1.0.0", "app:1.1.0"}
    later_bad = LOG + [entry("deploy_started", "e", image="app:1.0.0"),
                       entry("deploy_finished", "e", outcome="rollback_failed")]
    assert verified_images(later_bad) == {"app:1.1.0"}


def test_kubectl_rule_without_preference_picks_the_rejected_release():
    assert select_revision(deployment("app:1.1.0", 4), HISTORY)[0] == 3


def test_preference_skips_the_rejected_release():
    good = verified_images(LOG)
    decision = decide(deployment("app:1.1.0", 4), HISTORY, container="app", good_images=good)
    assert (decision.to_revision, decision.to_image) == (2, "app:1.0.0")


def test_explicit_revision_and_no_verified_image_keep_kubectl_semantics():
    assert decide(deployment("app:1.1.0", 4), HISTORY, 3, "app", good_images=frozenset({"app:1.0.0"})).to_revision == 3
    assert decide(deployment("app:1.1.0", 4), HISTORY, container="app",
                  good_images=frozenset({"other:1"})).to_revision == 3
