"""Check 5: the configured revision is current: a real GA date, not in the future, not retired.

Stable for 1 year after release (PASS), deprecated the next year (WARN), retired after 2
years (FAIL); an unknown, beta or future date fails. The rules are pure functions in
``pipeline.klaviyo.revisions`` with "today" passed in.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pipeline.klaviyo.revisions import (NEWEST_KNOWN_GA, RevisionAssessment, RevisionState,
                                        assess_revision, newest_ga_on)
from pipeline.preflight.check import Finding, Verdict
from pipeline.preflight.context import PreflightContext


@dataclass(frozen=True)
class RevisionCheck:
    timeout: float = 5.0
    name: str = "revision"
    title: str = "API revision current"

    async def run(self, ctx: PreflightContext) -> Finding:
        return evaluate_revision(ctx.config.klaviyo.revision, ctx.today)


def evaluate_revision(revision: str, today: date) -> Finding:
    a = assess_revision(revision, today)
    newest = newest_ga_on(today)
    measured = {"revision": revision, "state": a.state.value, "today": today.isoformat(),
                "newest_ga": newest,
                "deprecated_on": a.deprecated_on.isoformat() if a.deprecated_on else None,
                "retired_on": a.retired_on.isoformat() if a.retired_on else None}
    return Finding(_VERDICT[a.state], _detail(a, today, newest), measured)


_VERDICT = {
    RevisionState.STABLE: Verdict.PASS, RevisionState.DEPRECATED: Verdict.WARN,
    RevisionState.UNLISTED: Verdict.WARN, RevisionState.RETIRED: Verdict.FAIL,
    RevisionState.FUTURE: Verdict.FAIL, RevisionState.UNKNOWN: Verdict.FAIL,
    RevisionState.BETA: Verdict.FAIL, RevisionState.MALFORMED: Verdict.FAIL,
}


def _detail(a: RevisionAssessment, today: date, newest: str | None) -> str:
    r = a.revision
    if a.state is RevisionState.STABLE:
        return (f"revision {r} is GA and stable until {a.deprecated_on} (today {today}; "
                f"retired on {a.retired_on})")
    if a.state is RevisionState.DEPRECATED:
        days = (a.retired_on - today).days if a.retired_on else 0
        return (f"revision {r} is deprecated since {a.deprecated_on} and retires on {a.retired_on} "
                f"(in {days} days; today {today}); upgrade to {newest}")
    if a.state is RevisionState.RETIRED:
        return f"revision {r} retired on {a.retired_on} (today {today}); upgrade to {newest}"
    if a.state is RevisionState.FUTURE:
        return f"revision {r} is after today {today}: Klaviyo refuses future revisions"
    if a.state is RevisionState.BETA:
        return f"revision {r} is a beta (.pre) revision, not GA; use a GA revision such as {newest}"
    if a.state is RevisionState.UNLISTED:
        return (f"revision {r} is newer than the newest GA known here ({NEWEST_KNOWN_GA}) and not in "
                "the future: confirm it and add it to pipeline/klaviyo/revisions.py")
    if a.state is RevisionState.UNKNOWN:
        return f"revision {r} is not a GA revision date (newest GA on {today}: {newest})"
    return f"revision {r!r} is not a date YYYY-MM-DD[.pre]"
