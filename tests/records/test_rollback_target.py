"""The rollback's undo target from the records: the revision of the ReplicaSet running the newest verified release."""
from __future__ import annotations

from pipeline.records import MemoryDriver, Records, deploy_record
from pipeline.records.facts import Release
from pipeline.records.templates import release_template_hash
from pipeline.rollback.audit_trail import Known, known, revision_running
from rollback import test_last_good as last_good   # tests/ is on sys.path



def rs(revision: int, image: str, hash_: str, uid: str = "d1") -> dict:
    """The rollback tests' ReplicaSet, with the pod-template-hash label the controller puts on it."""
    replica_set = last_good.rs(revision, image, uid)
    replica_set["metadata"]["name"] = f"web-{hash_}"
    replica_set["metadata"]["labels"] = {"app": "web", "pod-template-hash": hash_}
    replica_set["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] = hash_
    return replica_set


deployment = last_good.deployment


# deploy 1.1.0 (r1), 1.3.0 (r2), bad (r3), automatic undo to 1.3.0: r2's ReplicaSet is reused as r4
HISTORY = [rs(1, "app:1.1.0", "h11"), rs(3, "app:bad", "hbad"), rs(4, "app:1.3.0", "h13"), rs(9, "x:1", "o", "d2")]


def test_the_target_revision_is_the_one_running_the_release_even_the_current_one():
    target = Release(2, "t", "app:1.3.0", None, "h13", "c3", "deployed")
    assert revision_running(deployment("app:1.3.0", 4), HISTORY, target, "app") == 4      # undo is a no-op
    older = Release(1, "t", "app:1.1.0", None, "h11", "c1", "deployed")
    assert revision_running(deployment("app:1.3.0", 4), HISTORY, older, "app") == 1
    by_image = Release(1, "t", "app:1.1.0", None, None, "c1", "deployed")
    assert revision_running(deployment("app:1.3.0", 4), HISTORY, by_image, "app") == 1
    gone = Release(1, "t", "x:1", None, "o", "c", "deployed")                  # another Deployment's RS
    assert revision_running(deployment("app:1.3.0", 4), HISTORY, gone, "app") is None


def test_the_release_hash_a_deploy_records():
    live = deployment("app:1.3.0", 4)
    assert release_template_hash(live, HISTORY, "app", "app:1.3.0", rolled_back=False) == "h13"
    assert release_template_hash(live, HISTORY, "app", "app:bad", rolled_back=True) == "hbad"
    assert release_template_hash(None, HISTORY, "app", "app:bad", rolled_back=True) is None


def test_known_reads_the_records_once_and_tolerates_none():
    assert known(None) == Known()
    store = Records(MemoryDriver(), "web", "prod", actor={"name": "ada"})
    for image, outcome, hash_ in (("app:1.1.0", "deployed", "h11"), ("app:1.3.0", "deployed", "h13"),
                                  ("app:bad", "rolled_back", "hbad")):
        store.append("deploy", deploy_record({"image": image, "outcome": outcome, "commit": image},
                                             pod_template_hash=hash_))
    facts = known(store)
    assert facts.target.pod_template_hash == "h13" and facts.rolled_back.image == "app:bad"
    assert facts.commit_to_revert == "app:bad" and facts.good_images == {"app:1.1.0", "app:1.3.0"}
