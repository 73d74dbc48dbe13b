"""The record-store driver for a Kubernetes cluster: one Secret per record, in the app's namespace.

Like Helm's Secrets driver: the payload is one data key (``record`` or ``head``) holding the
document as base64(gzip(JSON)) (``codec``), which the API server base64-encodes once more;
labels (``layout``) make every query a label selector. Typed Secrets
(``pipeline.deploy/record.v1``, ``pipeline.deploy/records-head.v1``) so ``kubectl get secrets``
and admission policies can tell them apart. Records are ``immutable: true``: the pipeline
creates them and never updates them (only the head is updated, with its resourceVersion, so
a concurrent writer's update fails with 409 Conflict). No ownerReferences: deleting the
Deployment or rolling it back does not garbage-collect them.

Why Secrets rather than ConfigMaps: records hold who deployed from where (names, e-mails, CI
URLs) and error texts; Secrets are encrypted at rest where the cluster enables it, and the
built-in ``view`` role (which many on-call and CI identities hold) can read ConfigMaps but not
Secrets, so reading or listing the release history takes an explicit grant (docs/audit.md, RBAC).
"""
from __future__ import annotations

import base64
import json
from typing import Any, Mapping

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from pipeline.kube.client import read_json
from pipeline.records import codec
from pipeline.records.driver import RecordExists, RecordNotFound, RecordsError, Stored, VersionConflict
from pipeline.records.layout import SECRET_TYPES


class SecretDriver:
    """Records as Secrets in ``namespace``, through a ``kubernetes`` ApiClient."""

    def __init__(self, api_client: Any, namespace: str, timeout: float = 10.0) -> None:
        self.core = client.CoreV1Api(api_client)
        self.namespace, self.timeout = namespace, timeout
        self.name = f"kubernetes secrets in namespace {namespace}"

    def create(self, obj: Stored) -> Stored:
        return _stored(self._call("create", obj.name, self.core.create_namespaced_secret, self.namespace,
                                  _secret(obj, self.namespace)))

    def get(self, name: str) -> Stored:
        return _stored(self._call("read", name, self.core.read_namespaced_secret, name, self.namespace))

    def list(self, labels: Mapping[str, str]) -> list[Stored]:
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        found = self._call("list", selector, self.core.list_namespaced_secret, self.namespace,
                           label_selector=selector)
        return [_stored(item) for item in found.get("items") or []]

    def update(self, obj: Stored) -> Stored:
        return _stored(self._call("update", obj.name, self.core.replace_namespaced_secret, obj.name,
                                  self.namespace, _secret(obj, self.namespace)))

    def delete(self, name: str) -> None:
        self._call("delete", name, self.core.delete_namespaced_secret, name, self.namespace)

    def _call(self, verb: str, what: str, method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """One API call, its errors typed: 409 on create = exists, on update = conflict; 404 = not found."""
        try:
            return read_json(method, *args, _request_timeout=self.timeout, **kwargs)
        except ApiException as exc:
            if exc.status == 409 and verb == "create":
                raise RecordExists(f"secret {what} already exists") from None
            if exc.status == 409 and verb == "update":
                raise VersionConflict(f"secret {what} was modified since it was read") from None
            if exc.status == 404 and verb != "list":
                raise RecordNotFound(f"secret {what} not found in namespace {self.namespace}") from None
            raise _error(verb, what, exc) from None
        except (HTTPError, OSError) as exc:
            raise RecordsError(f"cannot {verb} release records ({what}): the cluster did not answer: "
                               f"{type(exc).__name__}") from None


def _secret(obj: Stored, namespace: str) -> dict[str, Any]:
    payload = codec.encode(obj.document or {})
    metadata: dict[str, Any] = {"name": obj.name, "namespace": namespace, "labels": dict(obj.labels)}
    if obj.version:
        metadata["resourceVersion"] = obj.version
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": metadata,
                            "type": SECRET_TYPES[obj.role],
                            "data": {obj.role: base64.b64encode(payload.encode()).decode()}}
    if obj.role == "record":
        body["immutable"] = True
    return body


def _stored(secret: Mapping[str, Any]) -> Stored:
    metadata = secret.get("metadata") or {}
    role = "head" if secret.get("type") == SECRET_TYPES["head"] else "record"
    raw = (secret.get("data") or {}).get(role)
    document, error = None, ""
    try:
        if raw is None:
            raise codec.CodecError(f"no data key {role!r}")
        document = codec.decode(base64.b64decode(raw).decode("ascii"))
    except (codec.CodecError, ValueError) as exc:
        error = str(exc)
    return Stored(str(metadata.get("name", "")), role, dict(metadata.get("labels") or {}), document,
                  str(metadata.get("resourceVersion", "")), error)


def _error(verb: str, what: str, exc: ApiException) -> RecordsError:
    try:
        message = json.loads(exc.body or "{}").get("message", "")
    except (ValueError, AttributeError):
        message = ""
    return RecordsError(f"cannot {verb} release records ({what}): HTTP {exc.status} {exc.reason}"
                        f"{': ' + message if message else ''}")
