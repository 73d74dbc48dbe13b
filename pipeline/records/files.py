"""Release records outside the cluster: export files, and checking them (or a legacy log) offline.

Three kinds of file are verified by ``invoke audit.verify --path FILE``:

* a bundle (``invoke audit.export``, the default format): records, head and the check at export;
* a records JSONL export (``--format jsonl``): one record per line, canonical JSON;
* a legacy local JSONL audit log (``pipeline.audit.log``), as before the store existed.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from pipeline.audit import log as jsonl
from pipeline.audit.log import canonical
from pipeline.records import bundle
from pipeline.records.chain import ChainCheck, Problem
from pipeline.secrets import Secret


def render(document: Mapping[str, Any], format: str) -> str:
    """The export as text: the bundle as indented JSON, or its records one canonical line each."""
    if format == "jsonl":
        return "".join(canonical(r).decode("utf-8") + "\n" for r in document["records"])
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def verify_file(path: str | Path, key: Secret | None, expect_head: str | None) -> ChainCheck:
    text = Path(path).read_text(encoding="utf-8")
    whole = load_json(text)
    if bundle.is_bundle(whole):
        return anchored(bundle.verify(whole, key), whole.get("records") or [], expect_head)
    lines = [load_json(line) for line in text.splitlines() if line.strip()]
    if lines and isinstance(lines[0], dict) and "v" in lines[0] and "run" not in lines[0]:
        records = [r for r in lines if isinstance(r, dict)]
        first = records[0] if records else {}
        pseudo = {"app": first.get("app"), "env": first.get("env"), "head": None, "records": records,
                  "segment": {"first_seq": first.get("seq"), "prev_hash": first.get("prev_hash")}}
        pseudo["records_sha256"] = bundle.records_sha256(records)
        check = bundle.verify(pseudo, key)
        if len(records) != len(lines):
            check = with_problem(check, Problem("not-json", None, "some lines are not JSON records"))
        return anchored(check, records, expect_head)
    return _legacy(path, expect_head)


def anchored(check: ChainCheck, documents: Sequence[Mapping[str, Any]], expect_head: str | None) -> ChainCheck:
    """With ``expect_head`` (a hash recorded elsewhere earlier): it must be a record of the chain."""
    if not expect_head or expect_head == check.head_hash or any(d.get("hash") == expect_head for d in documents):
        return check
    return with_problem(check, Problem("anchor", None, f"the expected hash {expect_head} is not in the chain: "
                                       "records were removed, or the chain was rewritten"))


def with_problem(check: ChainCheck, problem: Problem) -> ChainCheck:
    return dataclasses.replace(check, ok=False, problems=check.problems + (problem,))


def key_for(env: str, config: str) -> Secret | None:
    """The environment's signing key, to check an exported file's signatures (None if unavailable)."""
    try:
        from pipeline.config import load_config
        from pipeline.kube.client import api_client
        from pipeline.secrets import secret_source

        settings = load_config(env, config)
        api = api_client(settings.kube) if settings.secrets.source == "kubernetes" else None
        name = settings.secrets.records_signing_key
        return secret_source(settings, api).get(name) if name else None
    except Exception:  # noqa: BLE001 - without the key, signatures are reported "not checked"
        return None


def _legacy(path: str | Path, expect_head: str | None) -> ChainCheck:
    result = jsonl.verify(path, expect_head=expect_head)
    problems = () if result.ok else (Problem("legacy", result.bad_line, result.describe()),)
    return ChainCheck(result.ok, result.entries, 1 if result.entries else 0, result.entries, result.head,
                      result.entries, result.head, 0, "unsigned (a local JSONL log)", problems)


def load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
