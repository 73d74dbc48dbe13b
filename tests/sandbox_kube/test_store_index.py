"""The store's indexes (issue 12 item 5): a list or a rollout costs the same however full the store is.

Cost is counted, not timed: ``store.counters["examined"]`` counts every object a list or an
owner lookup looks at. Before the index, each list sorted and scanned the whole store.
"""
from __future__ import annotations

from pipeline.sandbox.kube import resources as R
from pipeline.sandbox.kube.objects import Cluster
from pipeline.sandbox.kube.store import Store

from tests.sandbox_kube.test_controllers_cluster import _complete
from tests.sandbox_kube.test_controllers_harness import deployment, new_cluster, run_cluster  # noqa: F401


def fill(cluster: Cluster, count: int) -> None:
    for namespace in ("filler-a", "filler-b"):
        cluster.create(R.NAMESPACES, {"metadata": {"name": namespace}})
    for i in range(count):
        namespace = "filler-a" if i % 2 else "filler-b"
        if i % 4:
            cluster.create(R.CONFIGMAPS, {"metadata": {"name": f"c{i}", "namespace": namespace}, "data": {"k": "v"}})
        else:
            cluster.create(R.SECRETS, {"metadata": {"name": f"s{i}", "namespace": namespace}, "data": {}})


def test_a_list_examines_only_its_kind_and_namespace() -> None:
    cluster = new_cluster()
    cluster.create(R.NAMESPACES, {"metadata": {"name": "default"}})
    for name in ("b", "a", "c"):
        cluster.create(R.CONFIGMAPS, {"metadata": {"name": name, "namespace": "default"}})
    fill(cluster, 400)
    cluster.store.counters.clear()
    items, _ = cluster.store.list(R.CONFIGMAPS, "default")
    assert [o["metadata"]["name"] for o in items] == ["a", "b", "c"]
    assert cluster.store.counters["examined"] == 3
    cluster.store.counters.clear()
    assert cluster.list(R.DEPLOYMENTS) == [] and cluster.store.counters["examined"] == 0


def test_all_namespace_lists_are_ordered_by_namespace_then_name() -> None:
    store = Store()
    for namespace, name in (("b", "x"), ("a", "z"), ("a", "y")):
        store.create(R.CONFIGMAPS, {"metadata": {"name": name, "namespace": namespace}})
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in store.list(R.CONFIGMAPS)[0]] == \
        [("a", "y"), ("a", "z"), ("b", "x")]


def test_owner_and_uid_indexes_follow_writes_and_deletes() -> None:
    store = Store()
    owner = store.create(R.REPLICASETS, {"metadata": {"name": "rs", "namespace": "default"}})
    ref = {"uid": owner["metadata"]["uid"], "kind": "ReplicaSet", "name": "rs", "controller": True}
    pod = store.create(R.PODS, {"metadata": {"name": "p", "namespace": "default", "ownerReferences": [ref]}})
    assert [o["metadata"]["name"] for o in store.owned(owner["metadata"]["uid"], R.PODS)] == ["p"]
    assert store.key_of(pod["metadata"]["uid"]) == (R.PODS, "default", "p")
    pod["metadata"]["ownerReferences"] = []
    store.replace(R.PODS, pod)
    assert store.owned(owner["metadata"]["uid"], R.PODS) == []
    store.delete(R.PODS, "default", "p")
    assert store.key_of(pod["metadata"]["uid"]) is None


def _rollout_cost(run_cluster, filler: int) -> int:  # noqa: F811 - the fixture's function
    cluster = new_cluster()
    cluster.create(R.NAMESPACES, {"metadata": {"name": "default"}})
    fill(cluster, filler)
    cost: dict[str, int] = {}

    async def scenario(h):
        h.images({"nginx": {"stop_seconds": 0}})
        h.cluster.create(R.DEPLOYMENTS, deployment(replicas=10))
        await h.wait_for(_complete(h))
        h.cluster.store.counters.clear()

        def bump(d):
            d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
        h.edit("web", bump)
        await h.wait_for(_complete(h))
        await h.wait_for(lambda: len(h.cluster.list(R.PODS, "default")) == 10)
        cost["examined"] = h.cluster.store.counters["examined"]
    run_cluster(scenario, cluster=cluster)
    return cost["examined"]


def test_a_rollout_costs_the_same_in_an_empty_and_a_full_store(run_cluster) -> None:  # noqa: F811
    empty, full = _rollout_cost(run_cluster, 0), _rollout_cost(run_cluster, 2000)
    assert empty == full
