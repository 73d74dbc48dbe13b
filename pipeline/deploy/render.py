"""Render ``k8s/`` for an environment and image: pure, from manifest text to API objects.

Rendering sets each namespaced object's namespace, the app container's image, the
Deployment's progress deadline, and the change-cause annotation that ``kubectl rollout
history`` shows. Nothing else in the manifests is touched.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.config import EnvConfig

CHANGE_CAUSE = "kubernetes.io/change-cause"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume"}


class ManifestError(ValueError):
    pass


@dataclass(frozen=True)
class Rendered:
    objects: list[dict[str, Any]]
    deployment: dict[str, Any]


def load_manifests(directory: str | Path) -> list[dict[str, Any]]:
    path = Path(directory)
    if not path.is_dir():
        raise ManifestError(f"manifest directory {str(directory)!r} (kube.manifests) not found")
    files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
    if not files:
        raise ManifestError(f"manifest directory {str(directory)!r} holds no .yaml/.yml/.json files")
    objects = []
    for file in files:
        try:
            docs = list(yaml.safe_load_all(file.read_text()))
        except yaml.YAMLError as exc:
            raise ManifestError(f"{file}: not valid YAML: {exc}") from None
        for doc in docs:
            if doc is None:
                continue
            if not isinstance(doc, dict) or not doc.get("kind") or not doc.get("metadata", {}).get("name"):
                raise ManifestError(f"{file}: every document needs kind and metadata.name")
            objects.append(doc)
    return objects


def render(objects: list[dict[str, Any]], config: EnvConfig, image: str, change_cause: str) -> Rendered:
    rendered = [copy.deepcopy(o) for o in objects]
    for obj in rendered:
        if obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"]["namespace"] = config.kube.namespace
    deployment = find_deployment(rendered, config.kube.deployment)
    if deployment is None:
        raise ManifestError(f"no Deployment named {config.kube.deployment!r} (kube.deployment) in "
                            f"{config.kube.manifests}/")
    containers = deployment["spec"]["template"]["spec"].get("containers", [])
    container = next((c for c in containers if c.get("name") == config.kube.container), None)
    if container is None:
        names = ", ".join(c.get("name", "?") for c in containers)
        raise ManifestError(f"Deployment {config.kube.deployment!r} has no container named "
                            f"{config.kube.container!r} (kube.container); it has: {names}")
    container["image"] = image
    deployment["spec"]["progressDeadlineSeconds"] = config.rollout.progress_deadline_seconds
    deployment["metadata"].setdefault("annotations", {})[CHANGE_CAUSE] = change_cause
    return Rendered(rendered, deployment)


def find_deployment(objects: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == name), None)


def current_image(deployment: dict[str, Any] | None, container: str) -> str | None:
    if not deployment:
        return None
    for c in deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
        if c.get("name") == container:
            return c.get("image")
    return None
