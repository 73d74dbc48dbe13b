"""Promotion by digest: may this image go to this environment? (pure)

An environment with ``promote_from`` set (prod: ``promote_from = "staging"``) takes an image only
by digest (``name@sha256:<64 hex>``, the one thing a registry cannot re-point), and only a digest
whose newest decisive deploy record in the source environment says it was verified there. A
digest the source environment rolled back is refused even if an older deploy verified it.

``--promotion-override "<reason>"`` lets an emergency through without the source's verdict (never
without a digest); the decision carries the reason so the deploy records it.

The records are whatever the record store returns for the source environment; this module needs
four fields of each (:class:`DeployRecord`), newest or oldest first, in any order.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping, Protocol

DIGEST = re.compile(r"@(sha256:[0-9a-f]{64})$")
VERIFIED = frozenset({"deployed"})                                  # rolled out through every gate and baked
REJECTED = frozenset({"rolled_back", "rollback_failed", "aborted"})  # the environment turned it away


class PromotionError(ValueError):
    """Bad input (an override without a reason): a usage error, exit 2."""


class DeployRecord(Protocol):
    """The part of a deploy record promotion reads. ``digest`` is ``sha256:<hex>`` or None."""

    @property
    def image(self) -> str: ...

    @property
    def digest(self) -> str | None: ...

    @property
    def outcome(self) -> str: ...

    @property
    def time(self) -> datetime: ...


@dataclass(frozen=True)
class Record:
    """A plain :class:`DeployRecord` (tests, adapters)."""
    image: str
    digest: str | None
    outcome: str
    time: datetime


@dataclass(frozen=True)
class Decision:
    allowed: bool
    message: str
    target_env: str
    source_env: str = ""                 # promote_from; empty: no rule applied
    digest: str | None = None
    evidence: DeployRecord | None = None  # the source record that allows (or refuses) it
    override_reason: str | None = None   # set when --promotion-override let it through

    def to_json(self) -> dict[str, Any]:
        """What the deploy records with its start (the audit of an override)."""
        evidence = None if self.evidence is None else {
            "image": self.evidence.image, "digest": self.evidence.digest,
            "outcome": self.evidence.outcome, "time": self.evidence.time.isoformat()}
        return {"allowed": self.allowed, "message": self.message, "target_env": self.target_env,
                "source_env": self.source_env, "digest": self.digest, "evidence": evidence,
                "override": self.override_reason is not None, "override_reason": self.override_reason}


def digest_of(image: str) -> str | None:
    """``ghcr.io/acme/app:1.2@sha256:ab..`` -> ``sha256:ab..``; None without a (full, lower-case) digest."""
    match = DIGEST.search(image.strip())
    return match.group(1) if match else None


def decide(target_env: str, promote_from: str, image: str, records: Iterable[DeployRecord],
           override: str | None = None) -> Decision:
    """Allow or refuse deploying ``image`` to ``target_env``; ``records`` are ``promote_from``'s.

    Raises :class:`PromotionError` for an override given without a reason."""
    reason = _override_reason(override)
    if not promote_from:
        return Decision(True, f"{target_env} has no promotion rule (promote_from is unset): any image",
                        target_env)
    digest = digest_of(image)
    if digest is None:
        return Decision(False, _needs_digest(target_env, promote_from, image), target_env, promote_from)
    latest = newest_decisive(records, digest)
    if latest is not None and latest.outcome in VERIFIED:
        return Decision(True, f"{_short(digest)} was verified in {promote_from} by the deploy of {latest.image} "
                              f"at {_when(latest)}", target_env, promote_from, digest, latest)
    refusal = _refusal(target_env, promote_from, image, digest, latest)
    if reason is None:
        return Decision(False, refusal, target_env, promote_from, digest, latest)
    return Decision(True, f"promotion override: {reason} ({refusal.split(';')[0]}; let through and recorded)",
                    target_env, promote_from, digest, latest, reason)


def newest_decisive(records: Iterable[DeployRecord], digest: str) -> DeployRecord | None:
    """The newest record of ``digest`` that verified or rejected it (others say nothing of it)."""
    decisive = [r for r in records if r.digest == digest and r.outcome in VERIFIED | REJECTED]
    return max(decisive, key=lambda r: r.time, default=None)


def records_from_audit(entries: Iterable[Mapping[str, Any]]) -> list[Record]:
    """Deploy records from today's audit log entries (oldest first): the image of each run's
    ``deploy_started`` with the outcome and time of its ``deploy_finished``. An adapter until the
    record store is the source; runs that never finished are not records."""
    images: dict[str, str] = {}
    records = []
    for entry in entries:
        data, run = entry.get("data") or {}, str(entry.get("run", ""))
        if entry.get("kind") == "deploy_started" and data.get("image"):
            images[run] = str(data["image"])
        elif entry.get("kind") == "deploy_finished" and run in images and data.get("outcome"):
            time = datetime.fromisoformat(str(entry["time"]).replace("Z", "+00:00"))
            records.append(Record(images[run], digest_of(images[run]), str(data["outcome"]), time))
    return records


def _override_reason(override: str | None) -> str | None:
    if override is None:
        return None
    if not override.strip():
        raise PromotionError('--promotion-override needs a reason, e.g. --promotion-override "staging is down; '
                             'hotfix for INC-123": it is recorded with the deploy')
    return override.strip()


def _needs_digest(target_env: str, promote_from: str, image: str) -> str:
    return (f"{target_env} takes images by digest only (promote_from = {promote_from!r}): {image!r} has no "
            f"@sha256:<64 hex> digest; deploy the digest {promote_from} verified, e.g. "
            f"ghcr.io/acme/klaviyo-sync@sha256:<digest> (a promotion override does not waive the digest)")


def _refusal(target_env: str, promote_from: str, image: str, digest: str,
             latest: DeployRecord | None) -> str:
    if latest is None:
        why = f"no verified deploy of {_short(digest)} in {promote_from}"
    else:
        why = (f"{promote_from} rejected {_short(digest)}: its latest deploy ({latest.image}) ended "
               f"{latest.outcome} at {_when(latest)}")
    return (f"{why}; {target_env} only takes what {promote_from} verified. Deploy it to {promote_from} first "
            f"(invoke deploy --env {promote_from} --image {image}), or in an emergency pass "
            f'--promotion-override "<reason>" (recorded)')


def _short(digest: str) -> str:
    return digest[:19]                   # sha256: + 12 hex, as git shortens a sha


def _when(record: DeployRecord) -> str:
    return record.time.isoformat(timespec="seconds")
