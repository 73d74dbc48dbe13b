"""Which pod template a release ran: the ``pod-template-hash`` a record keeps.

Pure over API JSON, plus one thin reader. The hash names a ReplicaSet's template as the
Deployment controller computed it, so "verified" and "rejected" mean templates, not only
images: a config-only change is a different release with the same image.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from pipeline.kube.history import HASH_LABEL, controlled_by, image_of, revision_of, selector_string
from pipeline.verify.pods import new_replicaset

Obj = Mapping[str, Any]


def hash_of(replica_set: Obj | None) -> str | None:
    if replica_set is None:
        return None
    return ((replica_set.get("metadata") or {}).get("labels") or {}).get(HASH_LABEL)


def release_template_hash(live: Obj | None, replica_sets: Sequence[Obj], container: str, image: str,
                          rolled_back: bool) -> str | None:
    """The hash of the release's ReplicaSet: the current one, or after a rollback (the
    Deployment is back on an older template) the newest other ReplicaSet running ``image``."""
    if live is None:
        return None
    current = new_replicaset(live, replica_sets)
    if not rolled_back:
        return hash_of(current)
    current_name = ((current or {}).get("metadata") or {}).get("name")
    others = [rs for rs in controlled_by(live, replica_sets)
              if rs["metadata"].get("name") != current_name
              and image_of(rs["spec"]["template"], container) == image]
    newest = max(others, key=lambda rs: revision_of(rs) or 0, default=None)
    return hash_of(newest)


def read_workload(api_client: Any, namespace: str, name: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The Deployment (None if missing) and the ReplicaSets its selector selects."""
    from kubernetes.client.exceptions import ApiException

    from pipeline.kube.api import KubeApi
    from pipeline.kube.client import read_json

    apps = KubeApi(api_client)
    try:
        live = read_json(apps.read_namespaced_deployment, name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None, []
        raise
    selector = selector_string(live["spec"]["selector"])
    return live, read_json(apps.list_namespaced_replica_set, namespace, label_selector=selector)["items"]
