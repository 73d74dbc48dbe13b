"""kubectl rollout status's completeness rule, as pure functions over the wire form."""
import pytest

from pipeline.kube.rollout import revision, rollout_status


def deploy(generation=2, observed=2, replicas=3, updated=3, total=3, available=3, reason=None, **annotations):
    status = {"observedGeneration": observed, "updatedReplicas": updated, "replicas": total,
              "availableReplicas": available}
    if reason:
        status["conditions"] = [{"type": "Progressing", "status": "False", "reason": reason}]
    return {"metadata": {"name": "web", "generation": generation, "annotations": annotations},
            "spec": {"replicas": replicas}, "status": {k: v for k, v in status.items() if v}}


@pytest.mark.parametrize("kwargs, message", [
    (dict(generation=3), "Waiting for deployment spec update to be observed..."),
    (dict(updated=1), 'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...'),
    (dict(total=5), 'Waiting for deployment "web" rollout to finish: 2 old replicas are pending termination...'),
    (dict(available=2), 'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...'),
    (dict(updated=0, total=0, available=0), 'Waiting for deployment "web" rollout to finish: 0 out of 3 new replicas have been updated...'),
])
def test_waiting_messages(kwargs, message):
    status = rollout_status(deploy(**kwargs))
    assert (status.done, status.failed, status.message) == (False, False, message)


def test_complete():
    status = rollout_status(deploy())
    assert status.done and status.message == 'deployment "web" successfully rolled out'


def test_progress_deadline_exceeded_is_failed_but_only_once_observed():
    assert rollout_status(deploy(updated=1, reason="ProgressDeadlineExceeded")).failed
    assert rollout_status(deploy(updated=1, reason="ProgressDeadlineExceeded")).message == \
        'deployment "web" exceeded its progress deadline'
    assert not rollout_status(deploy(generation=3, reason="ProgressDeadlineExceeded")).failed


def test_zero_replicas_is_complete_with_absent_status_fields():
    d = {"metadata": {"name": "web", "generation": 1}, "spec": {"replicas": 0}, "status": {"observedGeneration": 1}}
    assert rollout_status(d).done


def test_revision_annotation():
    assert revision(deploy(**{"deployment.kubernetes.io/revision": "7"})) == 7
    assert revision({"metadata": {}}) == 0
