"""The record store's policy on the memory driver: chain, head, signing, tampering, repair, retention."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from pipeline.records import ChainBroken, MemoryDriver, Records, Refused, Stored, deploy_record
from pipeline.records import chain, layout
from pipeline.secrets import MASK, Secret

T0 = datetime(2026, 1, 5, 9, 0, 0, 123456, tzinfo=timezone.utc)
KEY = Secret("PIPELINE_RECORDS_SIGNING_KEY", "k" * 32)


class Clock:
    def __init__(self, start: datetime = T0):
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def store(driver: MemoryDriver | None = None, key: Secret | None = None, **kwargs) -> Records:
    kwargs.setdefault("clock", Clock())
    return Records(driver or MemoryDriver(), "klaviyo-sync", "prod", key=key, key_name=KEY.name,
                   actor={"name": "ada", "host": "laptop"}, **kwargs)


def deploys(records: Records, *images: str) -> list[dict]:
    return [records.append("deploy", deploy_record({"image": image, "outcome": "deployed", "commit": f"{i:040x}"},
                                                   pod_template_hash=f"h{i}"))
            for i, image in enumerate(images, start=1)]


def obj(records: Records, seq: int) -> Stored:
    return records.driver.get(layout.record_name("klaviyo-sync", "prod", seq))


def put(records: Records, stored: Stored, document: dict) -> None:
    """Tamper: an unconditional write of ``document`` into ``stored``'s object."""
    records.driver.update(dataclasses.replace(stored, document=document, version=""))


def messages(check: chain.ChainCheck) -> str:
    return "\n".join(p.message for p in check.problems)


# --------------------------------------------------------------------------- the chain

def test_records_chain_onto_the_head_with_names_and_labels():
    records = store()
    first, second = deploys(records, "app:1", "app:2")
    assert (first["seq"], first["prev_hash"]) == (1, chain.GENESIS)
    assert second["prev_hash"] == first["hash"] == chain.record_hash(first)
    stored = obj(records, 2)
    assert stored.name == "pipeline.record.v1.klaviyo-sync.prod.0000000002"
    assert stored.labels == {layout.ROLE: "record", layout.APP: "klaviyo-sync", layout.ENV: "prod",
                             layout.SEQUENCE: "2", layout.KIND: "deploy", layout.OUTCOME: "deployed"}
    head = records.driver.get(layout.head_name("klaviyo-sync", "prod")).document
    assert (head["seq"], head["hash"]) == (2, second["hash"])
    check = records.verify()
    assert check.ok and check.records == 2 and check.head_hash == second["hash"], check.describe()
    assert check.signature.startswith("unsigned")


def test_secrets_never_reach_a_record():
    private = Secret("KLAVIYO_PRIVATE_KEY", "pk_live_0123456789abcdef")
    records = store(secrets=(private,), key=KEY)
    record = records.append("deploy", {"reason": f"401 for {private.reveal()} signed with {KEY.reveal()}",
                                       "api_key": private})
    text = repr(record)
    assert private.reveal() not in text and KEY.reveal() not in text and record["data"]["api_key"] == MASK
    with pytest.raises(Refused, match="looks like a credential"):
        records.append("deploy", {"launchdarkly_api_token": "api-plain"})
    assert records.verify().records == 1


def test_reserved_and_bad_kinds_are_refused():
    records = store()
    for kind in ("repair", "prune", "import", "Deploy Started"):
        with pytest.raises(Refused, match="kind"):
            records.append(kind, {})


# --------------------------------------------------------------------------- tampering

def test_an_edited_record_is_named():
    records = store()
    deploys(records, "app:1", "app:2", "app:3")
    stored = obj(records, 2)
    put(records, stored, {**stored.document, "data": {**stored.document["data"], "image": "app:evil"}})
    check = records.verify()
    assert not check.ok and [p.id for p in check.problems] == ["edited:2"]
    assert "record 2 (deploy, 2026-01-05 09:03:00 UTC): its content does not match its hash: the record was " \
           "edited" in messages(check)


def test_a_deleted_record_is_named():
    records = store()
    deploys(records, "app:1", "app:2", "app:3", "app:4")
    records.driver.delete(layout.record_name("klaviyo-sync", "prod", 2))
    check = records.verify()
    assert not check.ok and [p.id for p in check.problems] == ["missing:2-2"]
    assert "record(s) 2 missing after record 1 (before record 3 (deploy" in messages(check)


def test_deleting_the_newest_is_caught_by_the_head():
    records = store()
    deploys(records, "app:1", "app:2", "app:3")
    records.driver.delete(layout.record_name("klaviyo-sync", "prod", 3))
    check = records.verify()
    assert not check.ok
    assert "the head says the chain ends at record 3, but the newest record is 2: record(s) 3 at the end were " \
           "deleted" in messages(check)


def test_reordered_records_are_caught():
    records = store()
    deploys(records, "app:1", "app:2", "app:3")
    two, three = obj(records, 2), obj(records, 3)
    put(records, two, three.document)                   # swap the contents of two objects
    put(records, three, two.document)
    check = records.verify()
    keys = {p.id for p in check.problems}
    assert not check.ok and {"moved:2", "moved:3"} <= keys
    assert "object pipeline.record.v1.klaviyo-sync.prod.0000000002 holds record 3" in messages(check)


def test_reordering_with_renumbered_recomputed_records_breaks_the_links():
    records = store()
    deploys(records, "app:1", "app:2", "app:3")
    two, three = obj(records, 2).document, obj(records, 3).document
    swapped_2 = chain.new_record(2, two["prev_hash"], three["time"], "klaviyo-sync", "prod", "deploy",
                                 three["actor"], three["data"], None)
    swapped_3 = chain.new_record(3, three["prev_hash"], two["time"], "klaviyo-sync", "prod", "deploy",
                                 two["actor"], two["data"], None)
    put(records, obj(records, 2), swapped_2)
    put(records, obj(records, 3), swapped_3)
    check = records.verify()
    assert not check.ok and "link:3" in {p.id for p in check.problems}
    assert "record 3 (deploy" in messages(check) and "prev_hash does not match record 2's hash" in messages(check)


def rewrite_all(records: Records, key: Secret | None = None, head_too: bool = False) -> None:
    """An attacker recomputes every hash (without the real key) after changing record 1."""
    prev = chain.GENESIS
    objects = sorted(records.driver.list(layout.selector("klaviyo-sync", "prod")), key=lambda o: o.document["seq"])
    for stored in objects:
        document = stored.document
        data = {**document["data"], "image": "app:forged"} if document["seq"] == 1 else document["data"]
        forged = chain.new_record(document["seq"], prev, document["time"], "klaviyo-sync", "prod",
                                  document["kind"], document["actor"], data, key)
        put(records, stored, forged)
        prev = forged["hash"]
    if head_too:
        head = records.driver.get(layout.head_name("klaviyo-sync", "prod"))
        old = head.document
        put(records, head, chain.new_head("klaviyo-sync", "prod", old["seq"], prev, old["time"],
                                          signed_from=old["signed_from"] if key else None, key=key))


def test_a_full_rewrite_without_the_key_is_caught_by_the_head():
    records = store()
    deploys(records, "app:1", "app:2", "app:3")
    rewrite_all(records)
    check = records.verify()
    assert not check.ok and [p.id for p in check.problems] == ["head-hash"]
    assert "is not record 3's hash" in messages(check) and "the chain was rewritten" in messages(check)


def test_with_a_key_a_rewrite_of_records_and_head_without_it_is_caught():
    records = store(key=KEY)
    deploys(records, "app:1", "app:2")
    assert records.verify().signature.startswith("valid")
    rewrite_all(records, key=Secret("X", "not-the-key"), head_too=True)
    check = records.verify()
    keys = {p.id for p in check.problems}
    assert not check.ok and {"sig:1", "sig:2", "head-sig"} <= keys, check.describe()
    assert "record 1 (deploy" in messages(check) and "written without the signing key" in messages(check)


def test_with_a_key_stripping_every_signature_is_caught():
    records = store(key=KEY)
    deploys(records, "app:1", "app:2")
    rewrite_all(records, key=None, head_too=True)       # unsigned records, unsigned head
    check = records.verify()
    assert not check.ok and [p.id for p in check.problems] == ["unsigned-head"]
    unkeyed = store(driver=records.driver)               # a reader without the key cannot tell
    assert unkeyed.verify().ok


def test_a_deleted_head_is_caught():
    records = store()
    deploys(records, "app:1")
    records.driver.delete(layout.head_name("klaviyo-sync", "prod"))
    check = records.verify()
    assert not check.ok and "the chain head object is missing but 1 records exist" in messages(check)


# --------------------------------------------------------------------------- refusing, repairing

def test_appending_to_a_broken_chain_is_refused_until_a_repair_is_recorded():
    records = store(key=KEY)
    deploys(records, "app:1", "app:2", "app:3")
    records.driver.delete(layout.record_name("klaviyo-sync", "prod", 3))
    with pytest.raises(ChainBroken, match="(?s)refusing to append.*record\\(s\\) 3 at the end were deleted"):
        deploys(records, "app:4")
    assert records.verify().head_seq == 3                # nothing was written
    with pytest.raises(Refused, match="reason"):
        records.repair(" ")
    repair = records.repair("ada: record 3 was deleted by a cleanup script; the deploy happened (run 42)")
    assert repair["seq"] == 4 and repair["prev_hash"] == obj(records, 2).document["hash"]
    assert repair["data"]["accepted"] == ["missing:3-3"] and "sig" in repair
    assert repair["data"]["problems"][0]["id"] == "missing:3-3"
    check = records.verify()
    assert check.ok and [p.id for p in check.accepted] == ["missing:3-3"], check.describe()
    fifth = deploys(records, "app:5")[0]
    assert fifth["seq"] == 5 and records.verify().ok
    with pytest.raises(Refused, match="nothing to repair"):
        records.repair("again")
    stored = obj(records, 1)                             # a new problem is not covered by the old repair
    put(records, stored, {**stored.document, "time": "2020-01-01T00:00:00.000000Z"})
    assert [p.id for p in records.verify().problems] == ["edited:1"]


def test_a_repair_cannot_accept_an_edit_of_itself():
    records = store()
    deploys(records, "app:1", "app:2")
    records.driver.delete(layout.record_name("klaviyo-sync", "prod", 2))
    records.repair("seen")
    repair = obj(records, 3)
    edited = {**repair.document, "data": {**repair.document["data"], "accepted": ["missing:2-2", "edited:3"]}}
    put(records, repair, edited)
    assert "edited:3" in {p.id for p in records.verify().problems}


def test_signing_starts_with_an_explicit_repair_and_a_keyless_writer_is_then_refused():
    unsigned = store()
    deploys(unsigned, "app:1")
    keyed = store(driver=unsigned.driver, key=KEY)
    assert [p.id for p in keyed.verify().problems] == ["unsigned-head"]
    with pytest.raises(ChainBroken):
        deploys(keyed, "app:2")
    keyed.repair("signing enabled: key PIPELINE_RECORDS_SIGNING_KEY added to the prod environment")
    assert keyed.verify().ok and keyed.verify().signed_from == 2
    deploys(keyed, "app:3")
    with pytest.raises(Refused, match="signed from record 2, but the signing key PIPELINE_RECORDS_SIGNING_KEY is "
                                      "not available"):
        deploys(unsigned, "app:4")
    assert unsigned.verify().ok and unsigned.verify().signature.startswith("not checked")


def test_a_record_left_after_the_head_by_a_dead_writer_is_adopted():
    records = store()
    first = deploys(records, "app:1")[0]
    orphan = chain.new_record(2, first["hash"], "2026-01-05T10:00:00.000000Z", "klaviyo-sync", "prod", "deploy",
                              {"name": "dead"}, {"image": "app:2", "outcome": "deployed"}, None)
    records.driver.create(records._stored_record(orphan))    # created, then the writer died
    check = records.verify()
    assert check.ok and check.pending == 2 and "record 2 was written after the head" in check.describe()
    third = deploys(records, "app:3")[0]
    assert (third["seq"], third["prev_hash"]) == (3, orphan["hash"]) and records.verify().ok


# --------------------------------------------------------------------------- retention

def test_prune_deletes_only_records_older_than_the_retention():
    clock = Clock(T0)
    records = store(clock=clock, retention_days=365)
    deploys(records, "app:1", "app:2", "app:3")          # minutes after T0
    clock.now = T0 + timedelta(days=200)
    deploys(records, "app:4")
    assert records.prune(now=T0 + timedelta(days=364)).pruned == 0
    plan = records.prune(now=T0 + timedelta(days=366), dry_run=True)
    assert plan.pruned == 3 and plan.through_seq == 3 and records.verify().records == 4
    done = records.prune(now=T0 + timedelta(days=366))
    assert done.pruned == 3 and done.record["kind"] == "prune" and done.record["data"]["through_seq"] == 3
    check = records.verify()
    assert check.ok and (check.first_seq, check.last_seq, check.base_seq) == (4, 5, 3), check.describe()
    assert [d["data"].get("image") for d in records.view().documents] == ["app:4", None]
    records.driver.delete(layout.record_name("klaviyo-sync", "prod", 4))   # the start is still guarded
    assert "missing at the start of the chain" in messages(records.verify())


def test_an_unexplained_base_is_caught():
    records = store()
    deploys(records, "app:1", "app:2", "app:3")
    head = records.driver.get(layout.head_name("klaviyo-sync", "prod"))
    one = obj(records, 1).document
    put(records, head, {**head.document, "base_seq": 1, "base_hash": one["hash"]})
    records.driver.delete(layout.record_name("klaviyo-sync", "prod", 1))
    assert [p.id for p in records.verify().problems] == ["base"]


def test_a_record_too_large_keeps_its_facts_without_the_full_result():
    records = store(max_payload=2000)
    import secrets as random_text

    noise = [random_text.token_hex(64) for _ in range(200)]
    record = records.append("deploy", deploy_record({"image": "app:1", "outcome": "deployed", "stages": noise},
                                                    pod_template_hash="h1"))
    assert "result" not in record["data"] and record["data"]["image"] == "app:1"
    assert "exceeded 2000" in record["data"]["result_omitted"] and records.verify().ok


# --------------------------------------------------------------------------- races, interleaved by hand

class Interleaving:
    """A driver on ``shared`` that runs ``other()`` once, just before the first ``method`` call:
    another writer acts at exactly that point."""

    name = "interleaving"

    def __init__(self, shared: MemoryDriver, method: str, other):
        self.shared, self.method, self.other = shared, method, other

    def __getattr__(self, name):
        call = getattr(self.shared, name)
        if name != self.method or self.other is None:
            return call
        other, self.other = self.other, None

        def first(*args, **kwargs):
            other()
            return call(*args, **kwargs)
        return first


def test_losing_the_create_race_rechains_onto_the_winner():
    shared = MemoryDriver()
    b = store(shared)
    deploys(b, "app:1")
    a = store(Interleaving(shared, "create", lambda: deploys(b, "app:b")))
    mine = deploys(a, "app:a")[0]
    assert mine["seq"] == 3 and mine["prev_hash"] == obj(b, 2).document["hash"]
    assert obj(b, 2).document["data"]["image"] == "app:b" and b.verify().ok and b.verify().records == 3


def test_losing_the_head_race_after_creating_keeps_the_record_once():
    shared = MemoryDriver()
    b = store(shared)
    deploys(b, "app:1")
    # A creates record 2; before A moves the head, B adopts record 2 and appends record 3.
    a = store(Interleaving(shared, "update", lambda: deploys(b, "app:b")))
    mine = deploys(a, "app:a")[0]
    documents = b.view().documents
    assert [d["data"]["image"] for d in documents] == ["app:1", "app:a", "app:b"]
    assert mine["seq"] == 2 and b.verify().ok and b.verify().head_seq == 3
