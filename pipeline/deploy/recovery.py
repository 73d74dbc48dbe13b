"""What to do when a deploy finds the traces of one that died (SIGKILL, lost runner). Pure.

A deploy records, in its lock's Lease, the revision it started from and the image it is
rolling out (``InFlight``). If the process dies, the Lease stops being renewed; the next
``invoke deploy`` or ``invoke rollback`` takes the stale Lease over and finds that record.
The rule: a rollout that was never verified is never trusted. It is undone to the revision
it started from, and whatever happens nothing is left paused.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Action(str, Enum):
    NONE = "none"                        # nothing left behind
    RESUME = "resume"                    # paused on the starting revision: just unpause
    UNDO = "undo"                        # roll back to the starting revision (and unpause)


@dataclass(frozen=True)
class InFlight:
    """What a deploy in progress records in its Lease (annotation), for whoever comes next."""
    deploy_id: str
    image: str
    from_revision: int | None            # None: the Deployment did not exist before
    from_image: str | None
    holder: str
    started: str


def in_flight_of(info: dict | None) -> InFlight | None:
    """The record a deploy left in its Lease's holder annotation (``in_flight``), if any."""
    record = (info or {}).get("in_flight")
    if not isinstance(record, dict):
        return None
    try:
        return InFlight(**record)
    except TypeError:
        return None


@dataclass(frozen=True)
class ClusterState:
    exists: bool
    paused: bool
    revision: int | None                 # deployment.kubernetes.io/revision
    image: str | None


@dataclass(frozen=True)
class Recovery:
    action: Action
    to_revision: int | None
    reason: str


def decide(in_flight: InFlight | None, state: ClusterState) -> Recovery:
    if in_flight is None:
        if state.paused:
            return Recovery(Action.RESUME, None, "the Deployment is paused but no interrupted deploy is "
                                                  "recorded; resuming it so the rollout can finish")
        return Recovery(Action.NONE, None, "no interrupted deploy")
    who = f"deploy {in_flight.deploy_id} of {in_flight.image} by {in_flight.holder} (started {in_flight.started})"
    if not state.exists:
        return Recovery(Action.NONE, None, f"{who} was interrupted before the Deployment existed")
    if in_flight.from_revision is None or state.revision == in_flight.from_revision:
        if state.paused:
            return Recovery(Action.RESUME, None, f"{who} was interrupted before its rollout started; unpausing")
        return Recovery(Action.NONE, None, f"{who} was interrupted before it changed anything")
    return Recovery(Action.UNDO, in_flight.from_revision,
                    f"{who} was interrupted mid-rollout at revision {state.revision} ({state.image}); "
                    f"undoing to revision {in_flight.from_revision} ({in_flight.from_image}), "
                    "since an unverified rollout is never trusted")
