"""The gate decision over watch snapshots, including the ReplicaSet-before-Pod race."""
from pipeline.deploy.gated_rollout import _GateJudge
from pipeline.kube.informer import Snapshot

HASH = "abc12"
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "a:2"}]}}


class FakeRollout:
    name = "web"

    def __init__(self):
        self.paused = []

    def set_paused(self, paused):
        self.paused.append(paused)


def deployment(updated, available):
    return {"metadata": {"name": "web", "uid": "d", "generation": 2},
            "spec": {"replicas": 4, "template": TEMPLATE},
            "status": {"observedGeneration": 2, "replicas": 5, "updatedReplicas": updated,
                       "availableReplicas": 4 + available - 1}}


def replica_set(available):
    template = {"metadata": {"labels": {"app": "web", "pod-template-hash": HASH}}, "spec": TEMPLATE["spec"]}
    return {"metadata": {"name": f"web-{HASH}", "labels": {"app": "web", "pod-template-hash": HASH},
                         "ownerReferences": [{"uid": "d", "controller": True}],
                         "creationTimestamp": "2026-11-24T00:00:00Z"},
            "spec": {"template": template}, "status": {"readyReplicas": available, "availableReplicas": available}}


def pod(name, ready, waiting=None, restarts=0):
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    return {"metadata": {"name": name, "labels": {"app": "web", "pod-template-hash": HASH}},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "containerStatuses": [{"name": "app", "state": state, "restartCount": restarts}]}}


def snapshot(updated, available, pods):
    return Snapshot(deployment(updated, available), (replica_set(available),), tuple(pods), 1)


def test_holds_once_the_gates_pods_exist_and_waits_for_them_in_the_pod_cache():
    rollout = FakeRollout()
    judge = _GateJudge(rollout, 2, False, 0.0, None)
    assert judge.see(snapshot(1, 0, [pod("web-1", False)])) is None and rollout.paused == []   # not all created
    assert judge.see(snapshot(2, 0, [pod("web-1", False), pod("web-2", False)])) is None
    assert rollout.paused == [True]            # held before any is available: no old pod made way for them
    assert judge.see(snapshot(2, 2, [pod("web-1", True), pod("web-2", False)])) is None   # RS ahead of the Pod watch
    outcome = judge.see(snapshot(2, 2, [pod("web-1", True), pod("web-2", True)]))
    assert outcome.reached and outcome.new_pods == ("web-1", "web-2") and rollout.paused == [True]


def test_no_hold_on_a_status_the_controller_has_not_observed():
    rollout = FakeRollout()
    judge = _GateJudge(rollout, 1, False, 0.0, None)
    unobserved = snapshot(1, 0, [pod("web-1", False)])
    unobserved.deployment["metadata"]["generation"] = 3          # e.g. our resume, not seen yet
    assert judge.see(unobserved) is None and rollout.paused == []


def test_a_held_gate_still_fails_on_crash_looping_pods():
    rollout = FakeRollout()
    judge = _GateJudge(rollout, 1, False, 0.0, None)
    outcome = judge.see(snapshot(1, 0, [pod("web-1", False, "CrashLoopBackOff", 3)]))
    assert rollout.paused == [True] and outcome.failure_kind == "pods_unhealthy"


def test_last_gate_does_not_pause():
    rollout = FakeRollout()
    judge = _GateJudge(rollout, 1, True, 0.0, None)
    assert judge.see(snapshot(1, 1, [pod("web-1", True)])).reached and rollout.paused == []


def test_crash_loop_fails_the_gate_before_it_is_reached():
    judge = _GateJudge(FakeRollout(), 1, False, 0.0, None)
    outcome = judge.see(snapshot(1, 0, [pod("web-1", False, "CrashLoopBackOff", 3)]))
    assert not outcome.reached and outcome.failure_kind == "pods_unhealthy"
    assert "crash-looping" in outcome.detail


def test_progress_deadline_fails_the_gate():
    judge = _GateJudge(FakeRollout(), 1, False, 0.0, None)
    stuck = snapshot(1, 0, [pod("web-1", False)])
    stuck.deployment["status"]["conditions"] = [{"type": "Progressing", "status": "False",
                                                 "reason": "ProgressDeadlineExceeded",
                                                 "message": 'ReplicaSet "web-abc12" has timed out progressing.'}]
    outcome = judge.see(stuck)
    assert outcome.failure_kind == "rollout_stuck" and "exceeded its progress deadline" in outcome.detail
