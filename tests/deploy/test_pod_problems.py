from pipeline.deploy.pod_problems import problems


def pod(name, state, restarts=0):
    return {"metadata": {"name": name},
            "status": {"containerStatuses": [{"name": "app", "state": state, "restartCount": restarts}]}}


def test_running_and_starting_pods_are_fine():
    assert problems([pod("a", {"running": {}}), pod("b", {"waiting": {"reason": "ContainerCreating"}}),
                     {"metadata": {"name": "c"}, "status": {}}]) == []


def test_crash_loop_and_config_errors_are_reported():
    found = problems([pod("a", {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}}, 3),
                      pod("b", {"waiting": {"reason": "CreateContainerConfigError"}})])
    assert found == ["pod a: container app crash-looping (CrashLoopBackOff, 3 restarts): back-off 10s",
                     "pod b: container app cannot be configured (a missing Secret or key?) "
                     "(CreateContainerConfigError, 0 restarts)"]


def test_repeated_restarts_while_running():
    assert problems([pod("a", {"running": {}}, 3)]) == ["pod a: container app restarted 3 times"]
    assert problems([pod("a", {"running": {}}, 2)]) == []
