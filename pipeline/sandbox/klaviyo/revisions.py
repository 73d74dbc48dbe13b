"""The ``revision`` header: known GA revisions and the rules for resolving a requested one."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from pipeline.sandbox.klaviyo.errors import ApiError, invalid

GA_REVISIONS: tuple[str, ...] = (
    "2022-10-17",
    "2023-01-24", "2023-02-22", "2023-06-15", "2023-07-15", "2023-08-15", "2023-09-15",
    "2023-10-15", "2023-12-15",
    "2024-02-15", "2024-05-15", "2024-06-15", "2024-07-15", "2024-10-15",
    "2025-01-15", "2025-04-15", "2025-07-15", "2025-10-15",
    "2026-01-15", "2026-04-15", "2026-07-15", "2026-10-15",
)
_FORMAT = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:\.([a-z]+))?$")


@dataclass(frozen=True)
class Revision:
    requested: str
    served: str          # the GA revision (on or before the requested date) that answers
    beta: bool


def resolve(value: str | None, today: dt.date) -> Revision:
    """Pure: accept a valid revision, or raise the ApiError a.klaviyo.com answers with."""
    if value is None or not value.strip():
        raise ApiError(400, "invalid", "Invalid input.",
                       "Missing required header 'revision'. Use a date in the format YYYY-MM-DD, "
                       "e.g. revision: " + GA_REVISIONS[-1] + ".", None, "revision")
    match = _FORMAT.match(value.strip())
    if not match or (match.group(4) not in (None, "pre")):
        raise _malformed(value)
    try:
        date = dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        raise _malformed(value) from None
    if date > today:
        raise ApiError(404, "not_found", "Not found.",
                       "Unable to specify a future revision date.", None, "revision")
    served = [r for r in GA_REVISIONS if dt.date.fromisoformat(r) <= date]
    if not served:
        raise ApiError(400, "invalid", "Invalid input.",
                       f"Revision {value} is before the earliest available, use a date after "
                       f"{GA_REVISIONS[0]}.", None, "revision")
    return Revision(value.strip(), served[-1], match.group(4) == "pre")


def _malformed(value: str) -> ApiError:
    return invalid(f"Invalid revision header '{value[:40]}'. Use a date in the format YYYY-MM-DD "
                   "(optionally suffixed .pre).", parameter="revision")
