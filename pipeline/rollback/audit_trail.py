"""What ``invoke rollback`` reads from and writes to the release records (docs/audit.md).

Reads (from the store in the cluster, so a rollback on any runner sees what every deploy recorded):

* the undo target: the newest release a deploy verified that is not the release being rolled
  back and was never rejected since (``Facts.rollback_target``), as the revision of the
  ReplicaSet with its pod-template-hash. After an automatic rollback that is the release
  already running, so the undo is a no-op instead of returning to the rejected release;
* the commit git revert undoes: the newest deploy's (``Facts.commit_to_revert``);
* as a fallback for undo, the images whose latest verdict is good.

Writes one ``rollback`` record per invocation: the command's JSON result, plus the release it
rejected when it succeeded (later undo targets skip that release).

``verified_images`` reads a legacy local JSONL log's entries.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from pipeline.kube.history import HASH_LABEL, controlled_by, image_of, revision_of
from pipeline.records.facts import Release

if TYPE_CHECKING:
    from pipeline.config import EnvConfig
    from pipeline.records.store import Records

Warn = Callable[[str], None]


@dataclass(frozen=True)
class Known:
    """What the records say a rollback should do (empty when there are no records)."""
    target: Release | None = None            # undo to this release's template
    rolled_back: Release | None = None       # the release being rolled back
    commit_to_revert: str | None = None
    good_images: frozenset[str] = frozenset()


def open_records(config: "EnvConfig", warn: Warn) -> "Records | None":
    """The environment's store, or None (with a warning) when the cluster cannot be used."""
    try:
        from pipeline.records.store import open_environment

        return open_environment(config)
    except Exception as exc:  # noqa: BLE001 - flag and git still work without the records
        warn(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        return None


def known(store: "Records | None", warn: Warn | None = None) -> Known:
    """Read the chain once; a broken chain is still read (a rollback must not be blocked) but warned about."""
    if store is None:
        return Known()
    try:
        view = store.view()
    except Exception as exc:  # noqa: BLE001 - unreadable records: kubectl's defaults apply
        if warn:
            warn(f"release records unreadable: {type(exc).__name__}: {exc}")
        return Known()
    if not view.check.ok and warn:
        warn(f"the release records do not verify; using them anyway:\n{view.check.describe()}")
    facts = view.facts
    verdicts = facts.verdicts()
    return Known(facts.rollback_target(), facts.newest_deploy(), facts.commit_to_revert(),
                 verdicts.verified_images - verdicts.rejected_images)


def undo_revision(config: "EnvConfig", target: Release | None) -> int:
    """The revision of the ReplicaSet that ran ``target`` (0: not found, use the default)."""
    if target is None:
        return 0
    try:
        from pipeline.kube.client import api_client
        from pipeline.records.templates import read_workload

        live, replica_sets = read_workload(api_client(config.kube), config.kube.namespace, config.kube.deployment)
    except Exception:  # noqa: BLE001 - the undo mechanism reports the cluster's problem itself
        return 0
    return revision_running(live, replica_sets, target, config.kube.container) or 0 if live else 0


def revision_running(deployment: Mapping[str, Any], replica_sets: Iterable[Mapping[str, Any]], target: Release,
                     container: str) -> int | None:
    """Pure: the newest revision whose template is ``target``'s (by pod-template-hash, else image)."""
    def runs(rs: Mapping[str, Any]) -> bool:
        if target.pod_template_hash:
            return (rs.get("metadata", {}).get("labels") or {}).get(HASH_LABEL) == target.pod_template_hash
        return image_of(rs["spec"]["template"], container) == target.image

    revisions = [rev for rs in controlled_by(deployment, list(replica_sets)) if runs(rs)
                 and (rev := revision_of(rs))]
    return max(revisions, default=None)


def record(store: "Records | None", document: Mapping[str, Any], before: Known, scrub: Callable[[str], str],
           warn: Warn) -> str | None:
    """Write the rollback's record; returns the new head hash, or None (warned) when it cannot."""
    if store is None:
        warn("this rollback is not recorded: the release records are unavailable")
        return None
    from pipeline.records.writers import record_rollback

    rolled_back = before.rolled_back if before.rolled_back is not None else known(store).rolled_back
    try:
        return str(record_rollback(store, document, rolled_back)["hash"])
    except Exception as exc:  # noqa: BLE001 - the rollback happened; only its record failed
        warn(scrub(f"this rollback is not recorded: {type(exc).__name__}: {exc}"))
        return None


# --------------------------------------------------------------------------- a legacy JSONL log

GOOD_OUTCOMES = ("deployed", "nothing_to_do")
BAD_OUTCOMES = ("rolled_back", "rollback_failed")


def verified_images(entries: Iterable[dict[str, Any]]) -> frozenset[str]:
    """Images whose latest deploy verdict was good (deployed and verified); one later rolled back
    by a failed deploy no longer counts (pure, over log entries, oldest first)."""
    started: dict[str, str] = {}
    verdict: dict[str, bool] = {}
    for entry in entries:
        data = entry.get("data") or {}
        run = str(entry.get("run", ""))
        if entry.get("kind") == "deploy_started" and data.get("image"):
            started[run] = str(data["image"])
        elif entry.get("kind") == "deploy_finished" and run in started:
            outcome = data.get("outcome")
            if outcome in GOOD_OUTCOMES or outcome in BAD_OUTCOMES:
                verdict[started[run]] = outcome in GOOD_OUTCOMES
    return frozenset(image for image, good in verdict.items() if good)
