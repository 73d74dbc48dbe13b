from pipeline.deploy.recovery import Action, ClusterState, InFlight, decide

FLIGHT = InFlight("d1", "app:2", 3, "app:1", "dana@laptop/4242", "2026-11-24T19:00:00Z")


def test_nothing_recorded_and_nothing_paused():
    assert decide(None, ClusterState(True, False, 3, "app:1")).action is Action.NONE


def test_paused_without_record_is_resumed():
    assert decide(None, ClusterState(True, True, 3, "app:1")).action is Action.RESUME


def test_interrupted_mid_rollout_is_undone_to_the_starting_revision():
    recovery = decide(FLIGHT, ClusterState(True, True, 4, "app:2"))
    assert (recovery.action, recovery.to_revision) == (Action.UNDO, 3)
    assert "interrupted mid-rollout at revision 4 (app:2); undoing to revision 3 (app:1)" in recovery.reason


def test_interrupted_while_unpaused_is_still_undone():
    assert decide(FLIGHT, ClusterState(True, False, 4, "app:2")).action is Action.UNDO


def test_interrupted_before_the_template_changed():
    assert decide(FLIGHT, ClusterState(True, True, 3, "app:1")).action is Action.RESUME
    assert decide(FLIGHT, ClusterState(True, False, 3, "app:1")).action is Action.NONE


def test_first_deploy_interrupted():
    first = InFlight("d0", "app:1", None, None, "ci", "t")
    assert decide(first, ClusterState(False, False, None, None)).action is Action.NONE
    assert decide(first, ClusterState(True, True, 1, "app:1")).action is Action.RESUME
