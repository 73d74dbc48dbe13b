"""Deployment + ReplicaSet controllers and the simulated kubelet on a Cluster (no HTTP)."""
from __future__ import annotations

from pipeline.sandbox.kube.controllers.spec import REVISION, REVISION_HISTORY
from pipeline.sandbox.kube.resources import DEPLOYMENTS, PODS, REPLICASETS

from tests.sandbox_kube.conftest import Kube  # noqa: F401  (kube_with_controllers fixture)
from tests.sandbox_kube.test_controllers_harness import deployment, run_cluster  # noqa: F401


def _complete(h, name="web", replicas=None):
    def check():
        d = h.deploy(name)
        r = d["spec"]["replicas"] if replicas is None else replicas
        s = d.get("status") or {}
        cond = next((c for c in s.get("conditions", []) if c["type"] == "Progressing"), {})
        return (s.get("observedGeneration") == d["metadata"]["generation"] and s.get("updatedReplicas", 0) == r
                and s.get("replicas", 0) == r and s.get("availableReplicas", 0) == r
                and cond.get("reason") == "NewReplicaSetAvailable")
    return check


def _rss(h):
    return {rs["metadata"]["name"]: rs for rs in h.cluster.list(REPLICASETS, "default")}


def test_create_makes_rs_and_ready_pods(run_cluster):
    async def scenario(h):
        h.cluster.create(DEPLOYMENTS, deployment(replicas=3))
        await h.wait_for(_complete(h))
        (rs,) = _rss(h).values()
        meta = rs["metadata"]
        assert meta["name"] == "web-" + rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"]
        assert rs["spec"]["selector"]["matchLabels"]["pod-template-hash"] == meta["labels"]["pod-template-hash"]
        assert meta["ownerReferences"][0]["kind"] == "Deployment" and meta["ownerReferences"][0]["controller"]
        assert meta["annotations"][REVISION] == "1"
        assert meta["annotations"]["deployment.kubernetes.io/max-replicas"] == "4"
        pods = h.cluster.list(PODS, "default")
        assert len(pods) == 3
        for pod in pods:
            assert pod["metadata"]["name"].startswith(meta["name"] + "-")
            assert len(pod["metadata"]["name"]) == len(meta["name"]) + 6
            assert pod["metadata"]["ownerReferences"][0]["uid"] == meta["uid"]
            assert pod["status"]["phase"] == "Running" and pod["status"]["podIP"] == "127.0.0.1"
        d = h.deploy()
        assert d["metadata"]["annotations"][REVISION] == "1"
        assert d["metadata"]["generation"] == 1
        assert "unavailableReplicas" not in d["status"]
        assert rs["status"] == {"replicas": 3, "fullyLabeledReplicas": 3, "readyReplicas": 3,
                                "availableReplicas": 3, "observedGeneration": rs["metadata"]["generation"]}
    run_cluster(scenario)


def test_rolling_update_keeps_bounds_and_change_cause_travels(run_cluster):
    async def scenario(h):
        h.cluster.create(DEPLOYMENTS, deployment(replicas=10))
        await h.wait_for(_complete(h))
        totals = []
        h.cluster.store.add_listener(lambda e: totals.append(
            (sum(rs["spec"]["replicas"] for rs in h.cluster.list(REPLICASETS, "default")),
             sum(1 for p in h.cluster.list(PODS, "default")
                 if any(c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", [])))))
            if e.resource == REPLICASETS else None)

        def bump(d):
            d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
            d["metadata"].setdefault("annotations", {})["kubernetes.io/change-cause"] = "image nginx:2"
        h.edit("web", bump)
        await h.wait_for(_complete(h))
        assert max(t for t, _ in totals) <= 13
        rss = sorted(_rss(h).values(), key=lambda rs: rs["metadata"]["annotations"][REVISION])
        assert [rs["spec"]["replicas"] for rs in rss] == [0, 10]
        assert rss[1]["metadata"]["annotations"]["kubernetes.io/change-cause"] == "image nginx:2"
        assert "kubernetes.io/change-cause" not in rss[0]["metadata"]["annotations"]
        assert h.deploy()["metadata"]["annotations"][REVISION] == "2"
        old_pods = [p for p in h.cluster.list(PODS, "default") if p["spec"]["containers"][0]["image"] != "nginx:2"]
        assert all(p["metadata"].get("deletionTimestamp") for p in old_pods)   # complete: the rest terminate
        await h.wait_for(lambda: all(p["spec"]["containers"][0]["image"] == "nginx:2"
                                     for p in h.cluster.list(PODS, "default")))
    run_cluster(scenario)


def test_rollback_reuses_old_rs_with_revision_history(run_cluster):
    async def scenario(h):
        h.cluster.create(DEPLOYMENTS, deployment(replicas=2))
        await h.wait_for(_complete(h))
        first = next(iter(_rss(h)))

        def image(tag):
            def change(d):
                d["spec"]["template"]["spec"]["containers"][0]["image"] = tag
            return change
        h.edit("web", image("nginx:2"))
        await h.wait_for(_complete(h))
        # what `rollout undo` sends: the old template (hash label stripped) with Go's nulls/empties
        def undo(d):
            d["spec"]["template"] = {"metadata": {"labels": {"app": "web"}, "creationTimestamp": None},
                                     "spec": {"containers": [{"name": "web", "image": "nginx:1", "resources": {}}]}}
        h.edit("web", undo)
        await h.wait_for(_complete(h))
        rss = _rss(h)
        assert len(rss) == 2
        assert rss[first]["metadata"]["annotations"][REVISION] == "3"
        assert rss[first]["metadata"]["annotations"][REVISION_HISTORY] == "1"
        assert rss[first]["spec"]["replicas"] == 2
        assert h.deploy()["metadata"]["annotations"][REVISION] == "3"
    run_cluster(scenario)


def test_never_ready_image_hits_progress_deadline(run_cluster):
    async def scenario(h):
        h.cluster.create(DEPLOYMENTS, deployment(replicas=2, progressDeadlineSeconds=1))
        await h.wait_for(_complete(h))
        h.images({"nginx:bad": {"never_ready": True}})
        h.edit("web", lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__("image", "nginx:bad"))

        def timed_out():
            conds = h.deploy().get("status", {}).get("conditions", [])
            return next((c for c in conds if c["type"] == "Progressing" and c["reason"] == "ProgressDeadlineExceeded"), None)
        cond = await h.wait_for(timed_out, timeout=8)
        assert cond["status"] == "False" and cond["message"].endswith("has timed out progressing.")
        rss = sorted(_rss(h).values(), key=lambda rs: rs["metadata"]["annotations"][REVISION])
        assert [rs["spec"]["replicas"] for rs in rss] == [2, 1]   # maxUnavailable 0 -> old pods stay
    run_cluster(scenario)


def test_paused_deployment_makes_no_new_rs_then_resumes(run_cluster):
    async def scenario(h):
        h.cluster.create(DEPLOYMENTS, deployment(replicas=2))
        await h.wait_for(_complete(h))
        h.edit("web", lambda d: d["spec"].__setitem__("paused", True))
        await h.wait_for(lambda: any(c["reason"] == "DeploymentPaused" for c in h.deploy()["status"]["conditions"]))
        h.edit("web", lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__("image", "nginx:9"))
        await h.wait_for(lambda: h.deploy()["status"].get("observedGeneration") == h.deploy()["metadata"]["generation"])
        assert len(_rss(h)) == 1
        cond = next(c for c in h.deploy()["status"]["conditions"] if c["type"] == "Progressing")
        assert (cond["status"], cond["message"]) == ("Unknown", "Deployment is paused")
        h.edit("web", lambda d: d["spec"].pop("paused"))
        await h.wait_for(_complete(h))
        assert len(_rss(h)) == 2
    run_cluster(scenario)


def test_scale_changes_pods_and_desired_annotation(run_cluster):
    async def scenario(h):
        h.cluster.create(DEPLOYMENTS, deployment(replicas=2))
        await h.wait_for(_complete(h))
        h.edit("web", lambda d: d["spec"].__setitem__("replicas", 5))
        await h.wait_for(_complete(h, replicas=5))
        (rs,) = _rss(h).values()
        assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "5"
        assert len(h.cluster.list(PODS, "default")) == 5
        h.edit("web", lambda d: d["spec"].__setitem__("replicas", 1))
        await h.wait_for(lambda: len(h.cluster.list(PODS, "default")) == 1 and _complete(h, replicas=1)())
    run_cluster(scenario)


def test_revision_history_limit_cleans_old_replicasets(run_cluster):
    async def scenario(h):
        h.cluster.create(DEPLOYMENTS, deployment(replicas=1, revisionHistoryLimit=1))
        await h.wait_for(_complete(h))
        for tag in ("2", "3", "4"):
            h.edit("web", lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__("image", "nginx:" + tag))
            await h.wait_for(_complete(h))
        await h.wait_for(lambda: len(_rss(h)) == 2)
        revisions = sorted(int(rs["metadata"]["annotations"][REVISION]) for rs in _rss(h).values())
        assert revisions == [3, 4]
    run_cluster(scenario)


def test_crashing_image_reports_crash_loop_with_rising_restarts(run_cluster):
    async def scenario(h):
        h.images({"nginx:crash": {"crash": True, "crash_period_seconds": 0.2}})
        h.cluster.create(DEPLOYMENTS, deployment(replicas=1, image="nginx:crash"))

        def restarted():
            pods = h.cluster.list(PODS, "default")
            statuses = pods[0].get("status", {}).get("containerStatuses", []) if pods else []
            return statuses and statuses[0]["restartCount"] >= 2 and statuses[0]
        cs = await h.wait_for(restarted)
        assert cs["ready"] is False
        await h.wait_for(lambda: (h.cluster.list(PODS, "default")[0]["status"]["containerStatuses"][0]
                                  ["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff"))
        assert h.deploy()["status"].get("availableReplicas") is None
    run_cluster(scenario)


def test_min_ready_seconds_delays_availability(run_cluster):
    async def scenario(h):
        h.cluster.create(DEPLOYMENTS, deployment(replicas=1, minReadySeconds=1))
        await h.wait_for(lambda: h.deploy().get("status", {}).get("readyReplicas") == 1)
        assert not h.deploy()["status"].get("availableReplicas")
        await h.wait_for(_complete(h), timeout=5)
    run_cluster(scenario)


def test_recreate_scales_old_down_before_new_up(run_cluster):
    async def scenario(h):
        h.cluster.create(DEPLOYMENTS, deployment(replicas=2, strategy={"type": "Recreate"}))
        await h.wait_for(_complete(h))
        seen = []
        h.cluster.store.add_listener(lambda e: seen.append(sorted(
            (rs["metadata"]["annotations"][REVISION], rs["spec"]["replicas"]) for rs in h.cluster.list(REPLICASETS, "default")))
            if e.resource == REPLICASETS else None)
        h.edit("web", lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__("image", "nginx:2"))
        await h.wait_for(_complete(h))
        assert all(not (old > 0 and new > 0) for snap in seen if len(snap) == 2 for (_, old), (_, new) in [snap])
    run_cluster(scenario)


def test_pod_deleted_by_hand_is_replaced(run_cluster):
    async def scenario(h):
        h.cluster.create(DEPLOYMENTS, deployment(replicas=2))
        await h.wait_for(_complete(h))
        victim = h.cluster.list(PODS, "default")[0]["metadata"]["name"]
        h.cluster.delete(PODS, "default", victim)
        await h.wait_for(lambda: len(h.cluster.list(PODS, "default")) == 2
                         and victim not in {p["metadata"]["name"] for p in h.cluster.list(PODS, "default")})
    run_cluster(scenario)


def test_unpullable_image_stays_pending_in_image_pull_backoff(run_cluster):
    async def scenario(h):
        h.images({"nginx:nope": {"pull_error": True}})
        h.cluster.create(DEPLOYMENTS, deployment(replicas=1, image="nginx:nope"))

        def backoff():
            pods = h.cluster.list(PODS, "default")
            statuses = pods[0].get("status", {}).get("containerStatuses", []) if pods else []
            waiting = statuses and statuses[0]["state"].get("waiting", {})
            return waiting and waiting.get("reason") == "ImagePullBackOff" and pods[0]
        pod = await h.wait_for(backoff)
        assert pod["status"]["phase"] == "Pending"
        assert pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"] == 'Back-off pulling image "nginx:nope"'
    run_cluster(scenario)


def test_admin_routes_validate_and_report(kube_with_controllers):
    import httpx
    url = kube_with_controllers.url
    bad = httpx.put(url + "/_sandbox/images", json={"x:1": {"ready_after_seconds": -1}})
    assert bad.status_code == 400
    assert bad.json()["error"] == "images['x:1'].ready_after_seconds: expected a number >= 0, got -1"
    assert httpx.put(url + "/_sandbox/images", content=b"{nope").status_code == 400
    ok = httpx.put(url + "/_sandbox/images", json={"x:1": {"never_ready": True}})
    assert ok.status_code == 200 and ok.json()["behaviours"]["x:1"]["never_ready"] is True
    snapshot = httpx.get(url + "/_sandbox/images").json()
    assert "klaviyo-sync" in snapshot["processes"]
    assert httpx.put(url + "/_sandbox/images", json={"x:1": None}).json()["behaviours"] == {}
    assert httpx.put(url + "/_sandbox/processes", json={"tiny": "not-a-command"}).status_code == 400
    assert httpx.get(url + "/_sandbox/pods/default/none/log").status_code == 404


def test_scaling_mid_rollout_is_proportional(run_cluster):
    async def scenario(h):
        h.cluster.create(DEPLOYMENTS, deployment(replicas=10))
        await h.wait_for(_complete(h))
        h.images({"nginx:stuck": {"never_ready": True}})
        h.edit("web", lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__("image", "nginx:stuck"))

        def sizes():
            rss = sorted(_rss(h).values(), key=lambda rs: rs["metadata"]["annotations"][REVISION])
            return tuple(rs["spec"]["replicas"] for rs in rss)
        # old 10 -> 8 (budget 13-8-3), new 3 -> 5 (surge), then stuck: new pods never become available
        await h.wait_for(lambda: sizes() == (8, 5))
        seen = []
        h.cluster.store.add_listener(lambda e: seen.append(sizes()) if e.resource == REPLICASETS else None)
        h.edit("web", lambda d: d["spec"].__setitem__("replicas", 20))
        # max-replicas 13 -> 25, 12 to add: old 8*25/13 = 15.4 -> 15, new 5*25/13 = 9.6 -> 10
        await h.wait_for(lambda: sizes() == (15, 10))
        assert [s for s in dict.fromkeys(seen)] in ([(15, 5), (15, 10)], [(8, 10), (15, 10)])
        rs_notes = [rs["metadata"]["annotations"] for rs in _rss(h).values()]
        assert {n["deployment.kubernetes.io/desired-replicas"] for n in rs_notes} == {"20"}
        assert {n["deployment.kubernetes.io/max-replicas"] for n in rs_notes} == {"25"}
    run_cluster(scenario)


def test_a_settled_cluster_writes_nothing(run_cluster):
    """No polling and no status churn: once complete, the store stays still."""
    import asyncio

    async def scenario(h):
        h.cluster.create(DEPLOYMENTS, deployment(replicas=3, minReadySeconds=0, progressDeadlineSeconds=1))
        await h.wait_for(_complete(h))
        settled = h.cluster.store.resource_version
        await asyncio.sleep(1.5)     # longer than the progress deadline: no timer fires a write
        assert h.cluster.store.resource_version == settled
    run_cluster(scenario)


def test_scaling_and_pod_events_are_recorded_and_aggregated(run_cluster):
    from pipeline.sandbox.kube.controllers.events import EventRecorder
    from pipeline.sandbox.kube.resources import EVENTS

    async def scenario(h):
        h.cluster.create(DEPLOYMENTS, deployment(replicas=2))
        await h.wait_for(_complete(h))
        events = h.cluster.list(EVENTS, "default")
        (rs_name,) = _rss(h)
        scaling = [e for e in events if e["reason"] == "ScalingReplicaSet"]
        assert [e["message"] for e in scaling] == [f"Scaled up replica set {rs_name} from 0 to 2"]
        assert scaling[0]["involvedObject"]["kind"] == "Deployment" and scaling[0]["source"] == {"component": "deployment-controller"}
        created = sorted(e["message"] for e in events if e["reason"] == "SuccessfulCreate")
        assert created == sorted(f"Created pod: {p['metadata']['name']}" for p in h.cluster.list(PODS, "default"))
        recorder = EventRecorder(h.cluster, limit=2)
        for _ in range(3):
            recorder.record(h.deploy(), "Warning", "Test", "same", "tester")
        (same,) = [e for e in h.cluster.list(EVENTS, "default") if e["reason"] == "Test"]
        assert same["count"] == 3
    run_cluster(scenario)
