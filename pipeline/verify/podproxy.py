"""Reach a pod's HTTP port through the API server's pod proxy (thin adapter).

``GET /api/v1/namespaces/{ns}/pods/{pod}:{port}/proxy/{path}`` via the kubernetes client's
``CoreV1Api.connect_get_namespaced_pod_proxy_with_path(name, namespace, path)`` (37.x
signature: ``name`` is ``"<pod>:<port>"``, ``path`` is the path inside the pod WITHOUT the
leading slash; the client percent-encodes it, so ``/`` inside ``path`` travels as ``%2F``,
which the API server decodes). ``_preload_content=False`` returns the raw response, so the
body is read as bytes whatever its content type, and non-2xx answers (a 503 from an
unhealthy /health) still give their body through ``ApiException.body``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ProxyResponse:
    status: int                    # HTTP status from the pod (or the API server); 0: no answer
    body: str
    error: str = ""                # transport error, when status is 0


class PodProxy:
    def __init__(self, api_client: Any, namespace: str, timeout: float = 10.0):
        self.api_client, self.namespace, self.timeout = api_client, namespace, timeout

    def get(self, pod: str, port: int, path: str) -> ProxyResponse:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        api = client.CoreV1Api(self.api_client)
        try:
            response = api.connect_get_namespaced_pod_proxy_with_path(
                name=f"{pod}:{port}", namespace=self.namespace, path=path.lstrip("/"),
                _preload_content=False, _request_timeout=self.timeout)
            return ProxyResponse(response.status, response.data.decode("utf-8", errors="replace"))
        except ApiException as exc:
            body = exc.body.decode("utf-8", errors="replace") if isinstance(exc.body, bytes) else (exc.body or "")
            if exc.status:
                return ProxyResponse(int(exc.status), body)
            return ProxyResponse(0, body, str(exc.reason))
        except Exception as exc:  # noqa: BLE001 - urllib3 connection errors and timeouts
            return ProxyResponse(0, "", f"{type(exc).__name__}: {exc}")
