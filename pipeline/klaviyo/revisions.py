"""Klaviyo API revisions: the GA list and the lifecycle rules, as pure functions.

Sources (see /work/shared/reference/klaviyo-api.md §2):
- GA dates: the branches of https://github.com/klaviyo/openapi (2022-10-17 .. 2026-07-15) and
  klaviyo-api 25.0.0 on PyPI, which pins 2026-10-15 (the newest GA in late 2026).
- Lifecycle (https://community.klaviyo.com/articles/619, developers.klaviyo.com
  api_versioning_and_deprecation_policy): a revision is stable for 1 year after its release,
  deprecated for the next year, and retired 2 years after release.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import Enum

GA_REVISIONS: tuple[str, ...] = (
    "2022-10-17",
    "2023-01-24", "2023-02-22", "2023-06-15", "2023-07-15", "2023-08-15", "2023-09-15",
    "2023-10-15", "2023-12-15",
    "2024-02-15", "2024-05-15", "2024-06-15", "2024-07-15", "2024-10-15",
    "2025-01-15", "2025-04-15", "2025-07-15", "2025-10-15",
    "2026-01-15", "2026-04-15", "2026-07-15", "2026-10-15",
)
NEWEST_KNOWN_GA = GA_REVISIONS[-1]
_REVISION = re.compile(r"(\d{4})-(\d{2})-(\d{2})(\.pre)?")


class RevisionState(str, Enum):
    STABLE = "stable"            # GA, released less than a year ago
    DEPRECATED = "deprecated"    # GA, 1-2 years old: still served, upgrade soon
    RETIRED = "retired"          # GA, 2+ years old: no longer served
    FUTURE = "future"            # after today: Klaviyo refuses it (404)
    UNKNOWN = "unknown"          # a date that never was a GA revision
    UNLISTED = "unlisted"        # newer than the newest GA this table knows, not in the future
    BETA = "beta"                # a .pre revision: not GA
    MALFORMED = "malformed"      # not YYYY-MM-DD[.pre]


@dataclass(frozen=True)
class RevisionAssessment:
    revision: str
    state: RevisionState
    released: date | None = None
    deprecated_on: date | None = None    # released + 1 year
    retired_on: date | None = None       # released + 2 years


def parse_revision(revision: str) -> tuple[date, bool] | None:
    """``(date, is_beta)`` of ``YYYY-MM-DD[.pre]``, or None when malformed or not a date."""
    match = _REVISION.fullmatch(revision)
    if not match:
        return None
    try:
        day = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None
    return day, bool(match.group(4))


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:               # 29 February
        return day.replace(year=day.year + years, day=28)


def assess_revision(revision: str, today: date) -> RevisionAssessment:
    """Where ``revision`` stands on ``today``: stable, deprecated, retired, future, unknown..."""
    parsed = parse_revision(revision)
    if parsed is None:
        return RevisionAssessment(revision, RevisionState.MALFORMED)
    released, beta = parsed
    if released > today:
        return RevisionAssessment(revision, RevisionState.FUTURE, released)
    if beta:
        return RevisionAssessment(revision, RevisionState.BETA, released)
    deprecated_on, retired_on = add_years(released, 1), add_years(released, 2)
    if revision not in GA_REVISIONS:
        state = (RevisionState.UNLISTED if revision > NEWEST_KNOWN_GA else RevisionState.UNKNOWN)
        return RevisionAssessment(revision, state, released)
    if today >= retired_on:
        state = RevisionState.RETIRED
    elif today >= deprecated_on:
        state = RevisionState.DEPRECATED
    else:
        state = RevisionState.STABLE
    return RevisionAssessment(revision, state, released, deprecated_on, retired_on)


def newest_ga_on(today: date) -> str | None:
    """The newest GA revision released on or before ``today``."""
    released = [r for r in GA_REVISIONS if date.fromisoformat(r) <= today]
    return released[-1] if released else None
