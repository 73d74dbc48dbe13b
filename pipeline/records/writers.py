"""The one record each command writes: what ``invoke deploy`` and ``invoke rollback`` call at their end."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from pipeline.records.facts import BAD, REACHED_CLUSTER, Release, deploy_record, rollback_record
from pipeline.records.templates import read_workload, release_template_hash

if TYPE_CHECKING:
    from pipeline.config import KubeSettings
    from pipeline.records.store import Records


def record_deploy(records: "Records", result_json: Mapping[str, Any], api_client: Any, kube: "KubeSettings",
                  **facts: Any) -> dict[str, Any]:
    """Append the ``deploy`` record of a finished deploy (``DeployResult.to_json()``); returns it.

    The release's pod-template-hash is read from the cluster unless given in ``facts``: the
    Deployment's current ReplicaSet, or after a rollback the newest other one running the image."""
    if "pod_template_hash" not in facts:
        facts["pod_template_hash"] = template_hash(result_json, api_client, kube)
    return records.append("deploy", deploy_record(result_json, **facts))


def record_rollback(records: "Records", document: Mapping[str, Any], rejects: Release | None,
                    **facts: Any) -> dict[str, Any]:
    """Append the ``rollback`` record of ``invoke rollback`` (its JSON result); returns it."""
    return records.append("rollback", rollback_record(document, rejects, **facts))


def template_hash(result_json: Mapping[str, Any], api_client: Any, kube: "KubeSettings") -> str | None:
    outcome = str(result_json.get("outcome") or "")
    if outcome not in REACHED_CLUSTER:
        return None
    try:
        live, replica_sets = read_workload(api_client, kube.namespace, kube.deployment)
    except Exception:  # noqa: BLE001 - the record is still written, without the hash
        return None
    return release_template_hash(live, replica_sets, kube.container, str(result_json.get("image") or ""),
                                 rolled_back=outcome in BAD)
