"""The ConfigMap driver and the store against the kube stand-in; two processes racing never fork the chain."""
from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
import uuid

import pytest

from pipeline.records import RecordExists, RecordNotFound, Records, Stored, VersionConflict, deploy_record, layout
from pipeline.records.cluster import ConfigMapDriver

from .conftest import REPO


def fresh_env() -> str:
    return "e" + uuid.uuid4().hex[:8]


def test_the_driver_keeps_immutable_labelled_config_maps_owned_by_nothing(cluster):
    driver = ConfigMapDriver(cluster.api(), "default")
    env = fresh_env()
    name = layout.record_name("klaviyo-sync", env, 1)
    labels = layout.record_labels("klaviyo-sync", env, 1, "deploy", "deployed")
    created = driver.create(Stored(name, "record", labels, {"seq": 1, "note": "é"}))
    assert created.version and created.document == {"seq": 1, "note": "é"}
    raw = json.loads(cluster.api().call_api(*cluster.api().param_serialize(
        "GET", f"/api/v1/namespaces/default/configmaps/{name}")).read())
    assert raw["immutable"] is True and raw["metadata"]["labels"] == labels
    assert "ownerReferences" not in raw["metadata"]
    payload = base64.b64decode(raw["data"]["record"])                     # Helm's layout: gzip in base64
    assert json.loads(gzip.decompress(payload)) == {"note": "é", "seq": 1}
    with pytest.raises(RecordExists):
        driver.create(Stored(name, "record", labels, {"seq": 1}))
    assert [s.name for s in driver.list(layout.selector("klaviyo-sync", env))] == [name]
    assert driver.list(layout.selector("other-app", env)) == []
    driver.delete(name)
    with pytest.raises(RecordNotFound):
        driver.get(name)
    with pytest.raises(RecordNotFound):
        driver.delete(name)


def test_the_head_is_updated_only_with_the_version_read(cluster):
    driver = ConfigMapDriver(cluster.api(), "default")
    name = layout.head_name("klaviyo-sync", fresh_env())
    first = driver.create(Stored(name, "head", {layout.ROLE: "head"}, {"seq": 0}))
    assert first.role == "head"
    second = driver.update(Stored(name, "head", first.labels, {"seq": 1}, first.version))
    with pytest.raises(VersionConflict):
        driver.update(Stored(name, "head", first.labels, {"seq": 2}, first.version))   # stale: lost the race
    assert driver.get(name).document == {"seq": 1} and second.version != first.version


def test_an_unreadable_object_is_named_by_verification(cluster):
    api = cluster.api()
    env = fresh_env()
    store = Records(ConfigMapDriver(api, "default"), "klaviyo-sync", env, actor={"name": "ada"})
    store.append("deploy", deploy_record({"image": "app:1", "outcome": "deployed"}))
    name = layout.record_name("klaviyo-sync", env, 2)
    body = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": layout.record_labels("klaviyo-sync", env, 2, "deploy", "x")},
            "data": {"record": base64.b64encode(b"not gzip").decode()}}
    from kubernetes import client

    client.CoreV1Api(api).create_namespaced_config_map("default", body)
    check = store.verify()
    assert not check.ok and f"object {name} cannot be read: payload is not base64(gzip(JSON))" in check.describe()


@pytest.mark.kubectl
def test_kubectl_lists_the_records_by_label(cluster, kubecache):
    env = fresh_env()
    store = Records(ConfigMapDriver(cluster.api(), "default"), "klaviyo-sync", env, actor={"name": "ada"})
    for image in ("app:1", "app:2"):
        store.append("deploy", deploy_record({"image": image, "outcome": "deployed"}))
    shown = subprocess.run(["kubectl", "--kubeconfig", str(cluster.kubeconfig), "get", "configmaps", "-n", "default",
                            "-l", f"pipeline.deploy/environment={env},pipeline.deploy/records=record",
                            "-o", "jsonpath={.items[*].metadata.name}"],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == [layout.record_name("klaviyo-sync", env, n) for n in (1, 2)]


WRITER = """
import sys
from kubernetes import client
from pipeline.records import Records, RecordExists, VersionConflict
from pipeline.records.cluster import ConfigMapDriver

class Counting(ConfigMapDriver):
    lost = 0
    def create(self, obj):
        try:
            return super().create(obj)
        except RecordExists:
            Counting.lost += 1
            raise
    def update(self, obj):
        try:
            return super().update(obj)
        except VersionConflict:
            Counting.lost += 1
            raise

url, env, worker, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
configuration = client.Configuration()
configuration.host = url
store = Records(Counting(client.ApiClient(configuration), "default"), "klaviyo-sync", env, actor={"name": worker})
print("ready", flush=True)
sys.stdin.readline()                     # start together: the test writes a line to both
for i in range(count):
    store.append("note", {"worker": worker, "i": i})
print(Counting.lost)
"""


def test_two_processes_racing_to_append_never_fork_the_chain(cluster):
    env, count = fresh_env(), 40
    environ = {**os.environ, "PYTHONPATH": str(REPO), "no_proxy": "127.0.0.1,localhost"}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, cluster.url, env, worker, str(count)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=environ) for worker in ("a", "b")]
    assert [w.stdout.readline().strip() for w in writers] == ["ready", "ready"]
    for writer in writers:
        writer.stdin.write("go\n")
        writer.stdin.flush()
    results = [w.communicate(timeout=300) for w in writers]
    assert all(w.returncode == 0 for w in writers), [err for _, err in results]
    store = Records(ConfigMapDriver(cluster.api(), "default"), "klaviyo-sync", env, actor={"name": "reader"})
    check = store.verify()
    assert check.ok and check.records == 2 * count and check.head_seq == 2 * count, check.describe()
    documents = store.view().documents
    assert [d["seq"] for d in documents] == list(range(1, 2 * count + 1))
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(documents, documents[1:]))
    written = sorted((d["data"]["worker"], d["data"]["i"]) for d in documents)
    assert written == sorted((w, i) for w in "ab" for i in range(count))      # each append exactly once
    print(f"races lost and retried: {[int(out.strip()) for out, _ in results]}")
