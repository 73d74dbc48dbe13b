"""Which rollback mechanisms run, in what order. Pure: no I/O, tested on data alone.

On demand (``invoke rollback``): the mechanisms asked for (``--via``, else the
environment's ``rollback.via``), always with the kill-switch flag first: it is the fastest
and stops calls to Klaviyo at once while the slower mechanisms work.

Automatic (a failed verdict during ``invoke deploy``): when the failure is Klaviyo-facing
(auth errors, 5xx, throttling, latency, webhook signatures), turn the flag off first, then
undo the rollout, then git revert the deploy commit; for any other failure (pods not
healthy, rollout stuck), undo then revert: the flag would only hide the integration.
Only mechanisms the environment allows (``rollback.via``) are chosen; git revert needs the
deploy commit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

MECHANISMS = ("flag", "undo", "git")
KLAVIYO_FACING = frozenset({"auth_errors", "server_errors", "throttling", "latency", "webhook_signatures"})
OTHER_FAILURES = frozenset({"pods_unhealthy", "rollout_stuck", "health_check", "verification_error"})
FAILURE_KINDS = KLAVIYO_FACING | OTHER_FAILURES


class PolicyError(ValueError):
    """Bad input (unknown mechanism or failure kind); the message names it and what is accepted."""


@dataclass(frozen=True)
class Decision:
    mechanisms: tuple[str, ...]
    why: str                       # one sentence for the output and the audit log
    skipped: tuple[str, ...] = ()  # wanted but not possible, with reasons ("git: no deploy commit")


def parse_via(text: str) -> tuple[str, ...]:
    """``--via flag,undo`` -> ("flag", "undo"); rejects unknown names and an empty list."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise PolicyError(f"--via {text!r} names no mechanism; accepted: {', '.join(MECHANISMS)}")
    return validate(names, "--via")


def validate(names: Iterable[str], where: str) -> tuple[str, ...]:
    names = tuple(names)
    for name in names:
        if name not in MECHANISMS:
            raise PolicyError(f"{where}: unknown mechanism {name!r}; accepted: {', '.join(MECHANISMS)}")
    return names


def ordered(names: Iterable[str]) -> tuple[str, ...]:
    """Deduplicated, the flag first, the others in the order given."""
    unique = tuple(dict.fromkeys(names))
    return tuple(n for n in unique if n == "flag") + tuple(n for n in unique if n != "flag")


def on_demand(via: Sequence[str] | None, configured: Sequence[str]) -> Decision:
    """The mechanisms for ``invoke rollback``: ``via`` if given, else the configured default.

    ``via`` must stay within what the environment allows (``rollback.via``): an environment
    that does not push git reverts does not push one because someone typed ``--via git``."""
    allowed = validate(configured, "rollback.via")
    if via:
        refused = [name for name in validate(via, "--via") if name not in allowed]
        if refused:
            raise PolicyError(f"--via {','.join(refused)}: not allowed in this environment; its rollback.via "
                              f"allows: {', '.join(allowed) or 'nothing'}")
    chosen = validate(via, "--via") if via else allowed
    source = "--via" if via else "rollback.via"
    mechanisms = ordered(chosen)
    return Decision(mechanisms, f"on demand ({source}): {', '.join(mechanisms)}"
                    + (" (flag first: the fastest)" if len(mechanisms) > 1 and mechanisms[0] == "flag" else ""))


def automatic(failure_kind: str, configured: Sequence[str], deploy_commit: str | None,
              enabled: bool = True) -> Decision:
    """The mechanisms for an automatic rollback after a failed verdict of ``failure_kind``."""
    if failure_kind not in FAILURE_KINDS:
        raise PolicyError(f"unknown failure kind {failure_kind!r}; accepted: {', '.join(sorted(FAILURE_KINDS))}")
    if not enabled:
        return Decision((), "automatic rollback is disabled (rollback.automatic = false)")
    allowed = set(validate(configured, "rollback.via"))
    klaviyo_facing = failure_kind in KLAVIYO_FACING
    wanted = ("flag", "undo", "git") if klaviyo_facing else ("undo", "git")
    skipped = [f"{m}: not in rollback.via" for m in wanted if m not in allowed]
    mechanisms = [m for m in wanted if m in allowed]
    if "git" in mechanisms and not deploy_commit:
        mechanisms.remove("git")
        skipped.append("git: no deploy commit recorded")
    why = (f"{failure_kind} is Klaviyo-facing: kill switch first, then the release"
           if klaviyo_facing else f"{failure_kind} is not Klaviyo-facing: roll the release back")
    return Decision(tuple(mechanisms), why, tuple(skipped))
