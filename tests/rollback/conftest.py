"""Fixtures for rollback tests: real git remotes (bare repositories in tmp_path)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import git
import pytest

IDENTITY = {"user.name": "Test", "user.email": "test@example.com"}


@dataclass
class Remote:
    """A bare 'origin', a clone where the pipeline runs (``work``), and another developer's clone."""
    bare: Path
    work: git.Repo
    other: git.Repo

    def commit(self, repo: git.Repo, path: str, text: str, message: str) -> str:
        file = Path(repo.working_tree_dir) / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)
        repo.index.add([path])
        repo.index.commit(message)
        return repo.head.commit.hexsha

    def publish(self, repo: git.Repo) -> None:
        repo.git.push("origin", "main")

    def remote_head(self) -> str:
        return git.Repo(self.bare).commit("main").hexsha

    def remote_file(self, path: str) -> str | None:
        try:
            return git.Repo(self.bare).git.show(f"main:{path}")
        except git.GitCommandError:
            return None


def _clone(bare: Path, where: Path) -> git.Repo:
    repo = git.Repo.clone_from(str(bare), str(where))
    with repo.config_writer() as cfg:
        for key, value in IDENTITY.items():
            section, option = key.split(".")
            cfg.set_value(section, option, value)
    return repo


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    bare = tmp_path / "origin.git"
    git.Repo.init(bare, bare=True, initial_branch="main")
    seed = _clone(bare, tmp_path / "seed")
    seed.git.checkout("-b", "main")
    r = Remote(bare, None, None)  # type: ignore[arg-type]
    r.commit(seed, "app/version.txt", "1.0.0\n", "Release 1.0.0")
    r.commit(seed, "README.md", "app\n", "Add readme")
    seed.git.push("origin", "main")
    r.work = _clone(bare, tmp_path / "work")
    r.other = _clone(bare, tmp_path / "other")
    return r


# --- the Kubernetes stand-in --------------------------------------------------------------

import json
import subprocess
import urllib.request

from kubernetes import client as kclient, config as kconfig


@dataclass
class Kube:
    """The kube stand-in, a kubeconfig for it, and an AppsV1Api from the real python client."""
    url: str
    kubeconfig: Path
    apps: kclient.AppsV1Api

    def create(self, name: str, image: str, replicas: int = 3, **spec) -> None:
        self.apps.create_namespaced_deployment("default", {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, **spec,
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}}})
        self.wait(name)

    def set_image(self, name: str, image: str, cause: str | None = None, wait: bool = True) -> None:
        body: dict = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}
        if cause:
            body["metadata"] = {"annotations": {"kubernetes.io/change-cause": cause}}
        self.apps.patch_namespaced_deployment(name, "default", body)
        if wait:
            self.wait(name)

    def history(self, name: str, *images: str) -> None:
        """A deployment that went through ``images`` in order (each rollout complete)."""
        self.create(name, images[0])
        for image in images[1:]:
            self.set_image(name, image, cause=f"deploy {image}")

    def wait(self, name: str) -> None:
        from pipeline.kube.rollout import wait_for_rollout

        assert wait_for_rollout(self.apps, "default", name, 30).complete

    def read(self, name: str) -> dict:
        from pipeline.kube.client import read_json

        return read_json(self.apps.read_namespaced_deployment, name, "default")

    def images(self, behaviours: dict) -> None:
        request = urllib.request.Request(f"{self.url}/_sandbox/images", data=json.dumps(behaviours).encode(),
                                         method="PUT", headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).read()

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(["kubectl", "--kubeconfig", str(self.kubeconfig), *args],
                                capture_output=True, text=True, timeout=60)
        if check:
            assert result.returncode == 0, result.stderr
        return result


@pytest.fixture(scope="module")
def kube_sandbox(tmp_path_factory):
    from pipeline.sandbox.harness import Sandbox
    from pipeline.sandbox.supervisor import kubeconfig

    with Sandbox(["kube"]) as sandbox:
        if "kube" not in sandbox.urls:
            pytest.skip("the kube stand-in (pipeline.sandbox.kube.server) is not there yet")
        path = tmp_path_factory.mktemp("kube") / "kubeconfig"
        path.write_text(kubeconfig(sandbox.urls["kube"]))
        api = kconfig.new_client_from_config(str(path), persist_config=False)
        yield Kube(sandbox.urls["kube"], path, kclient.AppsV1Api(api))
        api.close()


@pytest.fixture
def kube(kube_sandbox, kubecache):
    return kube_sandbox
