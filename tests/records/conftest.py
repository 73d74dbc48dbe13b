"""The kube stand-in for record-store tests, and a store on it for one app and environment."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Cluster:
    url: str
    kubeconfig: Path

    def api(self):
        """A kubernetes python client pointed at the stand-in (no TLS, no auth)."""
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.url
        return client.ApiClient(configuration)

    def config_file(self, path: Path, env: str = "test", extra: str = "") -> Path:
        path.write_text(f"""
[defaults]
app = "klaviyo-sync"
[env.{env}]
[env.{env}.kube]
kubeconfig = "{self.kubeconfig}"
namespace = "default"
{extra}
""")
        return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    harness = pytest.importorskip("pipeline.sandbox.harness")
    from pipeline.sandbox.supervisor import kubeconfig

    with harness.Sandbox(["kube"]) as sandbox:
        path = tmp_path_factory.mktemp("kube") / "kubeconfig"
        path.write_text(kubeconfig(sandbox.urls["kube"]))
        yield Cluster(sandbox.urls["kube"], path)
