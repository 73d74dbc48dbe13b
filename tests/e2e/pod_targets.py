"""The targets Prometheus's ``kubernetes_sd_configs`` (role: pod) would discover, as a file.

Debian builds Prometheus without the Kubernetes service discovery, so a test that runs Debian's
``prometheus`` cannot point it at the API server. ``PodTargets`` does that discovery's job with
the kubernetes client (list, then watch the namespace's pods) and writes the result to a
``file_sd_configs`` file: one target per declared container port, ``__address__`` the pod IP and
port, with the ``__meta_kubernetes_*`` labels Kubernetes SD sets (a subset: the ones relabeling
uses). The Prometheus configuration's ``relabel_configs`` are then exactly those a server with
Kubernetes SD would use (``SCRAPE_THROUGH_API_SERVER``).
"""
from __future__ import annotations

import re
import threading
from typing import Any

from kubernetes import client, watch

from tests.prometheus_server import FileTargets


def sanitized(name: str) -> str:
    """A label or annotation name as Kubernetes SD puts it in a label name (strutil.SanitizeLabelName)."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def pod_targets(pod: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """Kubernetes SD's targets for one pod (pure): one per container port."""
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    ready = next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), "unknown")
    common = {"__meta_kubernetes_namespace": meta["namespace"], "__meta_kubernetes_pod_name": meta["name"],
              "__meta_kubernetes_pod_ip": status.get("podIP") or "", "__meta_kubernetes_pod_uid": meta.get("uid", ""),
              "__meta_kubernetes_pod_phase": status.get("phase") or "", "__meta_kubernetes_pod_ready": str(ready).lower(),
              "__meta_kubernetes_pod_node_name": spec.get("nodeName") or ""}
    for key, value in (meta.get("labels") or {}).items():
        common[f"__meta_kubernetes_pod_label_{sanitized(key)}"] = value
    for key, value in (meta.get("annotations") or {}).items():
        common[f"__meta_kubernetes_pod_annotation_{sanitized(key)}"] = value
    targets = []
    for container in spec.get("containers") or []:
        for port in container.get("ports") or []:
            labels = {**common, "__meta_kubernetes_pod_container_name": container["name"],
                      "__meta_kubernetes_pod_container_port_name": port.get("name") or "",
                      "__meta_kubernetes_pod_container_port_number": str(port["containerPort"]),
                      "__meta_kubernetes_pod_container_port_protocol": port.get("protocol") or "TCP"}
            targets.append((f"{status.get('podIP') or meta['name']}:{port['containerPort']}", labels))
    return targets


class PodTargets:
    """List and watch a namespace's pods in a thread; rewrite ``files`` on every change."""

    def __init__(self, api: client.ApiClient, namespace: str, files: list[FileTargets]) -> None:
        self.core, self.namespace, self.files = client.CoreV1Api(api), namespace, files
        self.api = api
        self.pods: dict[str, dict[str, Any]] = {}
        self.stopping = threading.Event()
        self.watch = watch.Watch()
        self.thread = threading.Thread(target=self._run, name="pod-targets", daemon=True)

    def __enter__(self) -> "PodTargets":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.watch.stop()
        self.thread.join(timeout=10)

    def _write(self) -> None:
        targets = [target for pod in self.pods.values() for target in pod_targets(pod)]
        for file in self.files:
            file.write(targets)

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                listed = self.core.list_namespaced_pod(self.namespace)
                self.pods = {p.metadata.name: self.api.sanitize_for_serialization(p) for p in listed.items}
                self._write()
                for event in self.watch.stream(self.core.list_namespaced_pod, self.namespace,
                                               resource_version=listed.metadata.resource_version,
                                               timeout_seconds=30):
                    pod = self.api.sanitize_for_serialization(event["object"])
                    if event["type"] == "DELETED":
                        self.pods.pop(pod["metadata"]["name"], None)
                    else:
                        self.pods[pod["metadata"]["name"]] = pod
                    self._write()
            except Exception:  # noqa: BLE001 - a watch the server ended: list again, as client-go does
                self.stopping.wait(0.2)


# The relabeling a Prometheus with ``kubernetes_sd_configs: [{role: pod}]`` uses to scrape each pod
# through the API server's pod proxy (docs/verification.md quotes it). ``{api_server}`` is host:port.
def scrape_through_api_server(api_server: str, pod_label: str = "pod") -> list[dict[str, Any]]:
    return [
        {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"], "regex": "true",
         "action": "keep"},
        {"source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": "http", "action": "keep"},
        {"source_labels": ["__meta_kubernetes_namespace", "__meta_kubernetes_pod_name",
                           "__meta_kubernetes_pod_container_port_name",
                           "__meta_kubernetes_pod_annotation_prometheus_io_path"],
         "regex": "(.+);(.+);(.+);(.+)", "target_label": "__metrics_path__",
         "replacement": "/api/v1/namespaces/${1}/pods/${2}:${3}/proxy${4}"},
        {"target_label": "__address__", "replacement": api_server},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": pod_label},
    ]

