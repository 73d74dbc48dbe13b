"""The chain (pure): how records are hashed and signed, what the head holds, what verification finds.

A record is a JSON document::

    {"v": 1, "seq": 7, "time": "2026-11-22T17:30:31.336676Z", "app": "klaviyo-sync", "env": "prod",
     "kind": "deploy", "actor": {...}, "data": {...}, "prev_hash": "<hash of record 6>",
     "hash": "<sha256 hex>", "sig": "<HMAC-SHA256 hex, when a signing key is configured>"}

``hash`` is sha256 over the canonical JSON (``pipeline.audit.log.canonical``) of the record
without ``hash`` and ``sig``; ``sig`` is HMAC-SHA256 under the signing key over
``"pipeline.record.v1\\n" + hash``. The chain head is a separate object::

    {"v": 1, "app", "env", "seq": 7, "hash": "<hash of record 7>", "time",
     "base_seq": 0, "base_hash": "<64 zeros>",       # the chain starts after this (moves on prune)
     "signed_from": 3, "key_id": "<16 hex>",           # records from 3 on are signed (null: unsigned)
     "sig": "<HMAC over the head without sig>"}

Verification reports every problem with a stable ``id`` (``edited:5``, ``missing:8-9``,
``link:6``, ``head-hash``...). A ``repair`` record lists the ids it accepts; a problem located
before a repair that accepts it no longer breaks the chain, a new one does.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from pipeline.audit.log import GENESIS, canonical
from pipeline.records.driver import Stored
from pipeline.records.layout import SEQUENCE, record_name
from pipeline.secrets import Secret

VERSION = 1
RECORD_FIELDS = ("v", "seq", "time", "app", "env", "kind", "actor", "data", "prev_hash", "hash")
HEAD_FIELDS = ("v", "app", "env", "seq", "hash", "time", "base_seq", "base_hash", "signed_from", "key_id")


# --------------------------------------------------------------------------- hashing and signing

def record_hash(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in document.items() if k not in ("hash", "sig")})).hexdigest()


def key_id(key: Secret) -> str:
    """A short public name of the key (an HMAC of a constant): which key signed, not the key."""
    return hmac.new(key.reveal().encode(), b"pipeline.records key id", hashlib.sha256).hexdigest()[:16]


def record_mac(key: Secret, hash_: str) -> str:
    return hmac.new(key.reveal().encode(), b"pipeline.record.v1\n" + hash_.encode(), hashlib.sha256).hexdigest()


def head_mac(key: Secret, head: Mapping[str, Any]) -> str:
    body = canonical({k: v for k, v in head.items() if k != "sig"})
    return hmac.new(key.reveal().encode(), b"pipeline.records-head.v1\n" + body, hashlib.sha256).hexdigest()


def new_record(seq: int, prev_hash: str, time: str, app: str, env: str, kind: str, actor: Mapping[str, Any],
               data: Mapping[str, Any], key: Secret | None) -> dict[str, Any]:
    record: dict[str, Any] = {"v": VERSION, "seq": seq, "time": time, "app": app, "env": env, "kind": kind,
                              "actor": dict(actor), "data": dict(data), "prev_hash": prev_hash}
    record["hash"] = record_hash(record)
    if key is not None:
        record["sig"] = record_mac(key, record["hash"])
    return record


def new_head(app: str, env: str, seq: int, hash_: str, time: str, base_seq: int = 0, base_hash: str = GENESIS,
             signed_from: int | None = None, key: Secret | None = None) -> dict[str, Any]:
    head: dict[str, Any] = {"v": VERSION, "app": app, "env": env, "seq": seq, "hash": hash_, "time": time,
                            "base_seq": base_seq, "base_hash": base_hash, "signed_from": signed_from,
                            "key_id": key_id(key) if key is not None and signed_from is not None else None}
    if key is not None and signed_from is not None:
        head["sig"] = head_mac(key, head)
    return head


# --------------------------------------------------------------------------- verification

@dataclass(frozen=True)
class Problem:
    id: str                  # stable: what a repair record accepts
    seq: int | None          # the record where it is (None: the head)
    message: str             # what and where, for people

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "seq": self.seq, "message": self.message}


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    records: int                        # records in the chain (after the base, up to the head)
    first_seq: int                      # 0 when there are none
    last_seq: int
    last_hash: str                      # hash of the newest record in the chain (base hash if none)
    head_seq: int | None                # None: no head object
    head_hash: str | None
    base_seq: int
    signature: str                      # valid | unsigned | not checked | invalid, and why
    problems: tuple[Problem, ...] = ()  # unaccepted: the chain is broken
    accepted: tuple[Problem, ...] = ()  # accepted by a repair record
    pending: int | None = None          # a record written after the head, waiting for it (a writer died)
    signed_from: int | None = None

    def describe(self) -> str:
        if self.records == 0 and not self.problems:
            text = "no records yet"
        else:
            text = (f"{self.records} records ({self.first_seq}..{self.last_seq}), head {self.head_seq} "
                    f"{(self.head_hash or '')[:16]}")
        lines = [f"{'intact' if self.ok else 'BROKEN'}: {text}; signatures {self.signature}"]
        lines += [f"  - {p.message}" for p in self.problems]
        lines += [f"  - accepted by a repair: {p.message}" for p in self.accepted]
        if self.pending:
            lines.append(f"  - record {self.pending} was written after the head (its writer stopped before "
                         "moving the head); the next append adopts it")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "records": self.records, "first_seq": self.first_seq, "last_seq": self.last_seq,
                "last_hash": self.last_hash, "head_seq": self.head_seq, "head_hash": self.head_hash,
                "base_seq": self.base_seq, "signature": self.signature, "signed_from": self.signed_from,
                "pending": self.pending, "problems": [p.to_json() for p in self.problems],
                "accepted": [p.to_json() for p in self.accepted]}


Check = Callable[[Sequence[dict[str, Any]]], list[Problem]]


@dataclass
class _Walk:
    """Mutable state of one verification: problems found so far."""
    problems: list[Problem] = field(default_factory=list)

    def add(self, id_: str, seq: int | None, message: str) -> None:
        self.problems.append(Problem(id_, seq, message))


def where(document: Mapping[str, Any]) -> str:
    """``record 5 (deploy, 2026-11-22 17:30:31 UTC)``."""
    time = str(document.get("time", ""))[:19].replace("T", " ")
    return f"record {document.get('seq')} ({document.get('kind', '?')}, {time} UTC)"


def verify(objects: Sequence[Stored], head: Stored | None, app: str, env: str, key: Secret | None,
           checks: Iterable[Check] = (), segment: tuple[int, str] | None = None) -> ChainCheck:
    """Everything wrong with the chain of ``app``/``env``; see the module docstring.

    ``segment`` = (seq, hash) of the record before the first one given: verify an exported part
    of the chain (an archive bundle) instead of the whole chain from the head's base."""
    walk = _Walk()
    documents = _readable(objects, app, env, walk)
    head_doc = _head(head, app, env, walk)
    base_seq = int(head_doc.get("base_seq") or 0) if head_doc else 0
    base_hash = str(head_doc.get("base_hash") or GENESIS) if head_doc else GENESIS
    if segment is not None:
        base_seq, base_hash = segment
    end = int(head_doc["seq"]) if head_doc else None
    chain = [d for d in documents if d["seq"] > base_seq and (end is None or d["seq"] <= end)]
    beyond = [d for d in documents if end is not None and d["seq"] > end]
    for document in chain + beyond:
        if record_hash(document) != document["hash"]:
            walk.add(f"edited:{document['seq']}", document["seq"],
                     f"{where(document)}: its content does not match its hash: the record was edited")
    last_seq, last_hash = _links(chain, base_seq, base_hash, walk)
    if head_doc is None and documents and segment is None:
        walk.add("head-missing", None, f"the chain head object is missing but {len(documents)} records exist: "
                 "the head was deleted")
    pending = _tail(head_doc, last_seq, last_hash, beyond, walk) if head_doc else None
    if segment is None:
        _base(chain, base_seq, base_hash, walk)
    signature = _signatures(head_doc, chain + beyond, key, walk)
    for check in checks:
        walk.problems += check(chain)
    problems, accepted = _accept(walk.problems, chain)
    return ChainCheck(not problems, len(chain), chain[0]["seq"] if chain else 0, last_seq, last_hash,
                      end, str(head_doc["hash"]) if head_doc else None, base_seq, signature, tuple(problems),
                      tuple(accepted), pending, head_doc.get("signed_from") if head_doc else None)


def _readable(objects: Sequence[Stored], app: str, env: str, walk: _Walk) -> list[dict[str, Any]]:
    """Decoded, well-formed records of this app/env, sorted by seq, one per seq."""
    by_seq: dict[int, dict[str, Any]] = {}
    for obj in objects:
        document = obj.document
        label_seq = _int(obj.labels.get(SEQUENCE))
        if document is None:
            walk.add(f"unreadable:{obj.name}", label_seq, f"object {obj.name} cannot be read: {obj.error}")
            continue
        missing = [f for f in RECORD_FIELDS if f not in document]
        if missing or not isinstance(document.get("seq"), int) or isinstance(document.get("seq"), bool):
            walk.add(f"malformed:{obj.name}", label_seq, f"object {obj.name} is not a record "
                     f"(missing or bad field(s): {', '.join(missing) or 'seq'})")
            continue
        seq = document["seq"]
        if (document["app"], document["env"]) != (app, env):
            walk.add(f"foreign:{seq}", seq, f"object {obj.name} holds a record of {document['app']}/{document['env']}, "
                     f"not {app}/{env}")
            continue
        if obj.name != record_name(app, env, seq):
            walk.add(f"moved:{seq}", seq, f"object {obj.name} holds {where(document)}, which belongs in "
                     f"{record_name(app, env, seq)}: records were renamed or moved")
        if seq in by_seq:
            walk.add(f"duplicate:{seq}", seq, f"two objects hold a record {seq}: a record was copied or inserted")
            continue
        by_seq[seq] = document
    return [by_seq[s] for s in sorted(by_seq)]


def _head(head: Stored | None, app: str, env: str, walk: _Walk) -> dict[str, Any] | None:
    if head is None:
        return None
    document = head.document
    if document is None or any(f not in document for f in HEAD_FIELDS) or not isinstance(document.get("seq"), int):
        walk.add("head-malformed", None, f"the chain head {head.name} cannot be read: "
                 f"{head.error or 'missing fields'}")
        return None
    if (document["app"], document["env"]) != (app, env):
        walk.add("head-foreign", None, f"the chain head {head.name} names {document['app']}/{document['env']}")
        return None
    return document


def _links(chain: list[dict[str, Any]], base_seq: int, base_hash: str, walk: _Walk) -> tuple[int, str]:
    """Each record follows the one before it (seq + 1, prev_hash = its hash)."""
    prev_seq, prev_hash = base_seq, base_hash
    for document in chain:
        seq = document["seq"]
        if seq != prev_seq + 1:
            span = f"{prev_seq + 1}" if seq == prev_seq + 2 else f"{prev_seq + 1}..{seq - 1}"
            after = f"after record {prev_seq}" if prev_seq > base_seq else "at the start of the chain"
            walk.add(f"missing:{prev_seq + 1}-{seq - 1}", seq,
                     f"record(s) {span} missing {after} (before {where(document)}): deleted")
            if document["kind"] == "repair" and document["prev_hash"] != prev_hash:   # a repair bridges the gap
                walk.add(f"link:{seq}", seq, f"{where(document)}: a repair must follow record {prev_seq}")
        elif document["prev_hash"] != prev_hash:
            before = f"record {prev_seq}'s hash" if prev_seq > base_seq else "the start of the chain"
            walk.add(f"link:{seq}", seq, f"{where(document)}: its prev_hash does not match {before}: "
                     "a record was replaced, reordered or inserted before it")
        prev_seq, prev_hash = seq, document["hash"]
    return prev_seq, prev_hash


def _tail(head: dict[str, Any], last_seq: int, last_hash: str, beyond: list[dict[str, Any]],
          walk: _Walk) -> int | None:
    """The head names the newest record: a shorter chain was cut, a different hash rewritten."""
    end = int(head["seq"])
    if end > last_seq:
        span = f"{last_seq + 1}" if end == last_seq + 1 else f"{last_seq + 1}..{end}"
        walk.add(f"missing:{last_seq + 1}-{end}", end, f"the head says the chain ends at record {end}, but the "
                 f"newest record is {last_seq}: record(s) {span} at the end were deleted")
    elif last_seq == end and head["hash"] != last_hash:
        walk.add("head-hash", None, f"the head's hash {str(head['hash'])[:16]}… is not record {end}'s hash "
                 f"{last_hash[:16]}…: the chain was rewritten")
    pending = None
    for document in beyond:
        follows = (document["seq"] == end + 1 and document["prev_hash"] == head["hash"]
                   and record_hash(document) == document["hash"])
        if follows and pending is None:
            pending = document["seq"]
        else:
            walk.add(f"beyond:{document['seq']}", document["seq"], f"{where(document)} is beyond the head "
                     f"(record {end}) and does not follow it: written without moving the head")
    return pending


def _base(chain: list[dict[str, Any]], base_seq: int, base_hash: str, walk: _Walk) -> None:
    """A head whose chain starts later than record 1 must be explained by a prune record."""
    if base_seq == 0 and base_hash == GENESIS:
        return
    pruned = {(d["data"].get("through_seq"), d["data"].get("through_hash")) for d in chain if d["kind"] == "prune"}
    if (base_seq, base_hash) not in pruned:
        walk.add("base", chain[0]["seq"] if chain else base_seq + 1,
                 f"the head starts the chain after record {base_seq}, and no prune record says so: records at "
                 "the start were deleted")


def _signatures(head: dict[str, Any] | None, records: list[dict[str, Any]], key: Secret | None,
                walk: _Walk) -> str:
    signed_from = head.get("signed_from") if head else None
    if key is None:
        if signed_from is None:
            return "unsigned (no signing key configured: a rewrite of every record and the head is not detectable)"
        return f"not checked (the chain is signed from record {signed_from}; the key is not available here)"
    if head is None:
        return "invalid (no head)"
    count = len(walk.problems)
    if "sig" not in head:
        if records:
            walk.add("unsigned-head", None, "a signing key is configured but the head is not signed: the chain was "
                     "rewritten without the key, or signing was just enabled (then `invoke audit.repair` starts it)")
    elif not hmac.compare_digest(str(head["sig"]), head_mac(key, head)):
        walk.add("head-sig", None, "the head's signature does not verify: it was written without the signing key "
                 f"(or with another one: head key id {head.get('key_id')}, configured {key_id(key)})")
    for document in records:
        if signed_from is None or document["seq"] < signed_from:
            continue
        if "sig" not in document:
            walk.add(f"unsigned:{document['seq']}", document["seq"],
                     f"{where(document)} is not signed although the chain is signed from record {signed_from}")
        elif not hmac.compare_digest(str(document["sig"]), record_mac(key, document["hash"])):
            walk.add(f"sig:{document['seq']}", document["seq"],
                     f"{where(document)}: its signature does not verify: written without the signing key")
    if len(walk.problems) > count:
        return "invalid"
    if signed_from is None:
        return "unsigned (the key is configured; the first append signs)"
    return f"valid (records {signed_from}.. signed, key id {key_id(key)})"


def _accept(problems: list[Problem], chain: list[dict[str, Any]]) -> tuple[list[Problem], list[Problem]]:
    """Split into (still breaking, accepted by a later repair record)."""
    repairs = [(d["seq"], set(d["data"].get("accepted") or ())) for d in chain if d["kind"] == "repair"]
    broken: list[Problem] = []
    accepted: list[Problem] = []
    for problem in problems:
        # a repair accepts what lies before it; a gap it bridges ends at the repair itself
        covered = problem.seq is not None and any(
            (seq > problem.seq or (seq == problem.seq and problem.id.startswith("missing:")))
            and problem.id in keys for seq, keys in repairs)
        (accepted if covered else broken).append(problem)
    return broken, accepted


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None
