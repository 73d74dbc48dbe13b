"""The deploy's typed state, the events its effects report, and its intent. Pure data.

A deploy is a small state machine (``pipeline.deploy.transitions``): each phase runs one
effect (``pipeline.deploy.effects``), the effect reports an :data:`Event`, and the
transition function computes the next state from (state, event) alone. Exit code and
outcome come from the final state, never from which exception was raised.

:class:`Intent` is what any process on any machine needs to finish or undo this deploy:
the template to return to (the last release that was serving, as a pod template, not a
revision number: ``rollout undo`` renumbers revisions), the kill switch as it was before,
whether this deploy turned it off, and how far it got. It is written to the deploy lock's
Lease before every effect that changes the cluster.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from typing import Any, Union

from pipeline.deploy.result import DeployOutcome


class Phase(str, Enum):
    VALIDATE = "validate"
    LOCK = "lock"
    RECOVER = "recover"
    PREFLIGHT = "preflight"
    KILL_SWITCH = "kill switch"
    PLAN = "plan"
    APPLY = "apply"
    GATE = "gate"
    VERIFY = "verify"
    BAKE = "bake"
    VERIFY_CURRENT = "verify current"
    ROLLBACK = "rollback"
    VERIFY_ROLLBACK = "verify rollback"
    RESTORE_FLAG = "restore flag"
    DONE = "done"


@dataclass(frozen=True)
class Failure:
    kind: str                            # a rollback-policy failure kind (pipeline.rollback.policy)
    stage: str
    detail: str


# ---------------------------------------------------------------- events (what an effect reports)

@dataclass(frozen=True)
class Ok:
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Failed:
    """The release (or the rollback) failed: a verdict, a gate, a write that would not land."""
    kind: str
    detail: str


@dataclass(frozen=True)
class Refused:
    """Stopped before anything changed (bad input, lock held, preflight, kill switch)."""
    exit_code: int
    detail: str


@dataclass(frozen=True)
class Interrupted:
    detail: str = "interrupted (Ctrl-C or SIGTERM)"


Event = Union[Ok, Failed, Refused, Interrupted]


# ---------------------------------------------------------------- intent (recorded in the cluster)

@dataclass(frozen=True)
class Intent:
    deploy_id: str
    image: str
    holder: str
    started: str
    from_template: dict[str, Any] | None = None   # the serving release's pod template (None: no Deployment)
    from_image: str | None = None
    flag_before: bool | None = None               # None: the kill switch is not used in this environment
    flag_turned_off: bool = False                 # this deploy turned (or may have turned) it OFF: restore flag_before
    kill_switch_off_accepted: bool = False
    phase: str = Phase.VALIDATE.value
    changed: bool = False                         # the cluster may have been written to
    verified: bool = False                        # the new release passed every gate and the bake
    created: tuple[str, ...] = ()                 # objects the plan found absent (Kind/name): this deploy creates them

    @property
    def first_release(self) -> tuple[str, ...] | None:
        """What an undo deletes when there was no release before this one (None: undo to from_template)."""
        return self.created if self.from_template is None and self.created else None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> "Intent | None":
        if not isinstance(data, dict):
            return None
        try:
            fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            fields["created"] = tuple(str(x) for x in fields.get("created") or ())
            return cls(**fields)
        except TypeError:
            return None


# ---------------------------------------------------------------- the state

@dataclass(frozen=True)
class DeployState:
    phase: Phase = Phase.VALIDATE
    dry_run: bool = False
    gates: tuple[int, ...] = ()
    gate: int = 0                        # 1-based index of the current gate
    changed: bool = False                # the cluster may have been written to
    verified: bool = False
    flag_before: bool | None = None
    flag_turned_off: bool = False
    restore_flag: bool = True            # config: restore the kill switch after a verified rollback
    failure: Failure | None = None
    interrupted: bool = False
    outcome: DeployOutcome | None = None
    exit_code: int | None = None
    reason: str = ""

    @property
    def done(self) -> bool:
        return self.phase is Phase.DONE

    @property
    def stage(self) -> str:
        """The stage's display name: ``gate 2/3``, ``verify gate 2/3``, ``bake``..."""
        if self.phase in (Phase.GATE, Phase.VERIFY):
            label = f"gate {self.gate}/{len(self.gates)}"
            return label if self.phase is Phase.GATE else f"verify {label}"
        return self.phase.value

    @property
    def needs_follow_up(self) -> bool:
        """The Lease keeps its record: the next deploy or rollback must finish this one."""
        return self.outcome is DeployOutcome.ROLLBACK_FAILED

    def with_(self, **changes: Any) -> "DeployState":
        return replace(self, **changes)

