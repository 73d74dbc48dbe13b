"""The whole sandbox (every stand-in), a scratch git repository with a remote, and a
pipeline.toml tuned for fast but honest end-to-end deploys."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import git
import httpx
import pytest

from pipeline.config import EnvConfig, load_config
from pipeline.sandbox.harness import Sandbox
from pipeline.sandbox.pipeline_toml import sandbox_toml
from pipeline.sandbox.supervisor import kubeconfig

ROOT = Path(__file__).resolve().parents[2]

ROLLOUT = {"gates": ["1", "50%", "100%"], "gate_verify_seconds": 8, "bake_seconds": 4,
           "progress_deadline_seconds": 12, "lock_seconds": 4}


@dataclass
class World:
    sandbox: Sandbox
    environ: dict[str, str]
    config_path: Path
    repo: git.Repo
    remote: Path
    audit_dir: Path

    def config(self) -> EnvConfig:
        return load_config("local", self.config_path, self.environ)

    def release_commit(self, image: str) -> str:
        """A commit that 'releases' ``image`` (what a git revert will undo), pushed to the remote."""
        path = Path(self.repo.working_tree_dir) / "release.txt"
        path.write_text(f"{image}\n")
        self.repo.index.add(["release.txt"])
        commit = self.repo.index.commit(f"release {image}")
        self.repo.remote("origin").push("main")
        return commit.hexsha


@pytest.fixture(scope="package")
def world(tmp_path_factory) -> World:
    base = tmp_path_factory.mktemp("world")
    remote = base / "remote.git"
    git.Repo.init(remote, bare=True, initial_branch="main")
    repo = git.Repo.clone_from(str(remote), base / "checkout")
    with repo.config_writer() as writer:
        writer.set_value("user", "name", "Release Bot").set_value("user", "email", "release@example.test")
    (base / "checkout" / "README").write_text("app\n")
    repo.index.add(["README"])
    repo.index.commit("initial")
    subprocess.run(["git", "-C", str(base / "checkout"), "push", "-q", "-u", "origin", "main"], check=True)
    config_path = base / "pipeline.toml"
    config_path.write_text(sandbox_toml(ROOT, ROLLOUT, ["flag", "undo", "git"], {
        "git_repo": str(base / "checkout"),
        "git_push_branch": "main"}))          # the scratch remote protects nothing: push the revert there
    with Sandbox() as sandbox:
        environ = dict(sandbox.env())
        (base / "kubeconfig").write_text(kubeconfig(sandbox.urls["kube"]))
        environ.update(KUBECONFIG=str(base / "kubeconfig"), PIPELINE_AUDIT_DIR=str(base / "audit"),
                       USER="e2e", no_proxy="127.0.0.1,localhost")
        yield World(sandbox, environ, config_path, repo, remote, base / "audit")


@pytest.fixture(autouse=True)
def klaviyo_windows_refilled(world):
    """Each test starts as if a minute had passed: the package's tests share one Klaviyo stand-in,
    whose per-account rate limits (15/min on the accounts endpoint the preflight reads) the
    previous tests' preflights and pods have used up. Resetting its scenario refills them."""
    response = httpx.delete(f"{world.sandbox.urls['klaviyo']}/_sandbox/scenario", trust_env=False, timeout=10)
    response.raise_for_status()
    yield
