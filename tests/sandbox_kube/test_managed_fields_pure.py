"""managed.py as pure functions: field sets, FieldsV1, conflicts, removal."""
from __future__ import annotations

import pytest

from pipeline.sandbox.kube import managed

POD_SPEC = {"containers": [{"name": "web", "image": "a:1", "ports": [{"containerPort": 80}],
                            "args": ["x", "y"], "env": [{"name": "A", "value": "1"}]}]}


def test_applied_set_has_leaves_items_and_atomic_fields() -> None:
    found = managed.applied_set({"metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["f"]},
                                 "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"spec": POD_SPEC}}})
    web = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"web"}')
    assert ("f:metadata", "f:labels", "f:app") in found
    assert ("f:metadata", "f:name") not in found                      # not tracked
    assert ("f:metadata", "f:finalizers", 'v:"f"') in found              # set list
    assert ("f:spec", "f:selector") in found                           # atomic map
    assert web in found and web + ("f:args",) in found                 # list item, atomic list
    assert web + ("f:ports", 'k:{"containerPort":80,"protocol":"TCP"}', "f:containerPort") in found
    assert ("f:spec",) not in found and ("f:metadata", "f:labels") not in found


def test_fields_v1_round_trip_and_dot_for_members_with_children() -> None:
    paths = {("f:spec", "f:replicas"), ("f:spec", "f:c", 'k:{"name":"a"}'), ("f:spec", "f:c", 'k:{"name":"a"}', "f:x")}
    encoded = managed.encode(paths)
    assert encoded == {"f:spec": {"f:c": {'k:{"name":"a"}': {".": {}, "f:x": {}}}, "f:replicas": {}}}
    assert managed.decode(encoded) == paths


def test_path_text_as_structured_merge_diff_prints_it() -> None:
    path = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"web"}', "f:ports",
            'k:{"containerPort":80,"protocol":"TCP"}', "f:name")
    assert managed.path_text(path) == \
        '.spec.template.spec.containers[name="web"].ports[containerPort=80,protocol="TCP"].name'
    assert managed.path_text(("f:metadata", "f:finalizers", 'v:"x"')) == '.metadata.finalizers[="x"]'


def test_update_moves_changed_fields_to_the_writer_and_drops_removed_ones() -> None:
    old = {"spec": {"replicas": 1, "paused": False, "x": 1}}
    new = {"spec": {"replicas": 2, "paused": False}}
    owner = managed.Entry("pipeline", "Apply", "apps/v1", "t0", {("f:spec", "f:replicas"), ("f:spec", "f:x"),
                                                                 ("f:spec", "f:paused")})
    result = managed.record_update([owner], old, new, "kubectl", "apps/v1", None, "t1")
    assert {e.identity: e.fields for e in result} == {
        ("pipeline", "Apply", None): {("f:spec", "f:paused")},
        ("kubectl", "Update", None): {("f:spec", "f:replicas")}}
    assert managed.record_update([owner], old, old, "kubectl", "apps/v1", None, "t1") == [owner]


def test_conflict_messages_for_one_and_many() -> None:
    assert managed.conflict_message([('"kubectl" using apps/v1', ".spec.replicas")]) == \
        'Apply failed with 1 conflict: conflict with "kubectl" using apps/v1: .spec.replicas'
    assert managed.conflict_message([('"b"', ".x"), ('"a"', ".y"), ('"b"', ".z")]) == \
        'Apply failed with 3 conflicts: conflicts with "a":\n- .y\nconflicts with "b":\n- .x\n- .z'


def test_apply_conflicts_unless_forced_and_prunes_what_it_no_longer_applies() -> None:
    live = {"spec": {"replicas": 5, "paused": True}, "metadata": {"annotations": {"a": "1", "b": "2"}}}
    found = [managed.Entry("me", "Apply", "v1", "t0", {("f:spec", "f:replicas"), ("f:metadata", "f:annotations", "f:a"),
                                                       ("f:metadata", "f:annotations", "f:b")}),
             managed.Entry("hpa", "Update", "v1", "t0", {("f:spec", "f:replicas")})]
    config = {"spec": {"replicas": 2}, "metadata": {"annotations": {"a": "1"}}}
    merged = {"spec": {"replicas": 2, "paused": True}, "metadata": {"annotations": {"a": "1", "b": "2"}}}
    with pytest.raises(managed.ApplyConflict) as refused:
        managed.apply(found, live, merged, config, "me", "v1", None, False, "t1")
    assert refused.value.conflicts == [('"hpa" using v1', ".spec.replicas")]
    result, entries = managed.apply(found, live, merged, config, "me", "v1", None, True, "t1")
    assert result == {"spec": {"replicas": 2, "paused": True}, "metadata": {"annotations": {"a": "1"}}}
    assert [e.identity for e in entries] == [("me", "Apply", None)]


def test_remove_drops_emptied_maps_and_list_items() -> None:
    obj = {"spec": {"template": {"metadata": {"annotations": {"x": "1"}, "labels": {"a": "b"}}},
                    "containers": [{"name": "a"}, {"name": "b"}]}}
    managed.remove(obj, ("f:spec", "f:template", "f:metadata", "f:annotations", "f:x"))
    managed.remove(obj, ("f:spec", "f:containers", 'k:{"name":"a"}'))
    assert obj == {"spec": {"template": {"metadata": {"labels": {"a": "b"}}}, "containers": [{"name": "b"}]}}
