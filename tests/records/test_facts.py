"""What the records answer: verified and rejected releases, the undo target, the commits; record bodies."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pipeline.records import MemoryDriver, Records, deploy_record, rollback_record
from pipeline.records.facts import Facts, Release

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def records() -> Records:
    moments = iter(T0 + timedelta(minutes=i) for i in range(1000))
    return Records(MemoryDriver(), "klaviyo-sync", "prod", actor={"name": "ada"}, clock=lambda: next(moments))


def deploy(store: Records, image: str, outcome: str, template: str, commit: str) -> None:
    store.append("deploy", deploy_record({"image": image, "outcome": outcome, "commit": commit},
                                         pod_template_hash=template))


def rollback(store: Records, ok: bool = True) -> None:
    rejects = store.facts().newest_deploy()
    store.append("rollback", rollback_record({"mechanisms": ["undo"], "ok": ok, "results": []}, rejects))


def test_after_an_automatic_rollback_the_target_is_the_release_already_running():
    store = records()
    deploy(store, "app:1.1.0", "deployed", "h11", "c1")
    deploy(store, "app:1.3.0", "deployed", "h13", "c3")
    deploy(store, "app:1.4.0-bad-auth", "rolled_back", "hbad", "c4")
    facts = store.facts()
    assert facts.last_verified().image == "app:1.3.0" and facts.deployed_commit() == "c3"
    assert facts.newest_deploy().image == "app:1.4.0-bad-auth" and facts.commit_to_revert() == "c4"
    assert facts.rollback_target().pod_template_hash == "h13"      # stays on 1.3.0, never the rejected one
    verdicts = facts.verdicts()
    assert verdicts.verified_templates == {"h11", "h13"} and verdicts.rejected_templates == {"hbad"}
    assert verdicts.rejected_images == {"app:1.4.0-bad-auth"}


def test_rolling_back_a_good_release_targets_the_one_before_and_rejects_it():
    store = records()
    deploy(store, "app:1.1.0", "deployed", "h11", "c1")
    deploy(store, "app:1.3.0", "deployed", "h13", "c3")
    assert store.facts().rollback_target().image == "app:1.1.0"
    rollback(store)
    facts = store.facts()
    assert facts.last_verified().image == "app:1.1.0"               # what runs now
    assert facts.rollback_target().image == "app:1.1.0"             # running a rollback again changes nothing
    assert "h13" in facts.verdicts().rejected_templates
    deploy(store, "app:1.3.0", "deployed", "h13", "c5")             # verified again by a new deploy
    assert "h13" in store.facts().verdicts().verified_templates and store.facts().last_verified().commit == "c5"


def test_a_failed_rollback_rejects_nothing_and_refused_deploys_are_not_releases():
    store = records()
    deploy(store, "app:1", "deployed", "h1", "c1")
    deploy(store, "app:2", "deployed", "h2", "c2")
    rollback(store, ok=False)
    deploy(store, "app:3", "refused", "", "c3")
    facts = store.facts()
    assert facts.newest_deploy().image == "app:2" and facts.last_verified().image == "app:2"


def test_a_rerun_that_found_nothing_to_do_does_not_make_the_release_its_own_target():
    store = records()
    deploy(store, "app:1", "deployed", "h1", "c1")
    deploy(store, "app:2", "deployed", "h2", "c2")
    deploy(store, "app:2", "nothing_to_do", "h2", "c2")
    assert store.facts().rollback_target().image == "app:1"


def test_without_template_hashes_images_decide():
    facts = Facts((Release(1, "t1", "app:1", None, None, "c1", "deployed"),
                   Release(2, "t2", "app:2", None, None, "c2", "rolled_back")))
    assert facts.rollback_target().image == "app:1" and facts.verdicts().verified_images == {"app:1"}


def test_deploy_record_body():
    body = deploy_record({"image": "ghcr.io/acme/app:1.0@sha256:" + "a" * 64, "outcome": "rolled_back",
                          "commit": "c" * 40, "exit_code": 5, "reason": "auth_errors", "previous_image": "app:0",
                          "rollback": [{"mechanism": "flag"}, {"mechanism": "undo"}, {"mechanism": "undo"}],
                          "duration_seconds": 12.5}, pod_template_hash="7d9f", extra="x")
    assert body["digest"] == "sha256:" + "a" * 64 and body["pod_template_hash"] == "7d9f"
    assert body["rollback"] == ["flag", "undo"] and body["outcome"] == "rolled_back" and body["extra"] == "x"
    assert body["result"]["reason"] == "auth_errors" and deploy_record({"image": "app:1"})["digest"] is None


def test_rollback_record_body():
    document = {"mechanisms": ["flag", "undo"], "ok": True, "reason": "p95", "exit_code": 0,
                "results": [{"mechanism": "undo", "data": {"from_image": "app:2", "to_image": "app:1",
                                                           "to_revision": 3}}]}
    rejected = Release(7, "t", "app:2", None, "h2", "c2", "deployed")
    body = rollback_record(document, rejected)
    assert (body["from_image"], body["to_image"], body["to_revision"]) == ("app:2", "app:1", 3)
    assert body["outcome"] == "done" and body["rejects"]["pod_template_hash"] == "h2"
    assert rollback_record({**document, "ok": False}, rejected)["rejects"] is None
    assert rollback_record({**document, "dry_run": True}, rejected)["outcome"] == "dry_run"


def test_a_deploy_let_through_with_the_kill_switch_off_verifies_nothing():
    """--allow-kill-switch-off: pods said "disabled", Klaviyo was never probed: not a verified release."""
    store = records()
    deploy(store, "app:1.1.0", "deployed", "h11", "c1")
    store.append("deploy", deploy_record({"image": "app:1.4.0-bad-auth", "outcome": "deployed", "commit": "c4"},
                                         pod_template_hash="hbad", kill_switch_off_accepted=True))
    facts = store.facts()
    assert facts.last_verified().image == "app:1.1.0"
    assert "hbad" not in facts.verdicts().verified_templates and "hbad" not in facts.verdicts().rejected_templates
