"""The record-store driver for a Kubernetes cluster: one ConfigMap per record, in the app's namespace.

Like Helm's storage drivers: the payload is one data key (``record`` or ``head``) holding the
document as base64(gzip(JSON)) (``codec``); labels (``layout``) make every query a label
selector and say which objects are records and which is the head. Records are created
``immutable: true``: the pipeline never updates them (only the head is updated, with its
resourceVersion, so a concurrent writer's update fails with 409 Conflict). No ownerReferences:
deleting the Deployment or rolling it back does not garbage-collect them.

Why ConfigMaps rather than Secrets (Helm's default): a record never holds a secret (bodies are
redacted, and credential-named fields refused, before they are written), so the Secret kind
protects nothing in it; but RBAC cannot restrict ``list`` by name, so reading history through
Secrets would let every reader list the app's own Secrets (its Klaviyo key). Readers need only
``get``/``list`` on ConfigMaps (docs/audit.md, RBAC).
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from pipeline.kube.api import KubeApi
from pipeline.kube.client import read_json
from pipeline.records import codec
from pipeline.records.driver import RecordExists, RecordNotFound, RecordsError, Stored, VersionConflict
from pipeline.records.layout import ROLE


class ConfigMapDriver:
    """Records as ConfigMaps in ``namespace``, through a ``kubernetes`` ApiClient."""

    def __init__(self, api_client: Any, namespace: str, timeout: float = 10.0) -> None:
        self._api_client: Any = api_client
        self.core = KubeApi(api_client)
        self.namespace, self.timeout = namespace, timeout
        self.name = f"configmaps in namespace {namespace}"

    def create(self, obj: Stored) -> Stored:
        return _stored(self._call("create", obj.name, self.core.create_namespaced_config_map, self.namespace,
                                  _config_map(obj, self.namespace)))

    def get(self, name: str) -> Stored:
        return _stored(self._call("read", name, self.core.read_namespaced_config_map, name, self.namespace))

    def list(self, labels: Mapping[str, str]) -> list[Stored]:
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        found = self._call("list", selector, self.core.list_namespaced_config_map, self.namespace,
                           label_selector=selector)
        return [_stored(item) for item in found.get("items") or []]

    def update(self, obj: Stored) -> Stored:
        return _stored(self._call("update", obj.name, self.core.replace_namespaced_config_map, obj.name,
                                  self.namespace, _config_map(obj, self.namespace)))

    def delete(self, name: str) -> None:
        self._call("delete", name, self.core.delete_namespaced_config_map, name, self.namespace)

    def _call(self, verb: str, what: str, method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """One API call, its errors typed: 409 on create = exists, on update = conflict; 404 = not found."""
        try:
            return read_json(method, *args, _request_timeout=self.timeout, **kwargs)
        except ApiException as exc:
            if exc.status == 409 and verb == "create":
                raise RecordExists(f"configmap {what} already exists") from None
            if exc.status == 409 and verb == "update":
                raise VersionConflict(f"configmap {what} was modified since it was read") from None
            if exc.status == 404 and verb != "list":
                raise RecordNotFound(f"configmap {what} not found in namespace {self.namespace}") from None
            raise _error(verb, what, exc) from None
        except (HTTPError, OSError) as exc:
            raise RecordsError(f"cannot {verb} release records ({what}): the cluster did not answer: "
                               f"{type(exc).__name__}") from None


def _config_map(obj: Stored, namespace: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": obj.name, "namespace": namespace,
                                "labels": {**obj.labels, ROLE: obj.role}}
    if obj.version:
        metadata["resourceVersion"] = obj.version
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata,
                            "data": {obj.role: codec.encode(obj.document or {})}}
    if obj.role == "record":
        body["immutable"] = True
    return body


def _stored(config_map: Mapping[str, Any]) -> Stored:
    metadata = config_map.get("metadata") or {}
    labels = dict(metadata.get("labels") or {})
    role = "head" if labels.get(ROLE) == "head" else "record"
    raw = (config_map.get("data") or {}).get(role)
    document, error = None, ""
    try:
        if raw is None:
            raise codec.CodecError(f"no data key {role!r}")
        document = codec.decode(raw)
    except codec.CodecError as exc:
        error = str(exc)
    return Stored(str(metadata.get("name", "")), role, labels, document, str(metadata.get("resourceVersion", "")),
                  error)


def _error(verb: str, what: str, exc: ApiException) -> RecordsError:
    try:
        message = json.loads(exc.body or "{}").get("message", "")
    except (ValueError, AttributeError):
        message = ""
    return RecordsError(f"cannot {verb} release records ({what}): HTTP {exc.status} {exc.reason}"
                        f"{': ' + message if message else ''}")
