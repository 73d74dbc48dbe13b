"""What the records say (pure): record bodies for writers, and the answers readers need.

Writers: :func:`deploy_record` (one per ``invoke deploy``) and :func:`rollback_record` (one per
``invoke rollback``) turn a command's result JSON into a record body.

Readers: :func:`releases` and :func:`rejections` read the chain (and any imported legacy log);
:class:`Facts` answers the questions the pipeline asks:

* ``last_verified``: the newest deploy that verified its release (outcome ``deployed`` or
  ``nothing_to_do``) whose template no later record rejected;
* ``verdicts``: the pod templates / images whose latest verdict is good, and those rejected
  (a deploy rolled back, or a rollback that moved away from them);
* ``newest_deploy``: the release a rollback undoes (the newest deploy that reached the cluster);
* ``rollback_target``: the newest verified release other than that one (never a rejected one);
* ``deployed_commit`` / ``commit_to_revert``: the commits of those two.

A template is its ``pod-template-hash`` when the record has one, else its image.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from pipeline.audit.history import HistoryRow, history as legacy_history
from pipeline.deploy.image import InvalidImage, parse_image
from pipeline.records import legacy

GOOD = ("deployed", "nothing_to_do")
BAD = ("rolled_back", "rollback_failed")
REACHED_CLUSTER = GOOD + BAD


# --------------------------------------------------------------------------- writers

def deploy_record(result_json: Mapping[str, Any], **facts: Any) -> dict[str, Any]:
    """The body of a ``deploy`` record: the facts history and rollback read, then the whole result.

    ``facts`` override or add to what ``result_json`` (``DeployResult.to_json()``) says: ``image``,
    ``digest`` (default: the image's ``@sha256:...``), ``commit``, ``pod_template_hash`` (the new
    ReplicaSet's ``pod-template-hash`` label), ``outcome``, anything else."""
    image = str(facts.pop("image", None) or result_json.get("image") or "")
    body: dict[str, Any] = {
        "image": image, "digest": facts.pop("digest", None) or image_digest(image),
        "commit": facts.pop("commit", None) or result_json.get("commit"),
        "pod_template_hash": facts.pop("pod_template_hash", None),
        "outcome": str(facts.pop("outcome", None) or result_json.get("outcome") or ""),
        "exit_code": result_json.get("exit_code"), "reason": result_json.get("reason"),
        "previous_image": result_json.get("previous_image"),
        "rollback": _mechanisms(result_json.get("rollback") or []),
        "duration_seconds": result_json.get("duration_seconds"),
    }
    body.update(facts)
    body["result"] = dict(result_json)
    return body


def rollback_record(document: Mapping[str, Any], rejects: "Release | None" = None, **facts: Any) -> dict[str, Any]:
    """The body of a ``rollback`` record from ``invoke rollback``'s JSON result.

    ``rejects``: the release rolled back (``Facts.newest_deploy``); recorded only when the
    rollback succeeded, so later undo targets skip it until a new deploy verifies it again."""
    results = {r.get("mechanism"): r for r in document.get("results") or []}
    undo = (results.get("undo") or {}).get("data") or {}
    git = (results.get("git") or {}).get("data") or {}
    ok = bool(document.get("ok"))
    body: dict[str, Any] = {
        "via": list(document.get("mechanisms") or []), "reason": document.get("reason"),
        "outcome": "dry_run" if document.get("dry_run") else ("done" if ok else "rollback_failed"),
        "exit_code": document.get("exit_code"),
        "from_image": undo.get("from_image"), "to_image": undo.get("to_image"),
        "to_revision": undo.get("to_revision"), "reverted_commit": git.get("commit") or git.get("reverted"),
        "rejects": rejects.to_json() if rejects is not None and ok and not document.get("dry_run") else None,
    }
    body.update(facts)
    body["result"] = dict(document)
    return body


def image_digest(image: str) -> str | None:
    try:
        return parse_image(image).digest
    except InvalidImage:
        return None


def _mechanisms(actions: Sequence[Mapping[str, Any]]) -> list[str]:
    names: list[str] = []
    for action in actions:
        name = str(action.get("mechanism", ""))
        if name and name not in names:
            names.append(name)
    return names


# --------------------------------------------------------------------------- readers

@dataclass(frozen=True)
class Release:
    """One deploy, as recorded."""
    seq: int                          # its record (the import record for a legacy log's deploy)
    time: str
    image: str
    digest: str | None
    pod_template_hash: str | None
    commit: str | None
    outcome: str

    @property
    def template(self) -> str:
        return f"hash:{self.pod_template_hash}" if self.pod_template_hash else f"image:{self.image}"

    def same_template(self, other: "Release") -> bool:
        if self.pod_template_hash and other.pod_template_hash:
            return self.pod_template_hash == other.pod_template_hash
        return self.image == other.image

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "time": self.time, "image": self.image, "digest": self.digest,
                "pod_template_hash": self.pod_template_hash, "commit": self.commit, "outcome": self.outcome}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Release":
        return cls(int(data.get("seq") or 0), str(data.get("time") or ""), str(data.get("image") or ""),
                   data.get("digest"), data.get("pod_template_hash"), data.get("commit"),
                   str(data.get("outcome") or ""))


@dataclass(frozen=True)
class Verdicts:
    verified_templates: frozenset[str]   # pod-template-hash values
    verified_images: frozenset[str]
    rejected_templates: frozenset[str]
    rejected_images: frozenset[str]

    def to_json(self) -> dict[str, list[str]]:
        return {k: sorted(v) for k, v in vars(self).items()}


def releases(chain: Sequence[dict[str, Any]]) -> list[Release]:
    """Every deploy (records and imported legacy runs), oldest first."""
    found = [Release(d["seq"], d["time"], str(d["data"].get("image") or ""), d["data"].get("digest"),
                     d["data"].get("pod_template_hash"), d["data"].get("commit"), _outcome(d["data"]))
             for d in chain if d.get("kind") == "deploy"]
    found += _legacy_releases(chain)
    return sorted(found, key=lambda r: (r.time, r.seq))


def _outcome(data: Mapping[str, Any]) -> str:
    """A deploy let through with the kill switch OFF (--allow-kill-switch-off) never proved Klaviyo
    works: it neither verifies its release nor rejects it."""
    outcome = str(data.get("outcome") or "")
    return f"{outcome}_unverified" if data.get("kill_switch_off_accepted") and outcome in GOOD else outcome


def rejections(chain: Sequence[dict[str, Any]]) -> list[tuple[str, int, Release]]:
    """(time, seq, release) for each successful rollback that moved away from a release."""
    return [(d["time"], d["seq"], Release.from_json(d["data"]["rejects"])) for d in chain
            if d.get("kind") == "rollback" and d["data"].get("rejects")]


def _legacy_releases(chain: Sequence[dict[str, Any]]) -> list[Release]:
    seq_of = {id(e): d["seq"] for d in chain if d.get("kind") == legacy.KIND for e in d["data"].get("entries") or []}
    runs: dict[str, dict[str, Any]] = {}
    for entry in legacy.entries(chain):
        data = entry.get("data") or {}
        run = runs.setdefault(str(entry.get("run", "")), {})
        if entry.get("kind") == "deploy_started" and data.get("image"):
            run.update(start=entry, seq=seq_of.get(id(entry), 0))
        elif entry.get("kind") == "deploy_finished":
            run["outcome"] = str(data.get("outcome") or "")
    return [Release(run["seq"], str(run["start"].get("time", "")), str(run["start"]["data"]["image"]),
                    image_digest(str(run["start"]["data"]["image"])), None, run["start"]["data"].get("commit"),
                    run["outcome"]) for run in runs.values() if "start" in run and "outcome" in run]


@dataclass(frozen=True)
class Facts:
    """The answers, computed once from a verified chain (pure)."""
    deploys: tuple[Release, ...]
    rejected: tuple[tuple[str, int, Release], ...] = ()

    @classmethod
    def of(cls, chain: Sequence[dict[str, Any]]) -> "Facts":
        return cls(tuple(releases(chain)), tuple(rejections(chain)))

    def _verdict(self) -> dict[str, tuple[bool, Release]]:
        """Latest verdict per template (and per image, under ``image:`` keys), oldest to newest."""
        events: list[tuple[str, int, bool, Release]] = []
        for release in self.deploys:
            if release.outcome in GOOD or release.outcome in BAD:
                events.append((release.time, release.seq, release.outcome in GOOD, release))
        events += [(time, seq, False, release) for time, seq, release in self.rejected]
        verdict: dict[str, tuple[bool, Release]] = {}
        for _, _, good, release in sorted(events, key=lambda e: (e[0], e[1])):
            verdict[release.template] = (good, release)
            verdict[f"image:{release.image}"] = (good, release)
        return verdict

    def is_verified(self, release: Release) -> bool:
        good = self._verdict().get(release.template)
        return bool(good and good[0])

    def verdicts(self) -> Verdicts:
        verdict = self._verdict()
        good = {k for k, (ok, _) in verdict.items() if ok}
        bad = {k for k, (ok, _) in verdict.items() if not ok}
        pick = lambda keys, prefix: frozenset(k[len(prefix):] for k in keys if k.startswith(prefix))  # noqa: E731
        return Verdicts(pick(good, "hash:"), pick(good, "image:"), pick(bad, "hash:"), pick(bad, "image:"))

    def last_verified(self) -> Release | None:
        verdict = self._verdict()
        for release in reversed(self.deploys):
            if release.outcome in GOOD and verdict.get(release.template, (False,))[0]:
                return release
        return None

    def newest_deploy(self) -> Release | None:
        return next((r for r in reversed(self.deploys) if r.outcome in REACHED_CLUSTER), None)

    def rollback_target(self) -> Release | None:
        """The newest verified release that is not the one being rolled back."""
        undone = self.newest_deploy()
        verdict = self._verdict()
        for release in reversed(self.deploys):
            if (release.outcome in GOOD and verdict.get(release.template, (False,))[0]
                    and (undone is None or not release.same_template(undone))):
                return release
        return None

    def deployed_commit(self) -> str | None:
        release = self.last_verified()
        return release.commit if release else None

    def commit_to_revert(self) -> str | None:
        release = self.newest_deploy()
        return release.commit if release else None


# --------------------------------------------------------------------------- history

def history(chain: Sequence[dict[str, Any]], limit: int | None = None) -> list[HistoryRow]:
    """One row per deploy, rollback, repair and prune (and per run of an imported log), newest first."""
    rows = [row for d in chain if (row := _row(d)) is not None] + legacy_history(legacy.entries(chain))
    rows.sort(key=lambda r: (r.time, r.seq or 0), reverse=True)
    return rows[:limit] if limit is not None else rows


def _row(document: Mapping[str, Any]) -> HistoryRow | None:
    kind, data = document.get("kind"), document.get("data") or {}
    if kind not in ("deploy", "rollback", "repair", "prune"):
        return None
    actor = document.get("actor") or {}
    image = str(data.get("image") or data.get("to_image") or "") if kind in ("deploy", "rollback") else ""
    via = data.get("rollback") if kind == "deploy" else data.get("via")
    return HistoryRow(
        time=str(document.get("time", "")), kind=str(kind), actor=_actor(actor), image=image,
        commit=str(data.get("commit") or data.get("reverted_commit") or "")[:12],
        outcome=str(data.get("outcome") or ("repaired" if kind == "repair" else "pruned")),
        duration_seconds=_seconds(data), run=str(document.get("seq")),
        rollback="+".join(str(v) for v in via or []), run_url=str(actor.get("run_url") or ""),
        seq=int(document["seq"]))


def _actor(actor: Mapping[str, Any]) -> str:
    return str(actor.get("github_actor") or actor.get("name") or "unknown")


def _seconds(data: Mapping[str, Any]) -> float | None:
    value = data.get("duration_seconds")
    if value is None:
        value = sum(r.get("duration_seconds") or 0 for r in (data.get("result") or {}).get("results") or []) or None
    return round(float(value), 3) if isinstance(value, (int, float)) else None

