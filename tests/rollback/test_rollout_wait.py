"""The shared informer under wait_for_rollout, with a scripted API: 410 -> re-list, closed or
cut stream -> resume from the last resourceVersion, fatal errors reach the waiter."""
from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import ProtocolError

from pipeline.kube import informer, rollout


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
    idle: list = []

    def __init__(self):
        self.resource_version = None

    def stream(self, func, *args, **kwargs):
        ScriptedWatch.calls.append(kwargs)
        script = ScriptedWatch.scripts.pop(0) if ScriptedWatch.scripts else ScriptedWatch.idle

        def generate():
            if isinstance(script, Idle):
                yield from script
                return
            if isinstance(script, Exception):
                raise script
            for event in script:
                self.resource_version = event["raw_object"]["metadata"]["resourceVersion"]
                yield event
        return Stream(generate())


class Stream:
    def __init__(self, events):
        self.events = events

    def __iter__(self):
        return self.events

    def close(self):
        pass


@pytest.fixture
def scripted(monkeypatch):
    ScriptedWatch.scripts, ScriptedWatch.calls = [], []
    monkeypatch.setattr(informer.watch, "Watch", ScriptedWatch)
    ScriptedWatch.idle = Idle()
    return ScriptedWatch


class Idle(Exception):
    """A watch with nothing to say: blocks briefly, then the server closes it (as a timeout would)."""

    def __iter__(self):
        import time
        time.sleep(0.05)
        return iter(())


def listing(*items, rv="10"):
    return {"metadata": {"resourceVersion": rv}, "items": list(items)}


def event(obj, kind="MODIFIED"):
    return {"type": kind, "raw_object": obj}


def test_expired_watch_is_recovered_by_listing_again(scripted):
    scripted.scripts = [ApiException(status=410, reason="Expired"), [event(deploy(3, "21"))]]
    apps = Apps([listing(deploy(1, "10")), listing(deploy(2, "20"), rv="20")])
    waited = rollout.wait_for_rollout(apps, "default", "web", timeout_seconds=30)
    assert waited.complete and waited.relists == 1 and apps.list_calls == 2
    assert [c["resource_version"] for c in scripted.calls][:len(["10", "20"])] == ["10", "20"]
    assert scripted.calls[0]["field_selector"] == "metadata.name=web"


def test_a_closed_stream_is_resumed_from_the_last_resource_version(scripted):
    scripted.scripts = [[event(deploy(2, "11"))], [event({"kind": "Deployment", "metadata": {"resourceVersion": "12"}},
                                                         "BOOKMARK"), event(deploy(3, "13"))]]
    seen = []
    waited = rollout.wait_for_rollout(Apps([listing(deploy(1, "10"))]), "default", "web", 30,
                                      on_progress=lambda s, d: seen.append(s.message))
    assert waited.complete          # intermediate states may be coalesced, as an informer does
    assert [c["resource_version"] for c in scripted.calls][:len(["10", "11"])] == ["10", "11"]
    assert seen[-1].endswith("rolled out")


def test_progress_deadline_deleted_and_other_errors(scripted):
    scripted.scripts = [[event(deploy(1, "11", reason="ProgressDeadlineExceeded"))]]
    assert rollout.wait_for_rollout(Apps([listing(deploy(1, "10"))]), "default", "web").outcome == "deadline_exceeded"
    scripted.scripts = [[event(deploy(1, "11"), "DELETED")]]
    gone = rollout.wait_for_rollout(Apps([listing(deploy(1, "10"))]), "default", "web")
    assert gone.outcome in ("deleted", "not_found") and not gone.complete   # coalesced: either may be seen
    assert rollout.wait_for_rollout(Apps([listing()]), "default", "web").outcome == "not_found"
    scripted.scripts = [ApiException(status=403, reason="Forbidden")]
    with pytest.raises(ApiException):
        rollout.wait_for_rollout(Apps([listing(deploy(1, "10"))]), "default", "web")


def test_a_cut_connection_is_resumed_not_fatal(scripted):
    scripted.scripts = [ProtocolError("Connection broken: IncompleteRead"), [event(deploy(3, "12"))]]
    waited = rollout.wait_for_rollout(Apps([listing(deploy(1, "10"))]), "default", "web", 30)
    assert waited.complete
    assert [c["resource_version"] for c in scripted.calls][:len(["10", "10"])] == ["10", "10"]


def test_our_own_timeout(scripted):
    waited = rollout.wait_for_rollout(Apps([listing(deploy(1, "10"))]), "default", "web", 0.3)
    assert waited.outcome == "timed_out" and waited.message == "timed out waiting for the condition"
    assert waited.deployment is not None and waited.deployment["metadata"]["resourceVersion"] == "10"
