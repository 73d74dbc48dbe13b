"""Revision rules (pure) and the revision check's verdicts."""
from datetime import date

import pytest

from pipeline.klaviyo.revisions import GA_REVISIONS, RevisionState, assess_revision, newest_ga_on
from pipeline.klaviyo.sdk_versions import NODE, PYTHON, NODE_SDK_REVISIONS, PYTHON_SDK_REVISIONS, revision_for
from pipeline.preflight.check import Verdict
from pipeline.preflight.checks.revision import evaluate_revision

TODAY = date(2026, 11, 24)


@pytest.mark.parametrize("revision, state", [
    ("2026-10-15", RevisionState.STABLE),
    ("2025-10-15", RevisionState.DEPRECATED),      # released 13 months ago
    ("2024-10-15", RevisionState.RETIRED),         # the checklist's hard-coded revision: 2 years old
    ("2027-01-15", RevisionState.FUTURE),
    ("2026-10-16", RevisionState.UNLISTED),
    ("2025-03-01", RevisionState.UNKNOWN),
    ("2026-07-15.pre", RevisionState.BETA),
    ("2026-13-01", RevisionState.MALFORMED),
    ("latest", RevisionState.MALFORMED),
])
def test_assess_revision(revision, state):
    assert assess_revision(revision, TODAY).state is state


def test_lifecycle_boundaries_are_one_and_two_years():
    assert assess_revision("2025-10-15", date(2026, 10, 14)).state is RevisionState.STABLE
    assert assess_revision("2025-10-15", date(2026, 10, 15)).state is RevisionState.DEPRECATED
    assert assess_revision("2025-10-15", date(2027, 10, 15)).state is RevisionState.RETIRED


def test_newest_ga_on():
    assert newest_ga_on(TODAY) == "2026-10-15"
    assert newest_ga_on(date(2025, 5, 1)) == "2025-04-15"
    assert newest_ga_on(date(2020, 1, 1)) is None


def test_check_passes_a_stable_revision():
    finding = evaluate_revision("2026-10-15", TODAY)
    assert finding.verdict is Verdict.PASS
    assert finding.detail == ("revision 2026-10-15 is GA and stable until 2027-10-15 (today 2026-11-24; "
                              "retired on 2028-10-15)")


def test_check_warns_when_deprecated():
    finding = evaluate_revision("2025-10-15", TODAY)
    assert finding.verdict is Verdict.WARN
    assert "deprecated since 2026-10-15 and retires on 2027-10-15 (in 325 days" in finding.detail
    assert "upgrade to 2026-10-15" in finding.detail


@pytest.mark.parametrize("revision, text", [
    ("2024-10-15", "revision 2024-10-15 retired on 2026-10-15 (today 2026-11-24); upgrade to 2026-10-15"),
    ("2027-01-15", "revision 2027-01-15 is after today 2026-11-24: Klaviyo refuses future revisions"),
    ("2025-03-01", "revision 2025-03-01 is not a GA revision date (newest GA on 2026-11-24: 2026-10-15)"),
    ("2026-07-15.pre", "is a beta (.pre) revision, not GA"),
])
def test_check_fails_retired_future_unknown_beta(revision, text):
    finding = evaluate_revision(revision, TODAY)
    assert finding.verdict is Verdict.FAIL
    assert text in finding.detail


def test_sdk_tables_only_name_ga_revisions_and_known_pins():
    for table in (PYTHON_SDK_REVISIONS, NODE_SDK_REVISIONS):
        assert set(table.values()) <= set(GA_REVISIONS)
    assert revision_for(PYTHON, "25.0.0") == "2026-10-15"
    assert revision_for(PYTHON, "24.0.0") == "2026-07-15"
    assert revision_for(NODE, "20.0.0") == "2025-10-15"
    assert revision_for(NODE, "99.0.0") is None


def test_python_table_matches_the_installed_sdk():
    klaviyo_api = pytest.importorskip("klaviyo_api")
    from importlib.metadata import version
    assert revision_for(PYTHON, version("klaviyo-api")) == klaviyo_api.KlaviyoAPI._REVISION
