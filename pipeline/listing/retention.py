"""Row "record retention": logs and records kept at least 365 days, as the listing requires.

The retention is read from the configuration key ``RETENTION_SETTING`` (the release-record
store's retention, in days). A configuration without that key is reported as not checked,
naming the key: nothing here guesses a retention.
"""
from __future__ import annotations

from typing import Any

from pipeline.config import EnvConfig
from pipeline.listing.model import Row, failed, not_checked, passed

NAME = "retention"
REQUIREMENT = "Logs must be retained for a minimum of 365 days"
RETENTION_SETTING = "records.retention_days"
MINIMUM_DAYS = 365


def configured_days(config: EnvConfig, key: str = RETENTION_SETTING) -> Any:
    """The value of dotted ``key`` in ``config``, or None when this configuration has no such setting."""
    value: Any = config
    for part in key.split("."):
        if not hasattr(value, part):
            return None
        value = getattr(value, part)
    return value


def retention_row(config: EnvConfig, key: str = RETENTION_SETTING) -> Row:
    days = configured_days(config, key)
    if days is None:
        return not_checked(NAME, REQUIREMENT, f"this configuration has no retention setting ({key}); the audit "
                           "log and release records have no configured retention to read", setting=key)
    if isinstance(days, bool) or not isinstance(days, (int, float)):
        return not_checked(NAME, REQUIREMENT, f"env.{config.name}.{key} is {days!r}, not a number of days", setting=key)
    if days < MINIMUM_DAYS:
        return failed(NAME, REQUIREMENT, f"env.{config.name}.{key} = {days:g} days < {MINIMUM_DAYS}", setting=key,
                      days=days)
    return passed(NAME, REQUIREMENT, f"env.{config.name}.{key} = {days:g} days >= {MINIMUM_DAYS}", setting=key, days=days)
