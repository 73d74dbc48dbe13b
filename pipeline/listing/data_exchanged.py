"""Row "data exchanged": docs/data-exchanged.md lists exactly the fields the app really sends.

The app's own payload builders (``klaviyo_sync.sync.profile_body`` / ``event_body``) run in a
child Python with the app source on its path (the pipeline never imports the app), for a fixed
pod name and time; every leaf field of those bodies must be a documented row for its endpoint
and the other way round, with the contact fields marked PII. Each endpoint with a body must be
in the app's endpoint table, so its scope is one the app requests.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

from pipeline.listing.markdown_tables import code, rows_with
from pipeline.listing.model import Row, failed, not_checked, passed
from pipeline.preflight.checks.oauth import DeclarationError, read_declaration

NAME = "data-exchanged"
REQUIREMENT = "A list of all data exchanged with Klaviyo, accurate and reflecting the requested scopes"
CONTACT = ("email", "phone_number")
_BODIES = """
import json
from datetime import datetime, timezone
from klaviyo_sync.sync import Identity, event_body, profile_body
who, now = Identity.for_instance("klaviyo-sync-7d9f8b6c5-x2x4z"), datetime(2026, 11, 24, tzinfo=timezone.utc)
print(json.dumps({"/api/profile-import": profile_body(who, now),
                  "/api/events": event_body(who, "00000000-0000-0000-0000-000000000000", now, "1.0.0")}))
"""


def leaves(value: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from leaves(inner, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix


def app_bodies(app_source: Path, timeout: float = 60.0) -> dict[str, Any]:
    """The app's request bodies, built by the app's own code in a child process."""
    done = subprocess.run([sys.executable, "-c", _BODIES], capture_output=True, text=True, timeout=timeout,
                          env={"PYTHONPATH": str(app_source.resolve()), "PATH": "/usr/bin:/bin"})
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the app's payload builders did not run ({last[:160]})")
    return json.loads(done.stdout)


def documented(doc: str) -> dict[str, dict[str, str]]:
    """endpoint -> field -> PII cell, from the doc's field tables."""
    found: dict[str, dict[str, str]] = {}
    for row in rows_with(doc, "endpoint", "field", "example", "pii"):
        found.setdefault(code(row["endpoint"]), {})[code(row["field"])] = row["pii"]
    return found


def compare(doc_fields: dict[str, dict[str, str]], bodies: dict[str, Any]) -> list[str]:
    """Pure: every difference between the documented and the real fields, one phrase each."""
    problems = []
    for endpoint in sorted(set(doc_fields) | set(bodies)):
        sent, listed = set(leaves(bodies.get(endpoint, {}))), set(doc_fields.get(endpoint, {}))
        if sent - listed:
            problems.append(f"{endpoint} sends undocumented {', '.join(sorted(sent - listed))}")
        if listed - sent:
            problems.append(f"{endpoint} documents {', '.join(sorted(listed - sent))}, which it does not send")
        for field, pii in doc_fields.get(endpoint, {}).items():
            if (pii == "yes") != (field.rsplit(".", 1)[-1] in CONTACT):
                problems.append(f"{endpoint} {field}: PII column says {pii!r}")
    return problems


def data_row(app_source: Path, doc_path: Path) -> Row:
    try:
        doc_fields = documented(doc_path.read_text())
        declared = read_declaration(app_source)
        bodies = app_bodies(app_source)
    except (OSError, DeclarationError, RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
        return not_checked(NAME, REQUIREMENT, str(exc))
    problems = compare(doc_fields, bodies)
    called = {path: scope for _, path, scope, _ in declared.endpoints}
    for endpoint in bodies:
        if endpoint not in called:
            problems.append(f"{endpoint} is not in the app's endpoint table ({declared.file})")
    fields = sum(len(f) for f in doc_fields.values())
    measured = {"endpoints": sorted(bodies), "fields": fields, "doc": str(doc_path)}
    if problems:
        return failed(NAME, REQUIREMENT, f"{doc_path} differs from the app: {'; '.join(problems)}", **measured)
    scopes = ", ".join(f"{e} ({called[e]})" for e in sorted(bodies))
    return passed(NAME, REQUIREMENT, (f"{doc_path}: {fields} fields documented = the fields the app's payload "
                                      f"builders send to {scopes}; contact fields marked PII"), **measured)
