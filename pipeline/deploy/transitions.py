"""The deploy's transition function: (state, event) -> next state. Pure; tested on data alone.

The happy path::

    validate -> lock -> recover -> preflight -> kill switch -> plan -> apply
             -> gate 1 -> verify gate 1 -> ... -> gate n -> verify gate n -> bake -> done (deployed)

    plan with an unchanged pod template -> verify current -> done (nothing_to_do | unhealthy)

The rules that make it fail closed:

* before the cluster is changed, any failure, refusal or interruption ends the deploy with
  nothing changed (refused, exit 1-4, or 130 for an interruption);
* once it may have changed (from ``apply`` on), anything that is not a pass (a failed or
  inconclusive verdict, an error, Ctrl-C/SIGTERM) goes to ``rollback``: back to the last
  release that was serving, then ``verify rollback``, then ``restore flag`` (to the state
  it had before this deploy) when this deploy turned it off;
* a failure or interruption during the rollback itself ends ``rollback_failed`` (exit 6,
  or 130 when interrupted): the Lease keeps the intent and the next ``invoke deploy`` or
  ``invoke rollback`` finishes the job.
"""
from __future__ import annotations

from pipeline.deploy.result import DeployOutcome
from pipeline.deploy.state import DeployState, Event, Failed, Failure, Interrupted, Ok, Phase, Refused
from pipeline.exit_codes import ExitCode

FORWARD = {
    Phase.VALIDATE: Phase.LOCK,
    Phase.LOCK: Phase.RECOVER,
    Phase.RECOVER: Phase.PREFLIGHT,
    Phase.PREFLIGHT: Phase.KILL_SWITCH,
    Phase.KILL_SWITCH: Phase.PLAN,
    Phase.APPLY: Phase.GATE,
    Phase.GATE: Phase.VERIFY,
}
ROLLBACK_PHASES = frozenset({Phase.ROLLBACK, Phase.VERIFY_ROLLBACK, Phase.RESTORE_FLAG})
CHANGING_PHASES = frozenset({Phase.APPLY, Phase.GATE, Phase.VERIFY, Phase.BAKE}) | ROLLBACK_PHASES


def advance(state: DeployState, event: Event) -> DeployState:
    """The next state after ``event`` ended ``state``'s effect."""
    if state.done:
        return state
    if state.phase in ROLLBACK_PHASES:
        return _rollback_step(state, event)
    if isinstance(event, Ok):
        return _forward(state, event)
    if isinstance(event, Refused):
        return _end(state, DeployOutcome.REFUSED, f"{event.detail}; nothing was changed", event.exit_code)
    if isinstance(event, Interrupted):
        if state.changed and not state.verified:
            return _start_rollback(state.with_(interrupted=True), Failure("interrupted", state.stage, event.detail))
        return _end(state.with_(interrupted=True), DeployOutcome.REFUSED,
                    f"{event.detail} at {state.stage}; nothing was changed", ExitCode.INTERRUPTED)
    return _failed(state, event)


def entering(state: DeployState) -> DeployState:
    """Mark the state before its effect runs: from ``apply`` on, the cluster may change."""
    if state.phase in CHANGING_PHASES and not state.changed:
        return state.with_(changed=True)
    return state


def _forward(state: DeployState, event: Ok) -> DeployState:
    phase = state.phase
    if phase is Phase.KILL_SWITCH:
        return state.with_(phase=Phase.PLAN, flag_before=event.data.get("on"))
    if phase is Phase.PLAN:
        if state.dry_run:
            return _end(state, DeployOutcome.DRY_RUN, "dry run: planned, nothing changed", ExitCode.OK)
        if not event.data.get("template_changed", True):
            return state.with_(phase=Phase.VERIFY_CURRENT)
        return state.with_(phase=Phase.APPLY, gates=tuple(event.data.get("gates") or ()))
    if phase is Phase.APPLY:
        return state.with_(phase=Phase.GATE, gate=1)
    if phase is Phase.VERIFY:
        if state.gate < len(state.gates):
            return state.with_(phase=Phase.GATE, gate=state.gate + 1)
        return state.with_(phase=Phase.BAKE)
    if phase is Phase.BAKE:
        return _end(state.with_(verified=True), DeployOutcome.DEPLOYED,
                    "rolled out through every gate and baked", ExitCode.OK)
    if phase is Phase.VERIFY_CURRENT:
        return _end(state.with_(verified=True), DeployOutcome.NOTHING_TO_DO,
                    event.detail or "already rolled out; verified", ExitCode.OK)
    return state.with_(phase=FORWARD[phase])


def _failed(state: DeployState, event: Failed) -> DeployState:
    if state.phase is Phase.RECOVER:
        return _end(state, DeployOutcome.ROLLBACK_FAILED, f"could not finish the interrupted deploy: "
                    f"{event.detail}", ExitCode.ROLLBACK_FAILED)
    if state.phase is Phase.VERIFY_CURRENT:
        return _end(state, DeployOutcome.UNHEALTHY, f"the live release is already this image but failed "
                    f"verification: {event.detail}; nothing was rolled out (invoke rollback to go back)",
                    ExitCode.FAILED_CHECK)
    if not state.changed:
        return _end(state, DeployOutcome.REFUSED, f"{state.stage}: {event.detail}; nothing was changed",
                    ExitCode.CHECK_ERROR)
    return _start_rollback(state, Failure(event.kind, state.stage, event.detail))


def _start_rollback(state: DeployState, failure: Failure) -> DeployState:
    return state.with_(phase=Phase.ROLLBACK, failure=failure)


def _rollback_step(state: DeployState, event: Event) -> DeployState:
    why = _why(state)
    if isinstance(event, Interrupted):
        return _end(state.with_(interrupted=True), DeployOutcome.ROLLBACK_FAILED,
                    f"{why}; the rollback was interrupted at {state.stage}: the next invoke deploy or invoke "
                    "rollback finishes it", ExitCode.INTERRUPTED)
    if not isinstance(event, Ok):
        detail = event.detail
        return _end(state, DeployOutcome.ROLLBACK_FAILED, f"{why}; {state.stage} failed: {detail}; the last "
                    "verified release is not confirmed serving: page someone", ExitCode.ROLLBACK_FAILED)
    if state.phase is Phase.ROLLBACK:
        return state.with_(phase=Phase.VERIFY_ROLLBACK, flag_turned_off=bool(event.data.get("flag_turned_off")),
                           reason=event.detail)
    if state.phase is Phase.VERIFY_ROLLBACK and _must_restore_flag(state):
        return state.with_(phase=Phase.RESTORE_FLAG)
    code = ExitCode.INTERRUPTED if state.interrupted else ExitCode.ROLLED_BACK
    flag = "" if not state.flag_turned_off else (
        "; kill switch restored" if _must_restore_flag(state) else "; kill switch left OFF (it was OFF before)"
        if state.flag_before is False else "; kill switch left OFF (rollback.restore_flag = false)")
    return _end(state, DeployOutcome.ROLLED_BACK, f"{why}; {state.reason or 'rolled back'}{flag}", code)


def _must_restore_flag(state: DeployState) -> bool:
    return state.flag_turned_off and state.flag_before is True and state.restore_flag


def _why(state: DeployState) -> str:
    failure = state.failure
    if failure is None:
        return "rolled back"
    if failure.kind == "interrupted":
        return f"interrupted at {failure.stage}"
    return f"automatic: {failure.kind} at {failure.stage}: {failure.detail}"


def _end(state: DeployState, outcome: DeployOutcome, reason: str, code: int) -> DeployState:
    return state.with_(phase=Phase.DONE, outcome=outcome, reason=reason, exit_code=int(code))
