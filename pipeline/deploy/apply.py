"""Write the rendered manifests to the cluster: server-side apply, dry-run first.

``plan`` asks the API server for a server-side dry run of every object and compares the
answer with the live object, so what is shown is what the server would really store
(defaults and admission included). ``apply`` does the same for real. The Secret the pod
spec refers to is synced from the configured secret source (unless the source *is* the
cluster's Secret); its values never leave this module except inside the API request.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Iterable

from kubernetes import client, dynamic
from kubernetes.client.exceptions import ApiException

from pipeline.secrets import SecretSource

FIELD_MANAGER = "klaviyo-pipeline"
IGNORED = {"metadata": {"resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"}}


@dataclass(frozen=True)
class Change:
    kind: str
    name: str
    action: str                 # created | configured | unchanged
    paths: tuple[str, ...]      # what differs, e.g. spec.template.spec.containers[0].image

    def describe(self) -> str:
        what = f": {', '.join(self.paths[:6])}{' …' if len(self.paths) > 6 else ''}" if self.paths else ""
        return f"{self.kind}/{self.name} {self.action}{what}"


def changed_paths(live: Any, proposed: Any, prefix: str = "") -> list[str]:
    """Paths whose values differ between two API objects (status and server bookkeeping ignored). Pure."""
    if isinstance(live, dict) and isinstance(proposed, dict):
        paths: list[str] = []
        for key in sorted(set(live) | set(proposed)):
            if (not prefix and key == "status") or key in IGNORED.get(prefix, ()):
                continue
            paths += changed_paths(live.get(key), proposed.get(key), f"{prefix}.{key}" if prefix else key)
        return paths
    if isinstance(live, list) and isinstance(proposed, list) and len(live) == len(proposed):
        return [p for i, (a, b) in enumerate(zip(live, proposed)) for p in changed_paths(a, b, f"{prefix}[{i}]")]
    return [] if live == proposed else [prefix]


class Applier:
    def __init__(self, api_client: client.ApiClient) -> None:
        self.dynamic = dynamic.DynamicClient(api_client)

    def plan(self, objects: Iterable[dict[str, Any]]) -> list[Change]:
        return [self._one(obj, dry_run=True) for obj in objects]

    def apply(self, objects: Iterable[dict[str, Any]]) -> list[Change]:
        return [self._one(obj, dry_run=False) for obj in objects]

    def _one(self, obj: dict[str, Any], dry_run: bool) -> Change:
        resource = self.dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        meta = obj["metadata"]
        live = self._live(resource, meta)
        answer = resource.server_side_apply(body=obj, name=meta["name"], namespace=meta.get("namespace"),
                                            field_manager=FIELD_MANAGER, force_conflicts=True,
                                            dry_run="All" if dry_run else None)
        proposed = answer.to_dict()
        if live is None:
            return Change(obj["kind"], meta["name"], "created", ())
        paths = tuple(changed_paths(live, proposed))
        return Change(obj["kind"], meta["name"], "configured" if paths else "unchanged", paths)

    def _live(self, resource: Any, meta: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return resource.get(name=meta["name"], namespace=meta.get("namespace")).to_dict()
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def sync_secrets(self, deployment: dict[str, Any], source: SecretSource, namespace: str,
                     dry_run: bool = False) -> list[str]:
        """Create/update each Secret the pod spec refers to, with the keys it refers to. Returns
        ``"<secret>/<key>"`` names (never values); raises KeyError naming a key the source lacks."""
        wanted = referenced_secret_keys(deployment)
        written = []
        for secret_name, keys in sorted(wanted.items()):
            data = {}
            for key in sorted(keys):
                secret = source.get(key)
                if secret is None:
                    raise KeyError(f"secret {key} (needed by Secret {secret_name}) is not in {source.describe()}")
                data[key] = base64.b64encode(secret.reveal().encode()).decode()
            body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": secret_name, "namespace": namespace,
                                 "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER}},
                    "data": data}
            resource = self.dynamic.resources.get(api_version="v1", kind="Secret")
            resource.server_side_apply(body=body, name=secret_name, namespace=namespace, field_manager=FIELD_MANAGER,
                                       force_conflicts=True, dry_run="All" if dry_run else None)
            written += [f"{secret_name}/{key}" for key in sorted(keys)]
        return written


def referenced_secret_keys(deployment: dict[str, Any]) -> dict[str, set[str]]:
    """``{secret name: {keys}}`` from the pod template's ``env[].valueFrom.secretKeyRef``. Pure."""
    refs: dict[str, set[str]] = {}
    spec = deployment["spec"]["template"]["spec"]
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        for env in container.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                refs.setdefault(ref["name"], set()).add(ref["key"])
    return refs
