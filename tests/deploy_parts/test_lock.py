"""Deploy lock: pure lease arithmetic, and the protocol against a strict in-test Lease API fake.

The fake answers like the API server on the points the lock depends on: 404/409
AlreadyExists/409 Conflict on a stale resourceVersion, and 400 for a MicroTime that is not
six fraction digits plus a zone (what kube-apiserver 1.32 rejects).
"""
from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timedelta, timezone

import pytest
from aiohttp import web

from pipeline.lock import (INFO_ANNOTATION, DeployLock, LeaseApi, LockHeld, LockLost, claimed, lease_name,
                           lease_status, make_identity, micro_time, parse_time, released)

from .conftest import kube_api_client

NOW = datetime(2026, 11, 22, 17, 30, 31, 336676, tzinfo=timezone.utc)
MICRO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)")


def lease(holder="other@host/1/x", renew=NOW, duration=60, transitions=0, info=None):
    annotations = {INFO_ANNOTATION: json.dumps(info)} if info else {}
    return {"metadata": {"name": "deploy-lock-app-prod", "resourceVersion": "5", "annotations": annotations},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration,
                     "acquireTime": micro_time(renew - timedelta(minutes=5)), "renewTime": micro_time(renew),
                     "leaseTransitions": transitions}}


# ---------------------------------------------------------------- pure

def test_micro_time_always_six_digits_and_z():
    assert micro_time(NOW) == "2026-11-22T17:30:31.336676Z"
    assert micro_time(NOW.replace(microsecond=0)) == "2026-11-22T17:30:31.000000Z"
    assert micro_time(NOW.astimezone(timezone(timedelta(hours=-5)))) == "2026-11-22T17:30:31.336676Z"
    with pytest.raises(ValueError, match="naive"):
        micro_time(NOW.replace(tzinfo=None))


@pytest.mark.parametrize("text,expected", [
    ("2026-11-22T17:30:31.336676Z", NOW),
    ("2026-11-22T17:30:31Z", NOW.replace(microsecond=0)),
    ("2026-11-22T17:30:31.3Z", NOW.replace(microsecond=300000)),
    ("2026-11-22T18:30:31.336676+01:00", NOW),
    ("2026-11-22T17:30:31.336676123Z", NOW),
])
def test_parse_time(text, expected):
    assert parse_time(text) == expected


def test_parse_time_rejects_naive():
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_time("2026-11-22T17:30:31")


def test_status_held_expired_released():
    held = lease_status(lease(info={"who": "ada@laptop", "image": "app:2"}), NOW + timedelta(seconds=59))
    assert held.held and held.holder == "other@host/1/x" and held.info["image"] == "app:2"
    assert held.expires_at == NOW + timedelta(seconds=60)
    assert held.held_by_other("me") and not held.held_by_other("other@host/1/x")
    expired = lease_status(lease(), NOW + timedelta(seconds=60))
    assert not expired.held and "expired" in expired.reason
    assert not lease_status(lease(holder=""), NOW).held
    assert not lease_status(lease(duration=0), NOW).held
    assert lease_status(None, NOW).reason == "no lease"


def test_claim_takeover_counts_transitions_and_keeps_resource_version():
    body = claimed(lease(transitions=2), "me@h/2/y", 30, NOW, {"who": "me"}, "ns", "deploy-lock-app-prod")
    assert body["spec"]["leaseTransitions"] == 3 and body["metadata"]["resourceVersion"] == "5"
    assert body["spec"]["renewTime"] == body["spec"]["acquireTime"] == micro_time(NOW)
    assert json.loads(body["metadata"]["annotations"][INFO_ANNOTATION]) == {"who": "me"}
    fresh = claimed(None, "me@h/2/y", 30, NOW, {}, "ns", "n")
    assert fresh["spec"]["leaseTransitions"] == 0 and fresh["metadata"] == {"name": "n", "namespace": "ns",
                                                                            "annotations": {INFO_ANNOTATION: "{}"}}
    gone = released(body, NOW)
    assert "holderIdentity" not in gone["spec"] and INFO_ANNOTATION not in gone["metadata"]["annotations"]


def test_names_and_identity():
    assert lease_name("klaviyo-sync", "prod") == "deploy-lock-klaviyo-sync-prod"
    assert lease_name("Klaviyo_Sync", "Staging.EU") == "deploy-lock-klaviyo-sync-staging-eu"
    assert make_identity("ada", "laptop", 42, "abc") == "ada@laptop/42/abc"
    assert re.fullmatch(r"[^@]+@[^/]+/\d+/[0-9a-f]{32}", make_identity())


# ---------------------------------------------------------------- a strict fake API server

class FakeLeases:
    def __init__(self) -> None:
        self.objects: dict[str, dict] = {}
        self.rv = 100
        self.requests: list[tuple[str, str]] = []

    def app(self) -> web.Application:
        app = web.Application()
        base = "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"
        app.router.add_get(base + "/{name}", self.get)
        app.router.add_post(base, self.post)
        app.router.add_put(base + "/{name}", self.put)
        return app

    def status(self, code, reason, message):
        return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
                                  "reason": reason, "code": code}, status=code)

    def bad_time(self, body):
        spec = body.get("spec") or {}
        return [k for k in ("acquireTime", "renewTime") if k in spec and not MICRO.fullmatch(str(spec[k]))]

    async def get(self, request):
        self.requests.append(("GET", request.match_info["name"]))
        obj = self.objects.get(request.match_info["name"])
        if obj is None:
            return self.status(404, "NotFound", f'leases.coordination.k8s.io "{request.match_info["name"]}" not found')
        return web.json_response(obj)

    def store(self, body, ns):
        self.rv += 1
        body["metadata"].update(resourceVersion=str(self.rv), namespace=ns)
        body.update(kind="Lease", apiVersion="coordination.k8s.io/v1")
        self.objects[body["metadata"]["name"]] = body
        return web.json_response(body, status=201 if len(body) else 200)

    async def post(self, request):
        body = json.loads(await request.read())
        self.requests.append(("POST", body["metadata"]["name"]))
        if self.bad_time(body):
            return self.status(400, "BadRequest", f"bad MicroTime {self.bad_time(body)}")
        if body["metadata"]["name"] in self.objects:
            return self.status(409, "AlreadyExists", "already exists")
        return self.store(body, request.match_info["ns"])

    async def put(self, request):
        body = json.loads(await request.read())
        name = request.match_info["name"]
        self.requests.append(("PUT", name))
        if self.bad_time(body):
            return self.status(400, "BadRequest", f"bad MicroTime {self.bad_time(body)}")
        current = self.objects.get(name)
        if current is None:
            return self.status(404, "NotFound", "not found")
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            return self.status(409, "Conflict", "Operation cannot be fulfilled: the object has been modified")
        return self.store(body, request.match_info["ns"])


@pytest.fixture
def leases(server):
    fake = FakeLeases()
    with server(fake.app()) as url:
        yield fake, LeaseApi(kube_api_client(url), "klaviyo-sync")


def test_acquire_creates_then_releases(leases):
    fake, api = leases
    with DeployLock(api, "klaviyo-sync", "prod", info={"image": "app:2"}, identity="me@h/1/a") as lock:
        stored = fake.objects["deploy-lock-klaviyo-sync-prod"]
        assert stored["spec"]["holderIdentity"] == "me@h/1/a"
        assert stored["spec"]["leaseDurationSeconds"] == 60
        info = json.loads(stored["metadata"]["annotations"][INFO_ANNOTATION])
        assert info["image"] == "app:2" and info["who"] == "me@h" and MICRO.fullmatch(info["since"])
        lock.check()
    assert "holderIdentity" not in fake.objects["deploy-lock-klaviyo-sync-prod"]["spec"]
    assert [m for m, _ in fake.requests] == ["GET", "POST", "PUT"]


def test_microsecond_zero_still_has_six_digits(leases):
    fake, api = leases
    clock = lambda: NOW.replace(microsecond=0)   # noqa: E731 - the client's model serialiser would drop it
    with DeployLock(api, "app", "prod", clock=clock):
        assert fake.objects["deploy-lock-app-prod"]["spec"]["renewTime"] == "2026-11-22T17:30:31.000000Z"


def test_held_by_another_is_refused_naming_who_and_since(leases):
    fake, api = leases
    first = DeployLock(api, "app", "prod", info={"image": "app:1"}, identity="ada@laptop/7/a")
    first.acquire()
    try:
        with pytest.raises(LockHeld, match=r"held by ada@laptop deploying app:1 since \d{4}-\d\d-\d\d") as caught:
            DeployLock(api, "app", "prod", identity="bob@ci/9/b").acquire()
        assert caught.value.status.holder == "ada@laptop/7/a"
        assert fake.objects["deploy-lock-app-prod"]["spec"]["holderIdentity"] == "ada@laptop/7/a"
    finally:
        first.release()
    with DeployLock(api, "app", "prod", identity="bob@ci/9/b"):       # free again after release
        assert fake.objects["deploy-lock-app-prod"]["spec"]["holderIdentity"] == "bob@ci/9/b"


def test_expired_lease_is_taken_over_with_transition(leases):
    fake, api = leases
    old = lease(holder="crashed@host/1/x", renew=datetime.now(timezone.utc) - timedelta(minutes=5), transitions=4)
    old["metadata"]["name"] = "deploy-lock-app-prod"
    fake.objects["deploy-lock-app-prod"] = old
    with DeployLock(api, "app", "prod", identity="me@h/1/a"):
        spec = fake.objects["deploy-lock-app-prod"]["spec"]
        assert spec["holderIdentity"] == "me@h/1/a" and spec["leaseTransitions"] == 5


def test_lost_race_on_create_and_on_takeover(leases):
    fake, api = leases

    class Racing(LeaseApi):
        """Another deploy writes between our GET and our write."""
        def __init__(self, inner, racer):
            super().__init__(inner.api_client, inner.namespace)
            self.racer = racer

        def get(self, name):
            current = super().get(name)
            if self.racer:
                self.racer, racer = None, self.racer
                racer()
            return current

    rival = DeployLock(api, "app", "prod", identity="rival@h/2/r")
    with pytest.raises(LockHeld, match="rival"):
        DeployLock(Racing(api, rival.acquire), "app", "prod", identity="me@h/1/a").acquire()
    rival.release()
    rival2 = DeployLock(api, "app", "prod", identity="rival2@h/3/r")
    with pytest.raises(LockHeld, match="rival2"):        # takeover PUT with a stale resourceVersion: 409
        DeployLock(Racing(api, rival2.acquire), "app", "prod", identity="me@h/1/a").acquire()
    rival2.release()


def test_renewal_moves_renew_time_and_detects_takeover(leases):
    fake, api = leases
    times = iter([NOW + timedelta(seconds=s) for s in range(0, 1000, 5)])
    lock = DeployLock(api, "app", "prod", duration_seconds=30, identity="me@h/1/a", clock=lambda: next(times))
    lock.acquire()
    try:
        assert lock.renew_interval == 20           # a third of 30 s left, as client-go keeps 5 s of 15
        assert lock.renew()
        assert fake.objects["deploy-lock-app-prod"]["spec"]["renewTime"] == micro_time(NOW + timedelta(seconds=5))
        stolen = fake.objects["deploy-lock-app-prod"]
        stolen["spec"]["holderIdentity"] = "thief@x/1/t"
        fake.rv += 1
        stolen["metadata"]["resourceVersion"] = str(fake.rv)
        lock.renew()
        assert lock.lost.is_set()
        with pytest.raises(LockLost, match="taken over by thief"):
            lock.check()
    finally:
        lock.release()
    assert fake.objects["deploy-lock-app-prod"]["spec"]["holderIdentity"] == "thief@x/1/t"   # not clobbered


def test_background_thread_renews(leases):
    fake, api = leases
    renewed_twice = threading.Event()
    seen: list[str] = []
    original = api.replace

    def spy(name, body):
        result = original(name, body)
        seen.append(body["spec"]["renewTime"])
        if len(seen) >= 2:
            renewed_twice.set()
        return result

    api.replace = spy
    lock = DeployLock(api, "app", "prod", duration_seconds=3, identity="me@h/1/a")
    lock.acquire()
    try:
        assert renewed_twice.wait(10), "the lease was not renewed in the background"
        assert not lock.lost.is_set()
    finally:
        lock.release()


@pytest.mark.parametrize("duration, interval", [(15, 10), (30, 20), (60, 40), (3, 1), (6, 2), (9, 4)])
def test_renewed_with_client_gos_margin_or_a_third_of_a_long_lease(duration, interval):
    from pipeline.lock import renew_margin

    assert duration - renew_margin(duration) == pytest.approx(interval)
    assert renew_margin(duration) >= duration / 3          # never less headroom than before


def test_a_renewal_that_did_not_land_is_tried_again_at_the_retry_period():
    from pipeline.lock import RETRY_PERIOD_SECONDS, next_renewal

    assert next_renewal(True, 10.0) == 10.0
    assert next_renewal(False, 10.0) == RETRY_PERIOD_SECONDS == 2.0
    assert next_renewal(False, 1.0) == 1.0          # a short test lease: never later than its interval
