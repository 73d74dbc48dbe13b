"""Importing a local JSONL audit log (``pipeline.audit.log``) into the store, once (pure parts).

The log's entries are kept verbatim, in order, inside ``import`` records (as many as needed to
keep each object small), so their own hash chain stays verifiable from the cluster: the store's
verification re-walks it (``check``). A log that grew since an earlier import continues where
that import stopped; the same entries are never imported twice.

An import record's ``data``::

    {"source": {"name": "prod.jsonl", "first_hash": "<hash of the log's entry 1>"},
     "first_seq": 1, "last_seq": 250, "last_hash": "<hash of entry 250>", "entries": [...]}
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

from pipeline.audit.log import GENESIS, check_entry
from pipeline.records.chain import Problem, where

KIND = "import"


def imported(chain: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Legacy entries per source (its first entry's hash), in import order."""
    sources: dict[str, list[dict[str, Any]]] = {}
    for document in chain:
        if document.get("kind") == KIND:
            source = str((document["data"].get("source") or {}).get("first_hash", ""))
            sources.setdefault(source, []).extend(document["data"].get("entries") or [])
    return sources


def entries(chain: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every imported legacy entry, sources one after the other."""
    return [entry for items in imported(chain).values() for entry in items]


def check(chain: Sequence[dict[str, Any]]) -> list[Problem]:
    """Re-walk each imported log's own chain: seq 1, 2, ... and prev_hash = the previous hash."""
    problems: list[Problem] = []
    for document in chain:
        if document.get("kind") != KIND:
            continue
        data = document["data"]
        first = int(data.get("first_seq") or 0)
        if first < 1:
            problems.append(Problem(f"legacy:{document['seq']}", document["seq"],
                                    f"{where(document)}: import record without first_seq"))
    for source, items in imported(chain).items():
        problem = _walk(source, items)
        if problem:
            seq = _import_seq(chain, source, problem[0])
            problems.append(Problem(f"legacy:{source[:16]}:{problem[0]}", seq,
                                    f"imported log entry {problem[0]} (in record {seq}): {problem[1]}"))
    return problems


def _walk(source: str, items: Sequence[dict[str, Any]]) -> tuple[int, str] | None:
    """From the first entry present (an exported bundle may start after the log's first entries:
    the store's own chain proves nothing before them was removed)."""
    if not items:
        return None
    first = items[0]
    seq = int(first.get("seq") or 1) - 1 if isinstance(first, dict) else 0
    prev_hash = str(first.get("prev_hash")) if seq > 0 and isinstance(first, dict) else GENESIS
    for entry in items:
        checked = check_entry(entry, seq + 1, prev_hash)
        if isinstance(checked, str):
            return seq + 1, checked
        prev_hash, seq = checked["hash"], checked["seq"]
    if seq_of_first(items) == 1 and items[0].get("hash") != source:
        return 1, "the source named by the import is not its first entry"
    return None


def seq_of_first(items: Sequence[dict[str, Any]]) -> int:
    return int(items[0].get("seq") or 0) if items and isinstance(items[0], dict) else 0


def _import_seq(chain: Sequence[dict[str, Any]], source: str, legacy_seq: int) -> int:
    for document in chain:
        data = document.get("data") or {}
        if (document.get("kind") == KIND and (data.get("source") or {}).get("first_hash") == source
                and int(data.get("first_seq") or 0) <= legacy_seq <= int(data.get("last_seq") or 0)):
            return int(document["seq"])
    return int(chain[-1]["seq"]) if chain else 0


def new_entries(log: Sequence[dict[str, Any]], chain: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries of ``log`` not yet imported (all of them the first time)."""
    if not log:
        return []
    done = imported(chain).get(str(log[0]["hash"]), [])
    if done and (len(done) > len(log) or log[len(done) - 1]["hash"] != done[-1]["hash"]):
        raise ValueError(f"this log's first {len(done)} entries were imported before, but its entry "
                         f"{len(done)} now differs from the imported one: the file was changed")
    return list(log[len(done):])


def import_bodies(log_name: str, log: Sequence[dict[str, Any]], chain: Sequence[dict[str, Any]],
                  fits: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Import record bodies for the entries of ``log`` not imported yet, each one that ``fits``."""
    fresh = new_entries(log, chain)
    source = {"name": log_name, "first_hash": str(log[0]["hash"])} if log else {}
    return [{"source": dict(source), **body} for body in _chunks(fresh, lambda b: fits({"source": source, **b}))]


def _chunks(items: Sequence[dict[str, Any]], fits: Callable[[dict[str, Any]], bool]) -> Iterator[dict[str, Any]]:
    """Consecutive runs of ``items``, each as long as fits (halving until it does)."""
    start = 0
    while start < len(items):
        end = len(items)
        while True:
            body = {"first_seq": items[start]["seq"], "last_seq": items[end - 1]["seq"],
                    "last_hash": items[end - 1]["hash"], "count": end - start, "entries": list(items[start:end])}
            if fits(body) or end - start == 1:
                break
            end = start + max(1, (end - start) // 2)
        yield body
        start = end
