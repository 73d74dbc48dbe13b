"""The deploy state machine's transitions (pure): every path ends in a final state, and once the
cluster may have changed nothing but a full pass ends without a rollback."""
import pytest

from pipeline.deploy.result import DeployOutcome
from pipeline.deploy.state import DeployState, Failed, Interrupted, Ok, Phase, Refused
from pipeline.deploy.transitions import CHANGING_PHASES, advance, entering
from pipeline.exit_codes import ExitCode

GATES = {"gates": (1, 2, 4), "template_changed": True}


def run(events, state=None):
    state = state or DeployState()
    for event in events:
        state = advance(entering(state), event)
    return state


def to_apply():
    return [Ok(), Ok(), Ok(), Ok(), Ok(data={"on": True}), Ok(data=GATES)]


def test_good_deploy_passes_every_gate_then_bakes():
    state = run(to_apply() + [Ok()] + [Ok(), Ok()] * 3 + [Ok("baked")])
    assert (state.outcome, state.exit_code, state.verified) == (DeployOutcome.DEPLOYED, 0, True)


def test_nothing_to_do_is_exit_0():
    state = run(to_apply()[:-1] + [Ok(data={"template_changed": False}), Ok("verified")])
    assert (state.outcome, state.exit_code) == (DeployOutcome.NOTHING_TO_DO, 0)


def test_live_release_unhealthy_with_nothing_to_roll_out_is_a_failed_check_not_a_rollback():
    state = run(to_apply()[:-1] + [Ok(data={"template_changed": False}), Failed("health_check", "down")])
    assert (state.outcome, state.exit_code) == (DeployOutcome.UNHEALTHY, ExitCode.FAILED_CHECK)


def test_dry_run_stops_after_the_plan():
    state = run(to_apply(), DeployState(dry_run=True))
    assert (state.outcome, state.exit_code) == (DeployOutcome.DRY_RUN, 0)


@pytest.mark.parametrize("at", range(5))
def test_refusal_before_any_change(at):
    state = run(to_apply()[:at] + [Refused(ExitCode.LOCKED, "held")])
    assert (state.outcome, state.exit_code, state.changed) == (DeployOutcome.REFUSED, ExitCode.LOCKED, False)


@pytest.mark.parametrize("steps", range(1, 8))
def test_any_failure_after_apply_rolls_back(steps):
    state = run(to_apply() + [Ok()] * (steps - 1) + [Failed("auth_errors", "401")])
    assert state.phase is Phase.ROLLBACK and state.changed
    state = run([Ok("flag, undo", {"flag_turned_off": True}), Ok(), Ok()], state)
    assert (state.outcome, state.exit_code) == (DeployOutcome.ROLLED_BACK, ExitCode.ROLLED_BACK)
    assert "kill switch restored" in state.reason


@pytest.mark.parametrize("steps", range(0, 8))
def test_interrupt_after_apply_rolls_back_and_exits_130(steps):
    state = run(to_apply() + [Ok()] * steps + [Interrupted()])
    assert state.phase is Phase.ROLLBACK and state.interrupted
    state = run([Ok("undo"), Ok()], state)
    assert (state.outcome, state.exit_code) == (DeployOutcome.ROLLED_BACK, ExitCode.INTERRUPTED)


def test_interrupt_before_apply_changes_nothing():
    state = run(to_apply()[:3] + [Interrupted()])
    assert (state.outcome, state.exit_code) == (DeployOutcome.REFUSED, ExitCode.INTERRUPTED)


@pytest.mark.parametrize("event", [Failed("x", "boom"), Interrupted()])
@pytest.mark.parametrize("where", [0, 1, 2])
def test_a_failed_or_interrupted_rollback_keeps_the_record_for_a_follow_up(event, where):
    state = run(to_apply() + [Ok(), Failed("auth_errors", "401")] + [Ok(data={"flag_turned_off": True})] * where
                + [event])
    assert state.outcome is DeployOutcome.ROLLBACK_FAILED and state.needs_follow_up
    assert state.exit_code == (ExitCode.INTERRUPTED if isinstance(event, Interrupted) else ExitCode.ROLLBACK_FAILED)


def test_flag_not_restored_when_it_was_off_before_the_deploy():
    state = run(to_apply()[:-2] + [Ok(data={"on": False}), Ok(data=GATES), Ok(), Failed("auth_errors", "401"),
                                   Ok(data={"flag_turned_off": True}), Ok()])
    assert state.outcome is DeployOutcome.ROLLED_BACK and "left OFF (it was OFF before)" in state.reason


def test_changing_phases_mark_the_state_changed_before_their_effect():
    for phase in CHANGING_PHASES:
        assert entering(DeployState(phase=phase)).changed
    assert not entering(DeployState(phase=Phase.PLAN)).changed


def test_a_final_state_stays_final():
    done = run(to_apply(), DeployState(dry_run=True))
    assert advance(done, Failed("x", "y")) == done


def test_the_documented_state_diagram_names_every_phase_and_outcome():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text()
    diagram = re.search(r"```mermaid\n(stateDiagram-v2.*?)```", text, re.S).group(1)
    names = set(re.findall(r"\b[a-z_]+\b", diagram))
    for phase in Phase:
        if phase is not Phase.DONE:
            assert phase.value.replace(" ", "_") in names, phase
    for outcome in DeployOutcome:
        assert outcome.value in names, outcome
