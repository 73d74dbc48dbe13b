"""Pure pieces: selectors, patches, tables, discovery documents."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pipeline.sandbox.kube import discovery, patch, tables
from pipeline.sandbox.kube import resources as R
from pipeline.sandbox.kube.objects import ApiError
from pipeline.sandbox.kube.selectors import SelectorError, parse_fields, parse_labels


@pytest.mark.parametrize("selector,labels,expected", [
    ("app=web", {"app": "web"}, True), ("app==web", {"app": "x"}, False), ("app!=web", {}, True),
    ("app in (a, b)", {"app": "b"}, True), ("app notin (a,b)", {"app": "a"}, False), ("app", {"app": ""}, True),
    ("!app", {"app": "x"}, False), ("a=1,b", {"a": "1"}, False), ("n>3", {"n": "5"}, True), ("x=", {"x": ""}, True),
])
def test_label_selectors(selector: str, labels: dict, expected: bool) -> None:
    assert parse_labels(selector)(labels) is expected


@pytest.mark.parametrize("selector", ["app in (a", "app=(", "=x", "app===b", "a b", "-x=1", "app=web,"])
def test_bad_label_selectors(selector: str) -> None:
    with pytest.raises(SelectorError, match="unable to parse requirement|expected"):
        parse_labels(selector)


def test_field_selectors() -> None:
    obj = {"metadata": {"name": "web", "namespace": "default"}, "status": {"phase": "Running"}}
    assert parse_fields("metadata.name=web,metadata.namespace!=kube-system", "Deployment")(obj)
    assert parse_fields("status.phase=Running", "Pod")(obj)
    with pytest.raises(SelectorError, match="field label not supported: status.phase"):
        parse_fields("status.phase=Running", "Deployment")


LIVE = {"spec": {"template": {"spec": {"containers": [
    {"name": "web", "image": "a:1", "ports": [{"containerPort": 80, "protocol": "TCP"}],
     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}], "args": ["x", "y"]},
    {"name": "side", "image": "s:1"}]}}},
    "metadata": {"finalizers": ["a"], "labels": {"app": "web", "old": "x"}}}


def test_strategic_merge_by_key_and_directives() -> None:
    doc = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "side"}, {"name": "web"}],
        "containers": [{"name": "web", "image": "a:2", "env": [{"name": "A", "$patch": "delete"}],
                        "args": ["z"], "$deleteFromPrimitiveList/args": []}]}}},
        "metadata": {"finalizers": ["b"], "labels": {"old": None}}}
    out = patch.strategic_merge(LIVE, doc)
    containers = out["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["side", "web"]
    web = containers[1]
    assert web["image"] == "a:2" and web["env"] == [{"name": "B", "value": "2"}] and web["args"] == ["z"]
    assert web["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert out["metadata"] == {"finalizers": ["a", "b"], "labels": {"app": "web"}}
    assert LIVE["spec"]["template"]["spec"]["containers"][0]["image"] == "a:1"   # input untouched


def test_strategic_merge_replace_retain_and_primitive_delete() -> None:
    live = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
                     "list": ["a", "b", "c"], "obj": {"x": 1, "y": 2}}}
    out = patch.strategic_merge(live, {"spec": {
        "strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None},
        "$deleteFromPrimitiveList/list": ["b"], "obj": {"$patch": "replace", "z": 3}}})
    assert out["spec"] == {"strategy": {"type": "Recreate"}, "list": ["a", "c"], "obj": {"z": 3}}
    replaced = patch.strategic_merge(LIVE, {"spec": {"template": {"spec": {"containers": [
        {"$patch": "replace"}, {"name": "only", "image": "o:1"}]}}}})
    assert replaced["spec"]["template"]["spec"]["containers"] == [{"name": "only", "image": "o:1"}]


def test_merge_patch_and_json_patch() -> None:
    assert patch.json_merge({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": None}, "l": [2]}) == {"a": {"c": 2}, "l": [2]}
    assert patch.json_patch({"a": 1}, [{"op": "add", "path": "/b", "value": 2}]) == {"a": 1, "b": 2}
    with pytest.raises(ApiError) as failed:
        patch.json_patch({"a": 1}, [{"op": "remove", "path": "/zz"}])
    assert failed.value.code == 422
    with pytest.raises(ApiError) as bad:
        patch.parse_body(patch.STRATEGIC, b"{")
    assert bad.value.code == 400


def test_human_duration_matches_kubectl() -> None:
    cases = {5: "5s", 119: "119s", 125: "2m5s", 600: "10m", 3 * 3600 + 120: "3h2m", 30 * 3600: "30h",
             3 * 86400 + 3600: "3d1h", 40 * 86400: "40d", 3 * 365 * 86400: "3y"}
    assert {s: tables.human_duration(s) for s in cases} == cases


def test_deployment_table_row() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    created = (now - timedelta(seconds=42)).strftime("%Y-%m-%dT%H:%M:%SZ")
    dep = {"metadata": {"name": "web", "creationTimestamp": created},
           "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"spec": {"containers": [{"name": "web", "image": "a:1"}]}}},
           "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}
    table = tables.table("Deployment", [dep], "7", now=now)
    assert [c["name"] for c in table["columnDefinitions"]][:5] == ["Name", "Ready", "Up-to-date", "Available", "Age"]
    assert table["rows"][0]["cells"] == ["web", "2/3", 3, 2, "42s", "web", "a:1", "app=web"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


def test_discovery_documents() -> None:
    assert discovery.wants_aggregated("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                                      "application/json") == discovery.AGGREGATED_V2
    assert discovery.wants_aggregated("application/json") is None
    apis = discovery.aggregated(R.ALL, core=False, media_type=discovery.AGGREGATED_V2)
    apps = next(i for i in apis["items"] if i["metadata"]["name"] == "apps")
    deploy = next(r for r in apps["versions"][0]["resources"] if r["resource"] == "deployments")
    scale = next(s for s in deploy["subresources"] if s["subresource"] == "scale")
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    legacy = discovery.resource_list("apps", "v1", [R.DEPLOYMENTS])
    assert [r["name"] for r in legacy["resources"]] == ["deployments", "deployments/status", "deployments/scale"]
