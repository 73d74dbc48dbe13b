"""Reading the sandbox cluster's state the way an operator would (kubernetes client)."""
from __future__ import annotations

from typing import Any

from kubernetes import client

from pipeline.deploy.engine import Deploy, DeployRequest
from pipeline.deploy.result import DeployResult
from pipeline.kube.client import api_client


def deploy(world, image: str, **request: Any) -> DeployResult:
    world.release_commit(image)
    return Deploy(world.config(), DeployRequest(image, **request), environ=world.environ).run()


def deployment(world) -> dict[str, Any]:
    config = world.config()
    api = api_client(config.kube)
    obj = client.AppsV1Api(api).read_namespaced_deployment(config.kube.deployment, config.kube.namespace)
    return api.sanitize_for_serialization(obj)


def image_of(obj: dict[str, Any]) -> str:
    return obj["spec"]["template"]["spec"]["containers"][0]["image"]


def complete(obj: dict[str, Any]) -> bool:
    spec, status = obj["spec"], obj.get("status") or {}
    return (status.get("updatedReplicas") == spec["replicas"] == status.get("replicas")
            == status.get("availableReplicas") and status.get("observedGeneration") == obj["metadata"]["generation"])


def records(world):
    """The environment's release records, in the sandbox cluster."""
    from pipeline.records import Records

    config = world.config()
    return Records.for_environment(config, api_client(config.kube))


def last_record(world) -> dict | None:
    """The newest release record (one per deploy or rollback)."""
    documents = records(world).view().documents
    return documents[-1] if documents else None
