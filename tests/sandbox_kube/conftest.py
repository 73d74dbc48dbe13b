"""Fixtures for the Kubernetes stand-in: a running sandbox, kubectl, the python client."""
from __future__ import annotations

import json
import os
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from kubernetes import client as k8s

from pipeline.sandbox.harness import Sandbox
from pipeline.sandbox.kube import server
from pipeline.sandbox.supervisor import kubeconfig

MANIFESTS = Path(__file__).parent / "manifests"


@dataclass
class Kube:
    sandbox: Sandbox
    url: str
    kubeconfig: Path

    @property
    def cluster(self) -> Any:
        return self.sandbox.apps["kube"]["state"]

    def kubectl(self, *args: str, check: bool = True, input: str | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        done = subprocess.run(["kubectl", *args], capture_output=True, text=True, env=env, input=input,
                              timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def api_client(self) -> k8s.ApiClient:
        config = k8s.Configuration(host=self.url)
        return k8s.ApiClient(config)

    def images(self, behaviours: dict[str, Any]) -> None:
        """Set simulated image behaviours through the controllers' admin route."""
        response = httpx.put(self.url + "/_sandbox/images", json=behaviours, timeout=10)
        assert response.status_code == 200, response.text




@pytest.fixture
def apps(kube: Kube) -> k8s.AppsV1Api:
    """AppsV1Api on the API stand-in, with deployment "web" (2 replicas) created."""
    api = k8s.AppsV1Api(kube.api_client())
    api.create_namespaced_deployment("default", deployment("web"))
    return api


def _start(tmp_path: Path, controllers: bool, monkeypatch: pytest.MonkeyPatch,
           state_dir: Path | None = None) -> Sandbox:
    if not controllers:
        monkeypatch.setattr(server, "load_controllers", lambda: None)
    return Sandbox(["kube"], state_dir=state_dir).start()


@contextmanager
def _serving(tmp_path: Path, controllers: bool, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kube]:
    sandbox = _start(tmp_path, controllers, monkeypatch)
    path = tmp_path / "kubeconfig"
    path.write_text(kubeconfig(sandbox.urls["kube"]))
    try:
        yield Kube(sandbox, sandbox.urls["kube"], path)
    finally:
        sandbox.stop()


@pytest.fixture
def kube(tmp_path: Path, kubecache: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kube]:
    """The API stand-in alone (no controllers): what the HTTP layer does, deterministically."""
    with _serving(tmp_path, False, monkeypatch) as serving:
        yield serving


@pytest.fixture
def kube_with_controllers(tmp_path: Path, kubecache: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kube]:
    """The whole stand-in, with whatever controllers ``pipeline.sandbox.kube.controllers`` runs."""
    with _serving(tmp_path, True, monkeypatch) as serving:
        yield serving


def deployment(name: str = "web", replicas: int = 2, labels: dict[str, str] | None = None,
               image: str = "registry.local/klaviyo-sync:1.0.0") -> dict[str, Any]:
    labels = labels or {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": dict(labels)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)},
                                  "spec": {"containers": [{"name": "web", "image": image,
                                                           "ports": [{"containerPort": 8080}]}]}}}}


def status_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert body["kind"] == "Status", body
    assert body["code"] == response.status_code
    return body


def dumps(obj: Any) -> str:
    return json.dumps(obj)
