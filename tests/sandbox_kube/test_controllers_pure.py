"""Pure decisions: template identity, hashing, revisions, annotations, status and conditions, pods."""
from __future__ import annotations

import re

from pipeline.sandbox.kube.controllers import pods as podlib
from pipeline.sandbox.kube.controllers import progress
from pipeline.sandbox.kube.controllers.images import Behaviour, ImageCatalog, repository, split_image
from pipeline.sandbox.kube.controllers.revisions import rs_to_clean, set_new_rs_annotations
from pipeline.sandbox.kube.controllers.spec import parse_time
from pipeline.sandbox.kube.controllers.templates import equal_ignore_hash, template_hash

T = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}
NOW = parse_time("2026-01-01T00:00:00Z")


def test_equality_ignores_hash_label_nulls_and_empties():
    undo_body = {"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}, "creationTimestamp": None},
                 "spec": {"containers": [{"name": "web", "image": "nginx:1", "resources": {}}]}}
    assert equal_ignore_hash(T, undo_body)
    other = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}
    assert not equal_ignore_hash(T, other)


def test_hash_is_deterministic_alphabet_and_collision_sensitive():
    h = template_hash(T)
    assert h == template_hash(T) and re.fullmatch(r"[4-9bcdf]{1,10}", h)
    assert template_hash(T, 1) != h
    assert template_hash({**T, "metadata": {"labels": {"app": "web", "pod-template-hash": "x"}}}) == h


def test_new_rs_annotations_copy_skip_and_replica_annotations():
    notes: dict[str, str] = {}
    deploy_notes = {"kubernetes.io/change-cause": "v2", "team": "a",
                    "kubectl.kubernetes.io/last-applied-configuration": "{}",
                    "deployment.kubernetes.io/revision": "7"}
    assert set_new_rs_annotations(deploy_notes, notes, 2, False, 10, 13)
    assert notes == {"kubernetes.io/change-cause": "v2", "team": "a", "deployment.kubernetes.io/revision": "2",
                     "deployment.kubernetes.io/desired-replicas": "10", "deployment.kubernetes.io/max-replicas": "13"}


def test_reused_rs_gets_revision_history_and_revision_only_rises():
    notes = {"deployment.kubernetes.io/revision": "1"}
    set_new_rs_annotations({}, notes, 3, True, 1, 2)
    assert notes["deployment.kubernetes.io/revision"] == "3"
    assert notes["deployment.kubernetes.io/revision-history"] == "1"
    set_new_rs_annotations({}, notes, 5, True, 1, 2)
    assert notes["deployment.kubernetes.io/revision-history"] == "1,3"
    assert not set_new_rs_annotations({}, notes, 2, True, 1, 2)  # never lowered
    assert "deployment.kubernetes.io/desired-replicas" not in notes  # only set on create / scale


def test_cleanup_deletes_lowest_revisions_beyond_limit_only_when_drained():
    olds = [("r1", 1, 0, 0, True), ("r2", 2, 0, 0, True), ("r3", 3, 1, 1, True), ("r4", 4, 0, 0, True)]
    assert rs_to_clean(olds, 2) == ["r1", "r2"]
    assert rs_to_clean(olds, 1) == ["r1", "r2"]  # r3 still has replicas
    assert rs_to_clean(olds, 4) == []


def _counts(replicas, updated, available, spec_total=None):
    return progress.Counts(replicas, updated, available, available, spec_total if spec_total is not None else replicas)


def test_status_omits_zero_fields_and_sets_available_condition():
    status = progress.calculate_status({}, _counts(0, 0, 0, 3), 1, 3, 0, NOW)
    assert status["observedGeneration"] == 1 and status["unavailableReplicas"] == 3
    assert "replicas" not in status and "availableReplicas" not in status
    cond = progress.get_condition(status, "Available")
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
    status = progress.calculate_status(status, _counts(3, 3, 3), 1, 3, 0, NOW + 5)
    cond = progress.get_condition(status, "Available")
    assert (cond["status"], cond["reason"]) == ("True", "MinimumReplicasAvailable")
    assert cond["lastTransitionTime"] == "2026-01-01T00:00:05Z"


def test_progress_then_complete_then_no_change():
    old = {"replicas": 3, "updatedReplicas": 1, "availableReplicas": 3}
    new = {"observedGeneration": 2, "replicas": 4, "updatedReplicas": 2, "availableReplicas": 3}
    out = progress.rollout_status(old, new, "web-x", "web", 3, 2, 600, NOW)
    cond = progress.get_condition(out, "Progressing")
    assert (cond["reason"], cond["message"]) == ("ReplicaSetUpdated", 'ReplicaSet "web-x" is progressing.')
    done = {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3,
            "conditions": out["conditions"]}
    out2 = progress.rollout_status(out, done, "web-x", "web", 3, 2, 600, NOW + 1)
    cond = progress.get_condition(out2, "Progressing")
    assert (cond["reason"], cond["message"]) == ("NewReplicaSetAvailable", 'ReplicaSet "web-x" has successfully progressed.')
    assert cond["lastTransitionTime"] == "2026-01-01T00:00:00Z"   # still True: transition kept


def test_timeout_after_deadline_without_progress():
    stuck = {"observedGeneration": 2, "replicas": 4, "updatedReplicas": 1, "availableReplicas": 3,
             "conditions": [progress.condition("Progressing", "True", "ReplicaSetUpdated", "x", NOW)]}
    assert progress.rollout_status(stuck, stuck, "web-x", "web", 3, 2, 5, NOW + 5) == stuck
    out = progress.rollout_status(stuck, stuck, "web-x", "web", 3, 2, 5, NOW + 6)
    cond = progress.get_condition(out, "Progressing")
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "False", "ProgressDeadlineExceeded", 'ReplicaSet "web-x" has timed out progressing.')
    assert progress.deadline_epoch(stuck, 5) == NOW + 5


def test_paused_and_resumed_conditions():
    status: dict = {}
    assert progress.paused_condition(status, True, 600, NOW)
    cond = progress.get_condition(status, "Progressing")
    assert (cond["status"], cond["reason"], cond["message"]) == ("Unknown", "DeploymentPaused", "Deployment is paused")
    assert not progress.paused_condition(status, True, 600, NOW)
    assert progress.paused_condition(status, False, 600, NOW)
    assert progress.get_condition(status, "Progressing")["reason"] == "DeploymentResumed"
    assert progress.deadline_epoch({"conditions": [progress.condition("Progressing", "Unknown", "DeploymentPaused", "", NOW)]}, None) is None


def _pod(name, ready, since="2026-01-01T00:00:00Z", phase="Running", created="2026-01-01T00:00:00Z"):
    return {"metadata": {"name": name, "creationTimestamp": created, "labels": {"app": "web"}},
            "spec": {"nodeName": "n"},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                                       "lastTransitionTime": since}]}}


def test_pod_availability_honours_min_ready_seconds():
    pod = _pod("a", True)
    assert podlib.is_available(pod, 0, NOW)
    assert not podlib.is_available(pod, 5, NOW + 5)
    assert podlib.is_available(pod, 5, NOW + 5.01)
    assert podlib.available_at(pod, 5) == NOW + 5


def test_scale_down_prefers_unready_then_newest():
    pods = [_pod("old-ready", True), _pod("unready", False), _pod("new-ready", True, created="2026-01-01T00:01:00Z",
                                                                   since="2026-01-01T00:01:00Z")]
    assert [p["metadata"]["name"] for p in podlib.pods_to_delete(pods, 2)] == ["unready", "new-ready"]


def test_rs_status_counts_and_omitempty():
    rs = {"metadata": {"generation": 2}, "spec": {"minReadySeconds": 0,
                                                 "template": {"metadata": {"labels": {"app": "web"}}}}}
    assert podlib.replica_set_status(rs, [], NOW) == {"replicas": 0, "observedGeneration": 2}
    status = podlib.replica_set_status(rs, [_pod("a", True), _pod("b", False)], NOW)
    assert status == {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 1, "availableReplicas": 1,
                      "observedGeneration": 2}


def test_image_names_and_behaviour_lookup():
    assert split_image("ghcr.io/acme/klaviyo-sync:1.2.0-bad-auth") == ("ghcr.io/acme/klaviyo-sync", "1.2.0-bad-auth")
    assert split_image("localhost:5000/app") == ("localhost:5000/app", "latest")
    assert repository("ghcr.io/acme/klaviyo-sync:1.2.0-bad-auth") == "klaviyo-sync"
    catalog = ImageCatalog()
    catalog.update_behaviours({"nginx": {"never_ready": True}, "nginx:2": {"ready_after_seconds": 2}})
    assert catalog.behaviour("nginx:1") == Behaviour(never_ready=True)
    assert catalog.behaviour("nginx:2") == Behaviour(ready_after_seconds=2)
    assert catalog.behaviour("redis:7") == Behaviour()
    assert catalog.process("ghcr.io/acme/klaviyo-sync:1.0") is None


def test_bad_behaviour_input_names_the_field_and_changes_nothing():
    import pytest
    catalog = ImageCatalog()
    with pytest.raises(ValueError, match=r"images\['b'\].never_ready: expected true or false"):
        catalog.update_behaviours({"a": {"crash": True}, "b": {"never_ready": "yes"}})
    with pytest.raises(ValueError, match="unknown field"):
        catalog.update_behaviours({"a": {"explode": True}})
    assert catalog.behaviours == {}
