"""Issue 11's "done means", the way CI runs: every command on a fresh runner.

Each command runs in its own fresh clone of the app's repository (an empty working directory:
no .pipeline/, no .sandbox/), as a separate process, like a GitHub Actions job on a new runner.
They share only the sandbox cluster (and the git remote). Deploy 1.1.0, deploy 1.3.0, history
from a third lists both, bad-auth is rolled back automatically in a fourth, `invoke rollback
--via undo --yes` from a fifth stays on 1.3.0 (never the rejected release), `audit.verify`
from a sixth reports the chain intact with all of them.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import git
import pytest

from e2e.conftest import ROLLOUT as E2E_ROLLOUT  # tests/ is on sys.path (pytest's rootdir-less packages)

from pipeline.sandbox.pipeline_toml import sandbox_toml

from .conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

# The end-to-end tests' sandbox settings, with every path relative to the clone (as in a real repository).
CONFIG = sandbox_toml(Path("."), E2E_ROLLOUT, ["flag", "undo", "git"], {"git_repo": ".", "git_push_branch": "main"})


class Runners:
    """A git remote holding the app's repository, and fresh runners that clone it."""

    def __init__(self, base: Path, environ: dict[str, str]):
        self.base, self.environ, self.count = base, environ, 0
        self.remote = base / "app.git"
        git.Repo.init(self.remote, bare=True, initial_branch="main")
        self.developer = git.Repo.clone_from(str(self.remote), base / "developer")
        work = Path(self.developer.working_tree_dir)
        (work / "pipeline.toml").write_text(CONFIG)
        shutil.copytree(REPO / "k8s", work / "k8s")
        shutil.copytree(REPO / "examples" / "klaviyo-sync", work / "examples" / "klaviyo-sync",
                        ignore=shutil.ignore_patterns("__pycache__"))
        self.developer.git.add(A=True)
        self.developer.index.commit("the app, its manifests and pipeline.toml")
        self.developer.git.push("origin", "main")

    def release(self, image: str) -> str:
        """A developer pushes the commit that releases ``image``."""
        self.developer.git.pull("origin", "main")
        path = Path(self.developer.working_tree_dir) / "release.txt"
        path.write_text(f"{image}\n")
        self.developer.index.add(["release.txt"])
        commit = self.developer.index.commit(f"release {image}").hexsha
        self.developer.git.push("origin", "main")
        return commit

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """``invoke ARGS`` on a new runner: a fresh clone, its own process and run id."""
        self.count += 1
        clone = self.base / f"runner-{self.count}"
        git.Repo.clone_from(str(self.remote), clone)
        assert not (clone / ".pipeline").exists() and not (clone / ".sandbox").exists()
        environ = {**self.environ, "GITHUB_RUN_ID": str(1000 + self.count)}
        return subprocess.run([sys.executable, "-m", "invoke", "-r", str(REPO), *args], cwd=clone,
                              capture_output=True, text=True, timeout=600, env=environ)


@pytest.fixture(scope="module")
def runners(tmp_path_factory):
    from pipeline.sandbox.harness import Sandbox
    from pipeline.sandbox.supervisor import kubeconfig

    base = tmp_path_factory.mktemp("ci")
    with Sandbox() as sandbox:
        (base / "kubeconfig").write_text(kubeconfig(sandbox.urls["kube"]))
        environ = {
            "PATH": os.environ["PATH"], "HOME": str(base), "PYTHONPATH": str(REPO), "COLUMNS": "120",
            "no_proxy": "127.0.0.1,localhost", **sandbox.env(), "KUBECONFIG": str(base / "kubeconfig"),
            "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "octocat", "GITHUB_REPOSITORY": "acme/sync",
            "GIT_AUTHOR_NAME": "CI", "GIT_AUTHOR_EMAIL": "ci@example.test", "GIT_COMMITTER_NAME": "CI",
            "GIT_COMMITTER_EMAIL": "ci@example.test",
        }
        yield Runners(base, environ), sandbox


def deployed_image(sandbox) -> str:
    from kubernetes import client

    api = client.ApiClient(client.Configuration(host=sandbox.urls["kube"]))
    live = client.AppsV1Api(api).read_namespaced_deployment("klaviyo-sync", "default")
    return live.spec.template.spec.containers[0].image


def test_history_rollback_target_and_verification_survive_fresh_runners(runners):
    ci, sandbox = runners
    outcomes = []
    for image in ("klaviyo-sync:1.1.0", "klaviyo-sync:1.3.0"):
        ci.release(image)
        done = ci.run("deploy", "--env", "local", "--image", image, "--json")
        outcomes.append(json.loads(done.stdout)["outcome"])
        assert done.returncode == 0, (outcomes, done.stdout[-3000:], done.stderr[-3000:])

    shown = ci.run("history", "--env", "local", "--json")
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)["rows"]
    assert [(r["image"], r["outcome"]) for r in rows] == [("klaviyo-sync:1.3.0", "deployed"),
                                                          ("klaviyo-sync:1.1.0", "deployed")]
    assert rows[0]["actor"] == "octocat" and rows[0]["run_url"] == "https://github.com/acme/sync/actions/runs/1002"

    bad = ci.release("klaviyo-sync:1.4.0-bad-auth")
    rolled = ci.run("deploy", "--env", "local", "--image", "klaviyo-sync:1.4.0-bad-auth", "--json")
    result = json.loads(rolled.stdout)
    assert rolled.returncode == 5 and result["outcome"] == "rolled_back", (result["reason"], rolled.stderr[-3000:])
    assert result["commit"] == bad and deployed_image(sandbox) == "klaviyo-sync:1.3.0"

    undo = ci.run("rollback", "--env", "local", "--via", "undo", "--yes", "--json")
    document = json.loads(undo.stdout)
    assert undo.returncode == 0, undo.stderr[-3000:]
    assert document["results"][0]["data"]["to_image"] == "klaviyo-sync:1.3.0", document
    assert deployed_image(sandbox) == "klaviyo-sync:1.3.0"            # never back to the rejected release

    verified = ci.run("audit.verify", "--env", "local", "--json")
    check = json.loads(verified.stdout)
    assert verified.returncode == 0 and check["ok"] and check["records"] == 4, verified.stdout
    shown = ci.run("history", "--env", "local", "--json")
    kinds = [(r["kind"], r["image"], r["outcome"]) for r in json.loads(shown.stdout)["rows"]]
    assert kinds == [("rollback", "klaviyo-sync:1.3.0", "done"),
                     ("deploy", "klaviyo-sync:1.4.0-bad-auth", "rolled_back"),
                     ("deploy", "klaviyo-sync:1.3.0", "deployed"), ("deploy", "klaviyo-sync:1.1.0", "deployed")]
