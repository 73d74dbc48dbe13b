"""Promotion by digest: prod takes only a digest that staging verified, and says why not."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from pipeline.promotion import PromotionError, Record, decide, digest_of

T0 = datetime(2026, 11, 24, 19, 0, tzinfo=timezone.utc)
GOOD = "sha256:" + "a" * 64
BAD = "sha256:" + "b" * 64
IMAGE = f"ghcr.io/acme/klaviyo-sync@{GOOD}"


def record(digest: str, outcome: str, minutes: int, tag: str = "1.3.0") -> Record:
    return Record(f"ghcr.io/acme/klaviyo-sync:{tag}@{digest}", digest, outcome, T0 + timedelta(minutes=minutes))


@pytest.mark.parametrize("image, digest", [
    (IMAGE, GOOD),
    (f"ghcr.io/acme/klaviyo-sync:1.3.0@{GOOD}", GOOD),
    (f"localhost:5000/klaviyo-sync@{GOOD}", GOOD),
    ("ghcr.io/acme/klaviyo-sync:1.3.0", None),
    ("ghcr.io/acme/klaviyo-sync@sha256:abc", None),                 # not a whole digest
    ("ghcr.io/acme/klaviyo-sync@sha256:" + "A" * 64, None),          # digests are lower-case hex
    ("ghcr.io/acme/klaviyo-sync:sha256-" + "a" * 64, None),          # a tag that looks like one
])
def test_digest_of(image, digest):
    assert digest_of(image) == digest


def test_an_environment_without_a_rule_takes_any_image():
    decision = decide("staging", "", "klaviyo-sync:1.3.0", [])
    assert decision.allowed and "promote_from is unset" in decision.message


def test_a_digest_verified_in_the_source_is_promoted():
    decision = decide("prod", "staging", IMAGE, [record(BAD, "deployed", 1), record(GOOD, "deployed", 5)])
    assert decision.allowed
    assert decision.evidence is not None and decision.evidence.time == T0 + timedelta(minutes=5)
    assert decision.message.startswith("sha256:aaaaaaaaaaaa was verified in staging by the deploy of "
                                       "ghcr.io/acme/klaviyo-sync:1.3.0@")
    assert decision.override_reason is None


def test_an_unpromoted_digest_is_refused_with_what_to_do():
    decision = decide("prod", "staging", IMAGE, [record(BAD, "deployed", 1)])
    assert not decision.allowed
    assert decision.message.startswith("no verified deploy of sha256:aaaaaaaaaaaa in staging; prod only takes "
                                       "what staging verified.")
    assert f"invoke deploy --env staging --image {IMAGE}" in decision.message
    assert '--promotion-override "<reason>"' in decision.message


def test_a_tag_is_refused_even_with_an_override():
    for override in (None, "staging is down"):
        decision = decide("prod", "staging", "ghcr.io/acme/klaviyo-sync:1.3.0",
                          [record(GOOD, "deployed", 1)], override)
        assert not decision.allowed
        assert "prod takes images by digest only (promote_from = 'staging')" in decision.message
        assert "'ghcr.io/acme/klaviyo-sync:1.3.0' has no @sha256:<64 hex> digest" in decision.message


def test_a_digest_the_source_rolled_back_later_is_refused():
    records = [record(GOOD, "deployed", 1), record(GOOD, "rolled_back", 9, tag="1.3.0-again")]
    decision = decide("prod", "staging", IMAGE, list(reversed(records)))
    assert not decision.allowed
    assert decision.message.startswith("staging rejected sha256:aaaaaaaaaaaa: its latest deploy "
                                       "(ghcr.io/acme/klaviyo-sync:1.3.0-again@")
    assert "ended rolled_back at 2026-11-24T19:09:00+00:00" in decision.message


def test_a_later_good_deploy_verifies_it_again_and_other_outcomes_say_nothing():
    records = [record(GOOD, "rolled_back", 1), record(GOOD, "deployed", 2),
               record(GOOD, "nothing_to_do", 3), record(GOOD, "refused", 4)]
    assert decide("prod", "staging", IMAGE, records).allowed


def test_only_failed_records_are_no_evidence():
    decision = decide("prod", "staging", IMAGE, [record(GOOD, "refused", 1), record(GOOD, "nothing_to_do", 2)])
    assert not decision.allowed and decision.evidence is None


def test_an_override_lets_an_unverified_digest_through_and_is_recorded():
    decision = decide("prod", "staging", IMAGE, [], override="  staging down; hotfix INC-42  ")
    assert decision.allowed
    assert decision.override_reason == "staging down; hotfix INC-42"
    assert decision.message == ("promotion override: staging down; hotfix INC-42 (no verified deploy of "
                                "sha256:aaaaaaaaaaaa in staging; let through and recorded)")
    recorded = json.loads(json.dumps(decision.to_json()))
    assert recorded["override"] is True and recorded["override_reason"] == "staging down; hotfix INC-42"
    assert recorded["digest"] == GOOD and recorded["source_env"] == "staging"


def test_an_override_of_a_verified_digest_is_not_needed_and_not_recorded_as_used():
    decision = decide("prod", "staging", IMAGE, [record(GOOD, "deployed", 1)], override="just in case")
    assert decision.allowed and decision.override_reason is None
    assert decision.to_json()["evidence"]["time"] == "2026-11-24T19:01:00+00:00"


@pytest.mark.parametrize("override", ["", "   "])
def test_an_override_without_a_reason_is_a_usage_error(override):
    with pytest.raises(PromotionError, match="--promotion-override needs a reason"):
        decide("prod", "staging", IMAGE, [], override=override)


def test_records_from_todays_audit_log_feed_the_decision(tmp_path):
    from pipeline.audit import AuditLog, entries
    from pipeline.promotion import records_from_audit

    def invocation() -> AuditLog:                             # each deploy has a run of its own
        return AuditLog(tmp_path / "staging.jsonl", "staging", "klaviyo-sync")

    for image, outcome in ((IMAGE, "deployed"), (f"ghcr.io/acme/klaviyo-sync@{BAD}", "rolled_back"),
                           ("klaviyo-sync:1.4.0", "deployed")):
        log = invocation()
        log.append("deploy_started", {"image": image, "commit": "abc"})
        log.append("stage", {"name": "bake"})
        log.append("deploy_finished", {"outcome": outcome})
    invocation().append("deploy_started", {"image": f"ghcr.io/acme/klaviyo-sync@{BAD}"})   # killed: no record
    records = records_from_audit(entries(tmp_path / "staging.jsonl"))
    assert [(r.digest, r.outcome) for r in records] == [(GOOD, "deployed"), (BAD, "rolled_back"), (None, "deployed")]
    assert records[0].time.tzinfo is not None
    assert decide("prod", "staging", IMAGE, records).allowed
    assert not decide("prod", "staging", f"ghcr.io/acme/klaviyo-sync@{BAD}", records).allowed
