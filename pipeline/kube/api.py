"""The few Kubernetes API calls the pipeline makes, as JSON, without the generated models.

``kubernetes.client.AppsV1Api`` and ``CoreV1Api`` build about 160 and 250 pydantic models
when first loaded: about a second of every command that touched the cluster (docs/benchmarks.md),
for replies the pipeline reads raw anyway (it compares and re-sends objects exactly). ``KubeApi``
offers the same method names and keyword arguments as the generated classes, for the calls
the pipeline makes, through the same door (``ApiClient.param_serialize`` and ``call_api``: the
configured host, credentials, TLS and the request counter). A reply is a dict as the server
sent it; ``_preload_content=False`` returns the urllib3 response (watch streams); a non-2xx
reply raises ``ApiException``, as the generated methods do.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

# kind -> (group/version prefix, plural)
KINDS: dict[str, tuple[str, str]] = {
    "deployment": ("/apis/apps/v1", "deployments"),
    "replica_set": ("/apis/apps/v1", "replicasets"),
    "pod": ("/api/v1", "pods"),
    "service": ("/api/v1", "services"),
    "config_map": ("/api/v1", "configmaps"),
    "secret": ("/api/v1", "secrets"),
    "lease": ("/apis/coordination.k8s.io/v1", "leases"),
}
# the generated methods' keyword arguments -> the API's query parameters
QUERY = {"label_selector": "labelSelector", "field_selector": "fieldSelector", "resource_version": "resourceVersion",
         "watch": "watch", "timeout_seconds": "timeoutSeconds", "allow_watch_bookmarks": "allowWatchBookmarks",
         "limit": "limit", "field_manager": "fieldManager", "force": "force", "dry_run": "dryRun",
         "grace_period_seconds": "gracePeriodSeconds", "propagation_policy": "propagationPolicy"}
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"


# an object's kind as manifests spell it -> the key above
KIND_KEYS = {"Deployment": "deployment", "ReplicaSet": "replica_set", "Pod": "pod", "Service": "service",
             "ConfigMap": "config_map", "Secret": "secret", "Lease": "lease"}


def path_of(kind: str, namespace: str, name: str = "") -> str:
    prefix, plural = KINDS[kind]
    return f"{prefix}/namespaces/{namespace}/{plural}" + (f"/{name}" if name else "")


def patch_content_type(body: Any, given: str | None) -> str:
    """The generated client's rule: a list is a JSON Patch, an object a strategic merge patch."""
    return given or (JSON_PATCH if isinstance(body, list) else STRATEGIC_MERGE_PATCH)


class KubeApi:
    """``KubeApi(api_client).read_namespaced_deployment(name, namespace)`` -> the Deployment as a dict."""

    def __init__(self, api_client: ApiClient) -> None:
        self.api_client = api_client

    def request(self, method: str, path: str, body: Any = None, content_type: str | None = None,
                _preload_content: bool = True, _request_timeout: Any = None, **query: Any) -> Any:
        unknown = set(query) - set(QUERY)
        if unknown:
            raise TypeError(f"unsupported arguments: {', '.join(sorted(unknown))}")
        params = [(QUERY[key], value) for key, value in query.items() if value is not None]
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        serialized = self.api_client.param_serialize(method=method, resource_path=path, query_params=params,
                                                     header_params=headers, body=body, auth_settings=["BearerToken"])
        response = self.api_client.call_api(*serialized, _request_timeout=_request_timeout)
        if not 200 <= response.status <= 299:
            response.read()
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        if not _preload_content:
            return response.response
        response.read()
        return json.loads(response.data) if response.data else {}

    # -- the calls the pipeline makes, named as the generated classes name them

    def read_namespaced_deployment(self, name: str, namespace: str, **kw: Any) -> Any:
        return self.request("GET", path_of("deployment", namespace, name), **kw)

    def list_namespaced_deployment(self, namespace: str, **kw: Any) -> Any:
        return self.request("GET", path_of("deployment", namespace), **kw)

    def patch_namespaced_deployment(self, name: str, namespace: str, body: Any, _content_type: str | None = None,
                                    **kw: Any) -> Any:
        return self.request("PATCH", path_of("deployment", namespace, name), body,
                            patch_content_type(body, _content_type), **kw)

    def list_namespaced_replica_set(self, namespace: str, **kw: Any) -> Any:
        return self.request("GET", path_of("replica_set", namespace), **kw)

    def list_namespaced_pod(self, namespace: str, **kw: Any) -> Any:
        return self.request("GET", path_of("pod", namespace), **kw)

    def read_namespaced_secret(self, name: str, namespace: str, **kw: Any) -> Any:
        return self.request("GET", path_of("secret", namespace, name), **kw)

    def list_namespaced_lease(self, namespace: str, **kw: Any) -> Any:
        return self.request("GET", path_of("lease", namespace), **kw)

    def create_namespaced_config_map(self, namespace: str, body: Mapping[str, Any], **kw: Any) -> Any:
        return self.request("POST", path_of("config_map", namespace), dict(body), **kw)

    def read_namespaced_config_map(self, name: str, namespace: str, **kw: Any) -> Any:
        return self.request("GET", path_of("config_map", namespace, name), **kw)

    def list_namespaced_config_map(self, namespace: str, **kw: Any) -> Any:
        return self.request("GET", path_of("config_map", namespace), **kw)

    def replace_namespaced_config_map(self, name: str, namespace: str, body: Mapping[str, Any], **kw: Any) -> Any:
        return self.request("PUT", path_of("config_map", namespace, name), dict(body), **kw)

    def delete_namespaced_config_map(self, name: str, namespace: str, **kw: Any) -> Any:
        return self.request("DELETE", path_of("config_map", namespace, name), **kw)
