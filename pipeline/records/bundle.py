"""Export bundles (pure): records plus head plus the signature check, for write-once archival.

``invoke audit.export --since DATE`` writes one JSON document::

    {"format": "pipeline.records.bundle/v1", "app": ..., "env": ..., "exported_at": ..., "since": ...,
     "head": {the chain head}, "records": [records since DATE, oldest first],
     "segment": {"first_seq", "last_seq", "prev_hash"},      # where the records sit in the chain
     "check": {the whole chain's verification at export time, signatures included},
     "records_sha256": "<sha256 of the canonical JSON of records>"}

:func:`verify` re-checks a bundle offline (``invoke audit.verify --path bundle.json``): each
record's hash and link from ``segment.prev_hash``, the head against the newest record, and
with the signing key every signature.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any, Mapping, Sequence

from pipeline.audit.log import GENESIS, canonical
from pipeline.records import chain, layout, legacy
from pipeline.records.driver import Stored
from pipeline.secrets import Secret

FORMAT = "pipeline.records.bundle/v1"


def make(app: str, env: str, head: Mapping[str, Any] | None, documents: Sequence[dict[str, Any]],
         check: chain.ChainCheck, exported_at: str, since: str | None) -> dict[str, Any]:
    records = [d for d in documents if since is None or str(d.get("time", "")) >= since]
    first = records[0] if records else None
    return {"format": FORMAT, "app": app, "env": env, "exported_at": exported_at, "since": since,
            "head": dict(head) if head else None, "records": records,
            "segment": {"first_seq": first["seq"] if first else None,
                        "last_seq": records[-1]["seq"] if records else None,
                        "prev_hash": first["prev_hash"] if first else None},
            "check": check.to_json(), "records_sha256": records_sha256(records)}


def records_sha256(records: Sequence[Mapping[str, Any]]) -> str:
    return hashlib.sha256(canonical({"r": list(records)})).hexdigest()


def is_bundle(document: Any) -> bool:
    return isinstance(document, dict) and document.get("format") == FORMAT


def verify(document: Mapping[str, Any], key: Secret | None) -> chain.ChainCheck:
    """Verify a bundle on its own (no cluster): its records as a segment of the chain."""
    app, env = str(document.get("app", "")), str(document.get("env", ""))
    records = list(document.get("records") or [])
    objects = [Stored(layout.record_name(app, env, int(r.get("seq", 0))), "record", {}, r) for r in records]
    head = document.get("head")
    stored_head = Stored(layout.head_name(app, env), "head", {}, dict(head)) if head else None
    segment = document.get("segment") or {}
    first = int(segment.get("first_seq") or 1)
    start = (first - 1, str(segment.get("prev_hash") or GENESIS))
    check = chain.verify(objects, stored_head, app, env, key, checks=(legacy.check,), segment=start)
    if records_sha256(records) != document.get("records_sha256"):
        problem = chain.Problem("bundle-sha256", None, "the bundle's records_sha256 does not match its records: "
                                "the file was changed after export")
        return replace(check, ok=False, problems=check.problems + (problem,))
    return check
