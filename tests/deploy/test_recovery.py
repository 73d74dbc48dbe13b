"""Recovery's decision from a dead deploy's recorded intent (pure)."""
import json
from dataclasses import replace

from pipeline.deploy.recovery import Live, decide
from pipeline.deploy.state import Intent

OLD = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}}
NEW = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "app", "image": "app:2"}]}}
DEAD = Intent("d1", "app:2", "dana@laptop/4242", "2026-11-24T19:00:00Z", OLD, "app:1", flag_before=True,
              phase="gate 1/3", changed=True)


def test_nothing_recorded_and_nothing_paused():
    assert decide(None, Live(True, False, OLD)).nothing


def test_paused_without_record_is_resumed():
    plan = decide(None, Live(True, True, OLD))
    assert plan.resume and plan.undo_to is None


def test_unverified_release_is_returned_to_the_template_that_was_serving():
    plan = decide(DEAD, Live(True, True, {**NEW, "metadata": {"labels": {"app": "a", "pod-template-hash": "x"}}}))
    assert plan.undo_to == OLD and not plan.restore_flag
    assert "left app:2 unverified; returning to app:1" in plan.reason


def test_unpaused_unverified_release_is_still_undone():
    assert decide(DEAD, Live(True, False, NEW)).undo_to == OLD


def test_killed_after_the_undo_landed_only_restores_what_is_left():
    """The undo reused the old ReplicaSet under a new revision number: keyed by template, nothing is lost."""
    dead = replace(DEAD, phase="rollback", flag_turned_off=True)
    plan = decide(dead, Live(True, False, OLD))
    assert plan.undo_to is None and plan.restore_flag and not plan.impossible


def test_killed_while_the_undo_was_still_paused_is_resumed_by_the_undo():
    plan = decide(replace(DEAD, phase="rollback"), Live(True, True, OLD))
    assert plan.undo_to == OLD


def test_flag_left_alone_when_it_was_off_before():
    dead = replace(DEAD, flag_before=False, flag_turned_off=False)
    assert not decide(dead, Live(True, False, NEW)).restore_flag


def test_verified_release_is_kept():
    plan = decide(replace(DEAD, verified=True), Live(True, False, NEW))
    assert plan.nothing


def test_dead_before_any_change():
    assert decide(replace(DEAD, changed=False), Live(True, False, OLD)).nothing
    assert decide(replace(DEAD, changed=False), Live(True, True, OLD)).resume


def test_first_release_left_unverified_is_removed():
    """No release before it: the last verified release is none, so what the deploy created goes."""
    dead = replace(DEAD, from_template=None, from_image=None, flag_turned_off=True,
                   created=("Deployment/web", "Service/web"))
    plan = decide(dead, Live(True, False, NEW))
    assert plan.remove == ("Deployment/web", "Service/web") and plan.undo_to is None and plan.restore_flag
    assert not plan.impossible and "so it is removed" in plan.reason


def test_first_release_already_gone_only_restores_the_flag():
    dead = replace(DEAD, from_template=None, from_image=None, flag_turned_off=True, created=("Deployment/web",))
    plan = decide(dead, Live(False))
    assert not plan.remove and plan.restore_flag


def test_first_release_verified_is_kept():
    dead = replace(DEAD, from_template=None, from_image=None, verified=True, created=("Deployment/web",))
    assert decide(dead, Live(True, False, NEW)).nothing


def test_first_deploy_recorded_before_deploys_listed_what_they_create_needs_a_person():
    plan = decide(replace(DEAD, from_template=None, from_image=None), Live(True, False, NEW))
    assert plan.impossible and "no earlier release" in plan.impossible


def test_intent_round_trips_through_json_and_tolerates_unknown_fields():
    data = {**DEAD.to_json(), "added_by_a_newer_version": 1}
    assert Intent.from_json(data) == DEAD
    created = replace(DEAD, created=("Deployment/web",))
    assert Intent.from_json(json.loads(json.dumps(created.to_json()))) == created
    assert Intent.from_json("garbage") is None and Intent.from_json({"deploy_id": "x"}) is None
