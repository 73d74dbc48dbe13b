"""docs/data-exchanged.md lists exactly the fields the app's real request bodies carry."""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from typing import Any, Iterator

import pytest

from .tables import REPO, code, read, tables_with

APP_SOURCE = REPO / "examples" / "klaviyo-sync"
if str(APP_SOURCE) not in sys.path:
    sys.path.insert(0, str(APP_SOURCE))

from klaviyo_sync.sync import Identity, event_body, profile_body  # noqa: E402

DOC = "data-exchanged.md"
NOW = datetime(2026, 11, 24, 19, 15, 6, tzinfo=timezone.utc)
POD = "klaviyo-sync-7d9f8b6c5-x2x4z"
UNIQUE_ID = "3f1c0d52-3f0e-4c1e-9d7e-6a2b1f0c9e11"


def leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from leaves(inner, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix, value


def bodies() -> dict[str, dict[str, Any]]:
    who = Identity.for_instance(POD)
    return {"/api/profile-import": profile_body(who, NOW),
            "/api/events": event_body(who, UNIQUE_ID, NOW, "1.4.0")}


def documented() -> dict[str, dict[str, dict[str, str]]]:
    found: dict[str, dict[str, dict[str, str]]] = {}
    for row in tables_with(read(DOC), "endpoint", "field", "example", "pii"):
        found.setdefault(code(row["endpoint"]), {})[code(row["field"])] = row
    return found


@pytest.mark.parametrize("endpoint", sorted(bodies()))
def test_documented_fields_are_exactly_the_body_fields(endpoint):
    real = dict(leaves(bodies()[endpoint]))
    rows = documented().get(endpoint, {})
    assert set(rows) == set(real), f"docs/{DOC} {endpoint}: documented {sorted(rows)}, sent {sorted(real)}"
    for field, row in rows.items():
        assert json.loads(code(row["example"])) == real[field], f"{endpoint} {field}: example differs"


def test_only_documented_endpoints_carry_bodies():
    assert set(documented()) == set(bodies())


def test_pii_marks_the_contact_fields():
    for endpoint, rows in documented().items():
        for field, row in rows.items():
            contact = field.rsplit(".", 1)[-1] in ("email", "phone_number")
            assert (row["pii"] == "yes") == contact, f"{endpoint} {field}: PII column {row['pii']!r}"
