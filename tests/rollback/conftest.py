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
