"""Export bundles checked offline, and a legacy JSONL log imported once with its chain kept verifiable."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline.audit.log import AuditLog
from pipeline.records import MemoryDriver, Records, Refused, deploy_record
from pipeline.records import files, layout
from pipeline.records.facts import Facts, history
from pipeline.secrets import Secret

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
KEY = Secret("PIPELINE_RECORDS_SIGNING_KEY", "s" * 40)


def records(key: Secret | None = None, **kwargs) -> Records:
    moments = iter(T0 + timedelta(days=i) for i in range(1000))
    return Records(MemoryDriver(), "klaviyo-sync", "prod", key=key, actor={"name": "ada"},
                   clock=lambda: next(moments), **kwargs)


def filled(key: Secret | None = None) -> Records:
    store = records(key)
    for i in range(1, 6):
        store.append("deploy", deploy_record({"image": f"app:{i}", "outcome": "deployed", "commit": f"c{i}"},
                                             pod_template_hash=f"h{i}"))
    return store


def write(tmp_path: Path, document: dict, name: str = "bundle.json") -> Path:
    path = tmp_path / name
    path.write_text(files.render(document, "bundle"))
    return path


def test_an_export_since_a_date_verifies_offline_with_and_without_the_key(tmp_path):
    store = filled(KEY)
    bundle = store.export(since=T0 + timedelta(days=3))
    assert [r["seq"] for r in bundle["records"]] == [3, 4, 5] and bundle["check"]["ok"]
    assert bundle["segment"] == {"first_seq": 3, "last_seq": 5, "prev_hash": store.view().documents[1]["hash"]}
    assert bundle["check"]["signature"].startswith("valid")
    path = write(tmp_path, bundle)
    check = files.verify_file(path, KEY, None)
    assert check.ok and check.signature.startswith("valid"), check.describe()
    assert files.verify_file(path, None, None).signature.startswith("not checked")
    assert files.verify_file(path, KEY, store.view().documents[3]["hash"]).ok
    anchored = files.verify_file(path, KEY, "f" * 64)
    assert not anchored.ok and "the expected hash" in anchored.describe()


def test_a_changed_bundle_is_caught(tmp_path):
    bundle = filled(KEY).export()
    bundle["records"][1]["data"]["image"] = "app:forged"
    check = files.verify_file(write(tmp_path, bundle), KEY, None)
    assert not check.ok and {"edited:2", "bundle-sha256"} <= {p.id for p in check.problems}
    bundle = filled(KEY).export()
    del bundle["records"][-1]                          # the head still names record 5
    check = files.verify_file(write(tmp_path, bundle, "b2.json"), None, None)
    assert "record(s) 5 at the end were deleted" in check.describe()


def test_a_records_jsonl_export_verifies_as_a_segment(tmp_path):
    store = filled()
    path = tmp_path / "records.jsonl"
    path.write_text(files.render(store.export(), "jsonl"))
    assert files.verify_file(path, None, None).ok
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:1] + lines[2:]) + "\n")
    assert "record(s) 2 missing after record 1" in files.verify_file(path, None, None).describe()


def legacy_log(path: Path) -> AuditLog:
    """Two deploy runs (one AuditLog per invocation, as the old pipeline wrote them)."""
    for i, (image, outcome) in enumerate([("app:0.9", "deployed"), ("app:0.10-bad", "rolled_back")]):
        log = AuditLog(path, "prod", "klaviyo-sync", actor={"name": "old-runner"})
        moment = T0 - timedelta(days=30 - i)
        log.append("deploy_started", {"image": image, "commit": f"old{i}"}, now=moment)
        log.append("stage", {"stage": "gate 1/3"}, now=moment + timedelta(seconds=5))
        log.append("deploy_finished", {"outcome": outcome}, now=moment + timedelta(seconds=9))
    return log


def test_a_legacy_log_is_imported_once_and_its_chain_stays_verifiable(tmp_path):
    path = tmp_path / "prod.jsonl"
    log = legacy_log(path)
    store = records(KEY, max_payload=900)             # small objects: the log is split over several records
    written = store.import_log(path)
    assert len(written) > 1 and sum(r["data"]["count"] for r in written) == 6
    assert all(r["kind"] == "import" for r in written) and store.verify().ok
    assert store.driver.get(layout.record_name("klaviyo-sync", "prod", 1)).labels[layout.OUTCOME] == "imported"
    assert store.import_log(path) == []                # nothing new: never twice
    log.append("note", {"i": 7}, now=T0)
    more = store.import_log(path)
    assert [r["data"]["first_seq"] for r in more] == [7] and store.verify().ok
    facts = Facts.of(store.view().documents)
    assert facts.verdicts().verified_images == {"app:0.9"} and facts.last_verified().commit == "old0"
    rows = history(store.view().documents)
    assert [(r.image, r.outcome, r.seq) for r in rows] == [("app:0.10-bad", "rolled_back", None),
                                                           ("app:0.9", "deployed", None)]


def test_an_imported_entry_changed_in_the_store_is_named(tmp_path):
    path = tmp_path / "prod.jsonl"
    legacy_log(path)
    store = records()
    [record] = store.import_log(path)
    stored = store.driver.get(layout.record_name("klaviyo-sync", "prod", record["seq"]))
    document = json.loads(json.dumps(stored.document))
    document["data"]["entries"][3]["data"]["image"] = "app:forged"
    from pipeline.records import chain

    forged = chain.new_record(document["seq"], document["prev_hash"], document["time"], "klaviyo-sync", "prod",
                              "import", document["actor"], document["data"], None)
    store.driver.update(type(stored)(stored.name, "record", stored.labels, forged))
    head = store.driver.get(layout.head_name("klaviyo-sync", "prod"))
    store.driver.update(type(head)(head.name, "head", head.labels,
                                   {**head.document, "hash": forged["hash"]}))   # hide it from the store chain
    check = store.verify()
    assert not check.ok and "imported log entry 4 (in record 1): hash does not match the entry's content" \
        in check.describe()


def test_a_broken_log_or_one_changed_since_its_import_is_refused(tmp_path):
    path = tmp_path / "prod.jsonl"
    legacy_log(path)
    store = records()
    store.import_log(path)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:2] + lines[3:]))
    with pytest.raises(Refused, match="BROKEN at line 3"):
        store.import_log(path)
    other = tmp_path / "other.jsonl"
    other.write_text("".join(lines[:2]))
    assert records().import_log(other)                  # a different log (a prefix) imports on its own
    secret = Secret("KLAVIYO_PRIVATE_KEY", "pk_live_abcdef0123456789")
    leaky = tmp_path / "leaky.jsonl"
    AuditLog(leaky, "prod", "klaviyo-sync", actor={"name": "x"}).append("note", {"detail": secret.reveal()[3:]})
    with pytest.raises(Refused, match="holds a secret"):
        records(secrets=(Secret("K", secret.reveal()[3:]),)).import_log(leaky)
