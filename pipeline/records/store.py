"""The release-record store: the policy on top of a driver (as Helm's ``pkg/storage/storage.go``).

``Records.for_environment(config, api_client, secrets)`` gives the store of one app and
environment. What it guarantees (docs/audit.md):

* **append** chains each record onto the head (``prev_hash``), signs it when the environment's
  secret source has the signing key, creates it under its sequence number (an existing object
  means another writer appended first: re-read and re-chain), then moves the head with the
  resourceVersion it read (409: re-read; a record left after the head by a writer that died is
  adopted by the next writer). It refuses to append to a chain that does not verify.
* **repair** is the explicit way past a broken chain: a ``repair`` record that names every
  problem it accepts; later problems still break the chain.
* **prune** deletes only records older than ``records.retention_days`` (a ``prune`` record
  says which, and the head's base moves past them so the rest still verifies).
* **export** / **import_log**: a verified bundle for archival; a local JSONL log imported once.
* Secrets are never written: bodies pass through ``pipeline.audit.log.sanitize`` with every
  secret the environment's source holds.
"""
from __future__ import annotations

import random
import re
import socket
import time as time_module
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from pipeline.audit import log as jsonl
from pipeline.records import bundle, chain, codec, layout, legacy
from pipeline.records.driver import Driver, RecordExists, RecordNotFound, RecordsError, Stored, VersionConflict
from pipeline.records.facts import Facts, Release, Verdicts, history
from pipeline.secrets import Secret

if TYPE_CHECKING:
    from pipeline.audit.history import HistoryRow
    from pipeline.config import EnvConfig
    from pipeline.secrets import SecretSource

ATTEMPTS = 40
MAX_PAYLOAD = 512 * 1024          # characters of base64(gzip(JSON)); a Secret holds at most 1 MiB
_KIND = re.compile(r"[a-z][a-z0-9_]*")
RESERVED = ("repair", "prune", "import")


class Refused(RecordsError):
    """The store will not do this (the chain is broken, the key is missing, bad input); nothing was written."""


class ChainBroken(Refused):
    """The chain does not verify; nothing was written. ``check`` says what and where."""

    def __init__(self, check: chain.ChainCheck, doing: str = "append"):
        self.check = check
        super().__init__(f"refusing to {doing}: the release records do not verify:\n{check.describe()}\n"
                         "Find out what happened; `invoke audit.repair --reason ...` records that the problems "
                         "were seen and accepted, and lets writers continue.")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def writer_identity(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Who writes: git user (else $USER), GitHub actor and run URL in Actions, and this host."""
    actor = jsonl.current_actor() if environ is None else jsonl.actor_from(environ)
    return {**actor, "host": socket.gethostname()}


@dataclass(frozen=True)
class View:
    """One consistent reading: the head, the records, what verification found, and the facts."""
    head: Stored | None
    objects: tuple[Stored, ...]
    check: chain.ChainCheck

    @property
    def documents(self) -> list[dict[str, Any]]:
        """Readable records in the chain (after the base, up to the head), oldest first."""
        end = self.check.head_seq
        found = {o.document["seq"]: o.document for o in self.objects
                 if o.document is not None and isinstance(o.document.get("seq"), int)}
        return [found[s] for s in sorted(found) if s > self.check.base_seq and (end is None or s <= end)]

    def document(self, seq: int) -> dict[str, Any] | None:
        return next((o.document for o in self.objects if o.document and o.document.get("seq") == seq), None)

    @property
    def facts(self) -> Facts:
        return Facts.of(self.documents)


@dataclass(frozen=True)
class PruneResult:
    pruned: int
    through_seq: int
    cutoff: str
    record: dict[str, Any] | None = None


@dataclass
class Records:
    driver: Driver
    app: str
    env: str
    key: Secret | None = None            # the HMAC-SHA256 signing key (None: records unsigned)
    key_name: str = ""                   # its name in the secret source, for messages
    secrets: tuple[Secret | None, ...] = ()
    retention_days: int = 365
    actor: dict[str, str] = field(default_factory=writer_identity)
    clock: Callable[[], datetime] = utc_now
    max_payload: int = MAX_PAYLOAD
    source: str = ""                     # where the key was looked up, for messages

    @classmethod
    def for_environment(cls, config: "EnvConfig", api_client: Any, secrets: "SecretSource | None" = None,
                        **kwargs: Any) -> "Records":
        """The store of ``config``'s app and environment: ConfigMaps in ``kube.namespace``, signed with
        ``secrets.records_signing_key`` from the environment's secret source when it holds one."""
        from pipeline.records.cluster import ConfigMapDriver

        name = config.secrets.records_signing_key
        key = secrets.get(name) if secrets is not None and name else None
        return cls(ConfigMapDriver(api_client, config.kube.namespace), config.app, config.name, key, name,
                   tuple(known_secrets(config, secrets)), config.records.retention_days,
                   source=secrets.describe() if secrets is not None else "", **kwargs)

    # ------------------------------------------------------------------ reading
    def view(self) -> View:
        """Read the head, then the records (a writer racing us shows as records after the head)."""
        head = self._head()
        objects = tuple(self.driver.list(layout.selector(self.app, self.env)))
        return View(head, objects, self._check(objects, head))

    def verify(self) -> chain.ChainCheck:
        """What is wrong with the chain; a transient state (a prune or append between our two reads)
        is re-read once before it is reported."""
        check = self.view().check
        return check if check.ok else self.view().check

    def facts(self) -> Facts:
        return self.view().facts

    def last_verified(self) -> Release | None:
        """The newest deploy that verified its release and was not rejected since."""
        return self.facts().last_verified()

    def verdicts(self) -> Verdicts:
        """Verified and rejected pod templates (pod-template-hash) and images."""
        return self.facts().verdicts()

    def deployed_commit(self) -> str | None:
        """The commit of the currently deployed (newest verified) release."""
        return self.facts().deployed_commit()

    def rollback_target(self) -> Release | None:
        return self.facts().rollback_target()

    def history(self, limit: int | None = None) -> tuple[list["HistoryRow"], chain.ChainCheck]:
        view = self.view()
        return history(view.documents, limit), view.check

    # ------------------------------------------------------------------ writing
    def append(self, kind: str, data: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
        """Chain, sign and store one record; returns it (``hash`` is the new head)."""
        if not _KIND.fullmatch(kind) or kind in RESERVED:
            raise Refused(f"record kind {kind!r}: use a snake_case kind (deploy, rollback, ...); "
                               f"{', '.join(RESERVED)} are written by their own methods")
        return self._write(kind, self._clean(kind, data), now, repair=False)

    def repair(self, reason: str, now: datetime | None = None) -> dict[str, Any]:
        """Record that the chain's current problems were seen and accepted, and continue from here."""
        if not reason.strip():
            raise Refused("a repair needs a reason (who looked, what they found)")
        check = self.verify()
        if check.ok:
            raise Refused("the chain verifies: nothing to repair")
        data = self._clean("repair", {"reason": reason.strip(), "problems": [p.to_json() for p in check.problems]})
        return self._write("repair", data, now, repair=True)

    def prune(self, now: datetime | None = None, dry_run: bool = False) -> PruneResult:
        """Delete the oldest records older than ``retention_days`` (never the newest)."""
        now = now or self.clock()
        cutoff = jsonl.rfc3339(now - timedelta(days=self.retention_days))
        view = self.view()
        if not view.check.ok:
            raise ChainBroken(view.check, "prune")
        old = []
        for document in view.documents[:-1]:
            if document["time"] >= cutoff:
                break
            old.append(document)
        if not old or dry_run:
            return PruneResult(len(old), old[-1]["seq"] if old else view.check.base_seq, cutoff)
        through = old[-1]
        record = self._write("prune", self._clean("prune", {
            "through_seq": through["seq"], "through_hash": through["hash"], "count": len(old),
            "cutoff": cutoff, "retention_days": self.retention_days, "oldest_time": old[0]["time"]}), now, False)
        self._move_base(through["seq"], through["hash"])
        for document in old:
            try:
                self.driver.delete(layout.record_name(self.app, self.env, document["seq"]))
            except RecordNotFound:
                pass
        return PruneResult(len(old), through["seq"], cutoff, record)

    def export(self, since: datetime | None = None) -> dict[str, Any]:
        """A bundle for write-once archival: records since ``since``, the head, and the check."""
        view = self.view()
        check = view.check if view.check.ok else self.view().check
        return bundle.make(self.app, self.env, view.head.document if view.head else None, view.documents,
                           check, jsonl.rfc3339(self.clock()), jsonl.rfc3339(since) if since else None)

    def import_log(self, path: str | Path) -> list[dict[str, Any]]:
        """Import a local JSONL audit log once (continuing an earlier import of the same log)."""
        checked = jsonl.verify(path)
        if not checked.ok:
            raise Refused(f"{checked.describe()}; nothing was imported")
        entries = list(jsonl.entries(path))
        for entry in entries:
            if jsonl.sanitize(entry, self.secrets) != entry:
                raise Refused(f"{path}: entry {entry.get('seq')} holds a secret of this environment; "
                                   "nothing was imported")
        view = self.view()
        if not view.check.ok:
            raise ChainBroken(view.check, "import")
        try:
            bodies = legacy.import_bodies(Path(path).name, entries, view.documents, self._fits_import)
        except ValueError as exc:
            raise Refused(f"{path}: {exc}; nothing was imported") from None
        return [self._write("import", body, None, repair=False) for body in bodies]

    # ------------------------------------------------------------------ the protocol
    def _write(self, kind: str, data: dict[str, Any], now: datetime | None, repair: bool) -> dict[str, Any]:
        mine: dict[str, Any] | None = None
        for attempt in range(ATTEMPTS):
            view = self.view()
            if mine is not None and self._landed(view, mine):
                return mine
            self._need_key(view)
            if view.check.pending is not None:                      # a record waits for the head: adopt it
                self._adopt(view, view.check.pending)
                continue
            if mine is not None:
                raise RecordsError(f"record {mine['seq']} was written but is neither under the head nor "
                                   f"after it:\n{view.check.describe()}")
            if view.head is None and not view.objects:
                self._create_head(chain.new_head(self.app, self.env, 0, jsonl.GENESIS, self._now(now),
                                                 signed_from=None, key=None))
                continue
            if repair:
                if view.check.ok:
                    raise Refused("the chain verifies: nothing to repair")
                mine = self._repair_record(view, data, now)
            else:
                if not view.check.ok:
                    raise ChainBroken(view.check)
                mine = self._next_record(view, kind, data, now)
            try:
                self.driver.create(self._stored_record(mine))
            except RecordExists:
                mine = None
                _backoff(attempt)
                continue
            try:
                self._move_head(view, mine)
                return mine
            except (VersionConflict, RecordExists, RecordNotFound):   # someone moved (or deleted) the head
                _backoff(attempt)
        raise RecordsError(f"could not append after {ATTEMPTS} attempts: other writers kept winning")

    def _next_record(self, view: View, kind: str, data: dict[str, Any], now: datetime | None) -> dict[str, Any]:
        assert view.head is not None and view.head.document is not None
        head = view.head.document
        return self._fitted(chain.new_record(int(head["seq"]) + 1, str(head["hash"]), self._now(now), self.app,
                                             self.env, kind, self._actor(), data, self.key))

    def _repair_record(self, view: View, data: dict[str, Any], now: datetime | None) -> dict[str, Any]:
        """Chained after the newest record present; accepts what verification finds with it in place."""
        present = sorted((o.document for o in view.objects if o.document and isinstance(o.document.get("seq"), int)),
                         key=lambda d: d["seq"])
        head_seq = view.check.head_seq or 0
        last = present[-1] if present else None
        seq = max(head_seq, last["seq"] if last else view.check.base_seq) + 1
        prev = str(last["hash"]) if last else jsonl.GENESIS
        draft = chain.new_record(seq, prev, self._now(now), self.app, self.env, "repair", self._actor(),
                                 {**data, "accepted": []}, self.key)
        trial = self._check(view.objects + (self._stored_record(draft),), self._stored_head(view, draft))
        accepted = sorted({p.id for p in trial.problems if p.seq is not None and p.seq <= seq})
        record = chain.new_record(seq, prev, draft["time"], self.app, self.env, "repair", self._actor(),
                                  {**data, "accepted": accepted}, self.key)
        final = self._check(view.objects + (self._stored_record(record),), self._stored_head(view, record))
        if not final.ok:
            raise Refused(f"a repair cannot make this chain verify:\n{final.describe()}")
        return record

    def _landed(self, view: View, mine: dict[str, Any]) -> bool:
        """Our record is under the head (we, or a writer who adopted it, moved the head)."""
        stored = view.document(mine["seq"])
        if stored is None or stored.get("hash") != mine["hash"]:
            raise RecordsError(f"record {mine['seq']} was replaced or deleted right after it was written")
        return view.check.head_seq is not None and view.check.head_seq >= mine["seq"]

    def _adopt(self, view: View, seq: int) -> None:
        document = view.document(seq)
        assert document is not None
        try:
            self._move_head(view, document)
        except (VersionConflict, RecordExists, RecordNotFound):
            pass

    def _move_head(self, view: View, record: dict[str, Any]) -> None:
        head = self._stored_head(view, record)
        if view.head is None:
            self.driver.create(head)
        else:
            self.driver.update(head)

    def _stored_head(self, view: View, record: dict[str, Any]) -> Stored:
        old = view.head.document if view.head is not None and view.head.document else {}
        signed_from = old.get("signed_from")
        if signed_from is None and self.key is not None and "sig" in record:
            signed_from = record["seq"]
        document = chain.new_head(self.app, self.env, record["seq"], record["hash"], record["time"],
                                  int(old.get("base_seq") or 0), str(old.get("base_hash") or jsonl.GENESIS),
                                  signed_from, self.key)
        return Stored(layout.head_name(self.app, self.env), "head", layout.selector(self.app, self.env, "head"),
                      document, view.head.version if view.head is not None else "")

    def _move_base(self, seq: int, hash_: str) -> None:
        for attempt in range(ATTEMPTS):
            head = self._head()
            if head is None or head.document is None:
                raise RecordsError("the chain head disappeared while pruning")
            old = head.document
            if int(old.get("base_seq") or 0) >= seq:
                return
            document = chain.new_head(self.app, self.env, int(old["seq"]), str(old["hash"]), str(old["time"]),
                                      seq, hash_, old.get("signed_from"), self.key)
            try:
                self.driver.update(Stored(head.name, "head", head.labels, document, head.version))
                return
            except VersionConflict:
                _backoff(attempt)
        raise RecordsError(f"could not move the chain's base after {ATTEMPTS} attempts")

    def _create_head(self, document: dict[str, Any]) -> None:
        try:
            self.driver.create(Stored(layout.head_name(self.app, self.env), "head",
                                      layout.selector(self.app, self.env, "head"), document))
        except RecordExists:
            pass

    def _need_key(self, view: View) -> None:
        signed_from = view.check.signed_from
        if signed_from is not None and self.key is None:
            where = f" from {self.source}" if self.source else ""
            raise Refused(f"the release records are signed from record {signed_from}, but the signing key "
                               f"{self.key_name or '(unnamed)'} is not available{where}: refusing to write an "
                               "unsigned record (give this runner the key)")

    # ------------------------------------------------------------------ plumbing
    def _check(self, objects: Iterable[Stored], head: Stored | None) -> chain.ChainCheck:
        return chain.verify(list(objects), head, self.app, self.env, self.key, checks=(legacy.check,))

    def _head(self) -> Stored | None:
        try:
            return self.driver.get(layout.head_name(self.app, self.env))
        except RecordNotFound:
            return None

    def _stored_record(self, record: dict[str, Any]) -> Stored:
        outcome = str(record["data"].get("outcome") or {"repair": "repaired", "prune": "pruned",
                                                          "import": "imported"}.get(record["kind"], "recorded"))
        return Stored(layout.record_name(self.app, self.env, record["seq"]), "record",
                      layout.record_labels(self.app, self.env, record["seq"], record["kind"], outcome), record)

    def _clean(self, kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return jsonl.sanitize(dict(data), self.secrets + ((self.key,) if self.key else ()))
        except jsonl.AuditError as exc:
            raise Refused(f"{kind} record refused: {exc}") from None

    def _actor(self) -> dict[str, Any]:
        return jsonl.sanitize(self.actor, self.secrets, "actor")

    def _now(self, now: datetime | None) -> str:
        return jsonl.rfc3339(now or self.clock())

    def _fitted(self, record: dict[str, Any]) -> dict[str, Any]:
        """A record too large for one object keeps its facts and drops the full result."""
        if len(codec.encode(record)) <= self.max_payload:
            return record
        data = {k: v for k, v in record["data"].items() if k != "result"}
        data["result_omitted"] = f"the full result exceeded {self.max_payload} characters compressed"
        smaller = chain.new_record(record["seq"], record["prev_hash"], record["time"], self.app, self.env,
                                   record["kind"], record["actor"], data, self.key)
        if len(codec.encode(smaller)) > self.max_payload:
            raise RecordsError(f"a {record['kind']} record is too large to store even without its result")
        return smaller

    def _fits_import(self, body: dict[str, Any]) -> bool:
        probe = chain.new_record(10 ** 9, "f" * 64, self._now(None), self.app, self.env, "import", self._actor(),
                                 body, self.key)
        return len(codec.encode(probe)) <= self.max_payload - 128    # a real prev_hash compresses worse


def _backoff(attempt: int) -> None:
    """A short random pause after losing a race, so two writers do not collide forever."""
    time_module.sleep(random.uniform(0, min(0.02 * (attempt + 1), 0.3)))


def known_secrets(config: "EnvConfig", source: "SecretSource | None") -> list[Secret | None]:
    """Every secret the environment's source holds under the names ``config.secrets`` gives."""
    if source is None:
        return []
    names = [v for k, v in vars(config.secrets).items() if k not in ("source", "path") and v]
    return [source.get(name) for name in names]


def open_environment(config: "EnvConfig") -> Records:
    """The store of ``config``'s environment through its kubeconfig and secret source (no request yet)."""
    from pipeline.kube.client import api_client
    from pipeline.secrets import secret_source

    api = api_client(config.kube)
    return Records.for_environment(config, api, secret_source(config, api if config.secrets.source == "kubernetes"
                                                              else None))
