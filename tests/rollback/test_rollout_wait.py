"""wait_for_rollout's watch handling, with a scripted API: 410 -> re-list, closed stream -> resume."""
from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import ApiException

from pipeline.kube import rollout


def deploy(updated, rv, generation=2, reason=None):
    status = {"observedGeneration": 2, "replicas": 3, "updatedReplicas": updated, "availableReplicas": updated}
    if reason:
        status["conditions"] = [{"type": "Progressing", "status": "False", "reason": reason}]
    return {"metadata": {"name": "web", "generation": generation, "resourceVersion": rv},
            "spec": {"replicas": 3}, "status": status}


class Response:
    def __init__(self, body):
        self.data = json.dumps(body).encode()

    def release_conn(self):
        pass


class Apps:
    def __init__(self, listings):
        self.listings = list(listings)
        self.list_calls = 0

    def list_namespaced_deployment(self, namespace, **kwargs):
        self.list_calls += 1
        return Response(self.listings.pop(0))


class ScriptedWatch:
    """Each stream() call plays the next script: a list of events, or an exception to raise."""
    scripts: list = []
    calls: list = []

    def __init__(self):
        self.resource_version = None

    def stream(self, func, *args, **kwargs):
        ScriptedWatch.calls.append(kwargs)
        script = ScriptedWatch.scripts.pop(0)

        def generate():
            if isinstance(script, Exception):
                raise script
            for event in script:
                self.resource_version = event["raw_object"]["metadata"]["resourceVersion"]
                yield event
        return generate()


@pytest.fixture
def scripted(monkeypatch):
    ScriptedWatch.scripts, ScriptedWatch.calls = [], []
    monkeypatch.setattr(rollout.watch, "Watch", ScriptedWatch)
    return ScriptedWatch


def listing(*items, rv="10"):
    return {"metadata": {"resourceVersion": rv}, "items": list(items)}


def event(obj, kind="MODIFIED"):
    return {"type": kind, "raw_object": obj}


def test_expired_watch_is_recovered_by_listing_again(scripted):
    scripted.scripts = [ApiException(status=410, reason="Expired"), [event(deploy(3, "21"))]]
    apps = Apps([listing(deploy(1, "10")), listing(deploy(2, "20"), rv="20")])
    waited = rollout.wait_for_rollout(apps, "default", "web", timeout_seconds=30)
    assert waited.complete and waited.relists == 1 and apps.list_calls == 2
    assert [c["resource_version"] for c in scripted.calls] == ["10", "20"]
    assert scripted.calls[0]["field_selector"] == "metadata.name=web"


def test_a_closed_stream_is_resumed_from_the_last_resource_version(scripted):
    scripted.scripts = [[event(deploy(2, "11"))], [event({"kind": "Deployment", "metadata": {"resourceVersion": "12"}},
                                                         "BOOKMARK"), event(deploy(3, "13"))]]
    seen = []
    waited = rollout.wait_for_rollout(Apps([listing(deploy(1, "10"))]), "default", "web", 30,
                                      on_progress=lambda s, d: seen.append(s.message))
    assert waited.complete and waited.events == 2
    assert [c["resource_version"] for c in scripted.calls] == ["10", "11"]
    assert seen[0].endswith("1 out of 3 new replicas have been updated...") and seen[-1].endswith("rolled out")


def test_progress_deadline_deleted_and_other_errors(scripted):
    scripted.scripts = [[event(deploy(1, "11", reason="ProgressDeadlineExceeded"))]]
    assert rollout.wait_for_rollout(Apps([listing(deploy(1, "10"))]), "default", "web").outcome == "deadline_exceeded"
    scripted.scripts = [[event(deploy(1, "11"), "DELETED")]]
    assert rollout.wait_for_rollout(Apps([listing(deploy(1, "10"))]), "default", "web").outcome == "deleted"
    assert rollout.wait_for_rollout(Apps([listing()]), "default", "web").outcome == "not_found"
    scripted.scripts = [ApiException(status=403, reason="Forbidden")]
    with pytest.raises(ApiException):
        rollout.wait_for_rollout(Apps([listing(deploy(1, "10"))]), "default", "web")


def test_our_own_timeout(scripted):
    ticks = iter([0.0, 0.0, 5.0, 11.0, 11.0, 11.0])
    scripted.scripts = [[event(deploy(2, "11"))]]
    waited = rollout.wait_for_rollout(Apps([listing(deploy(1, "10"))]), "default", "web", 10,
                                      clock=lambda: next(ticks))
    assert waited.outcome == "timed_out" and waited.message == "timed out waiting for the condition"
    assert scripted.calls[0]["timeout_seconds"] == 10
