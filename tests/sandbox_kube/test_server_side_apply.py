"""Server-side apply with field ownership (issue 14 item 1), through kubectl and the python client.

Before managedFields existed the stand-in merged an applied configuration onto the live
object: a field removed from the manifest stayed, so the pipeline's plan said "unchanged"
and nothing rolled out. These tests fail on that behaviour.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from tests.sandbox_kube.conftest import Kube, deployment

APPLY = "application/apply-patch+yaml"


def manifest(annotations: dict[str, str] | None = None, env: list[dict[str, str]] | None = None) -> dict[str, Any]:
    body = deployment("web", replicas=2)
    body["metadata"]["namespace"] = "default"
    template = body["spec"]["template"]
    template["metadata"]["annotations"] = dict(annotations if annotations is not None else
                                               {"prometheus.io/scrape": "true", "prometheus.io/path": "/metrics"})
    template["spec"]["containers"][0]["env"] = env if env is not None else [{"name": "A", "value": "1"},
                                                                           {"name": "B", "value": "2"}]
    return body


def write(tmp_path: Path, body: dict[str, Any], name: str = "web.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(body))
    return str(path)


def live(kube: Kube) -> dict[str, Any]:
    return json.loads(kube.kubectl("get", "deploy/web", "-o", "json", "--show-managed-fields").stdout)


def test_removing_an_annotation_from_the_manifest_removes_it(kube: Kube, tmp_path: Path) -> None:
    kube.kubectl("apply", "--server-side", "-f", write(tmp_path, manifest()))
    first = live(kube)
    assert first["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    smaller = manifest(annotations={"prometheus.io/scrape": "true"}, env=[{"name": "A", "value": "1"}])
    kube.kubectl("apply", "--server-side", "-f", write(tmp_path, smaller))
    second = live(kube)
    assert second["spec"]["template"]["metadata"]["annotations"] == {"prometheus.io/scrape": "true"}
    assert second["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]
    assert second["metadata"]["generation"] == first["metadata"]["generation"] + 1   # the template changed
    [entry] = second["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["fieldsType"]) == ("kubectl", "Apply", "FieldsV1")
    annotations = entry["fieldsV1"]["f:spec"]["f:template"]["f:metadata"]["f:annotations"]
    assert annotations == {"f:prometheus.io/scrape": {}}
    container = entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert set(container["f:env"]) == {'k:{"name":"A"}'}
    assert container["f:ports"] == {'k:{"containerPort":8080,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}}


def test_kubectl_get_hides_managed_fields_unless_asked(kube: Kube, tmp_path: Path) -> None:
    kube.kubectl("apply", "--server-side", "-f", write(tmp_path, manifest()))
    plain = json.loads(kube.kubectl("get", "deploy/web", "-o", "json").stdout)
    assert "managedFields" not in plain["metadata"]
    assert live(kube)["metadata"]["managedFields"][0]["manager"] == "kubectl"


def test_a_field_another_manager_changed_is_a_conflict_until_forced(kube: Kube, tmp_path: Path) -> None:
    path = write(tmp_path, manifest())
    kube.kubectl("apply", "--server-side", "-f", path)
    kube.kubectl("scale", "deploy/web", "--replicas=5")
    refused = kube.kubectl("apply", "--server-side", "-f", path, check=False)
    assert refused.returncode == 1
    assert ('error: Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" using apps/v1: '
            '.spec.replicas') in refused.stderr
    assert live(kube)["spec"]["replicas"] == 5
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", path)
    forced = live(kube)
    assert forced["spec"]["replicas"] == 2
    assert [(e["manager"], e["operation"]) for e in forced["metadata"]["managedFields"]] == [("kubectl", "Apply")]


def test_a_field_another_manager_also_owns_is_kept(kube: Kube) -> None:
    apps = k8s.AppsV1Api(kube.api_client())
    body = manifest()
    apps.patch_namespaced_deployment("web", "default", body, field_manager="pipeline", _content_type=APPLY)
    other = copy.deepcopy(body)
    other["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "B", "value": "2"}]
    del other["spec"]["template"]["metadata"]["annotations"]
    apps.patch_namespaced_deployment("web", "default", other, field_manager="sidecar-injector", _content_type=APPLY)
    body["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    result = apps.patch_namespaced_deployment("web", "default", body, field_manager="pipeline", _content_type=APPLY)
    assert [(e.name, e.value) for e in result.spec.template.spec.containers[0].env] == [("A", "1"), ("B", "2")]
    managers = {e.manager for e in result.metadata.managed_fields}
    assert managers == {"pipeline", "sidecar-injector"}


def test_python_client_apply_removes_a_label_and_dry_run_shows_it_first(kube: Kube) -> None:
    apps = k8s.AppsV1Api(kube.api_client())
    body = manifest()
    body["metadata"]["labels"]["team"] = "sync"
    apps.patch_namespaced_deployment("web", "default", body, field_manager="pipeline", _content_type=APPLY)
    del body["metadata"]["labels"]["team"]
    planned = apps.patch_namespaced_deployment("web", "default", body, field_manager="pipeline", dry_run="All",
                                               _content_type=APPLY)
    assert planned.metadata.labels == {"app": "web"}
    assert apps.read_namespaced_deployment("web", "default").metadata.labels == {"app": "web", "team": "sync"}
    applied = apps.patch_namespaced_deployment("web", "default", body, field_manager="pipeline", _content_type=APPLY)
    assert applied.metadata.labels == {"app": "web"}


def test_fields_set_by_an_update_are_not_removed_by_apply(kube: Kube) -> None:
    """kubectl edit/patch/scale own what they set: the applier cannot remove it by omission."""
    apps = k8s.AppsV1Api(kube.api_client())
    body = manifest()
    apps.patch_namespaced_deployment("web", "default", body, field_manager="pipeline", _content_type=APPLY)
    kube.kubectl("annotate", "deploy/web", "owner=ops")
    again = apps.patch_namespaced_deployment("web", "default", body, field_manager="pipeline", _content_type=APPLY)
    assert again.metadata.annotations == {"owner": "ops"}
    entries = {(e.manager, e.operation) for e in again.metadata.managed_fields}
    assert entries == {("pipeline", "Apply"), ("kubectl-annotate", "Update")}


def test_apply_needs_a_field_manager(kube: Kube) -> None:
    apps = k8s.AppsV1Api(kube.api_client())
    with pytest.raises(ApiException) as refused:
        apps.patch_namespaced_deployment("web", "default", manifest(), _content_type=APPLY)
    assert refused.value.status == 422
    assert json.loads(refused.value.body)["message"] == ('PatchOptions.meta.k8s.io "" is invalid: fieldManager: '
                                                         'Required value: is required for apply patch')


def test_an_unchanged_apply_is_a_no_op(kube: Kube) -> None:
    apps = k8s.AppsV1Api(kube.api_client())
    first = apps.patch_namespaced_deployment("web", "default", manifest(), field_manager="pipeline",
                                             _content_type=APPLY)
    again = apps.patch_namespaced_deployment("web", "default", manifest(), field_manager="pipeline",
                                             _content_type=APPLY)
    assert again.metadata.resource_version == first.metadata.resource_version
    assert again.metadata.managed_fields[0].time == first.metadata.managed_fields[0].time


def test_objects_without_managed_fields_belong_to_before_first_apply(kube: Kube) -> None:
    """An object stored before managedFields existed (a sandbox state file): nothing is removed."""
    apps = k8s.AppsV1Api(kube.api_client())
    apps.create_namespaced_deployment("default", manifest())

    def strip() -> None:
        stored = kube.cluster.store.get(*_key())
        del stored["metadata"]["managedFields"]
        kube.cluster.store.replace(_resource(), stored)
    kube.sandbox.call(strip)
    body = manifest(annotations={})
    result = apps.patch_namespaced_deployment("web", "default", body, field_manager="pipeline", force=True,
                                              _content_type=APPLY)
    assert result.spec.template.metadata.annotations["prometheus.io/path"] == "/metrics"
    assert {e.manager for e in result.metadata.managed_fields} == {"before-first-apply", "pipeline"}


def _resource() -> Any:
    from pipeline.sandbox.kube.resources import DEPLOYMENTS
    return DEPLOYMENTS


def _key() -> tuple[Any, str, str]:
    return (_resource(), "default", "web")
