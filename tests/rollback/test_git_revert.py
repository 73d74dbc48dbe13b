"""GitRevert against a real bare remote in tmp_path, cloned twice (ours and another developer's)."""
from __future__ import annotations

import stat
from pathlib import Path

import git

from pipeline.rollback.git_revert import GitRevert, reverted_by
from pipeline.rollback.result import Outcome


def deploy_commit(remote) -> str:
    sha = remote.commit(remote.work, "app/version.txt", "2.0.0\n", "Release 2.0.0")
    remote.publish(remote.work)
    return sha


def mechanism(remote, sha, **kw) -> GitRevert:
    return GitRevert(remote.work.working_tree_dir, sha, **kw)


def test_reverts_the_deploy_commit_and_pushes_it(remote):
    sha = deploy_commit(remote)
    result = mechanism(remote, sha).execute("p95 latency 7.2s > 5s")
    assert result.outcome is Outcome.DONE, result.detail
    assert remote.remote_file("app/version.txt") == "1.0.0"
    head = git.Repo(remote.bare).commit("main")
    assert head.hexsha == result.data["revert_commit"]
    assert f"This reverts commit {sha}." in head.message
    assert "Reason: p95 latency 7.2s > 5s" in head.message
    assert head.message.startswith('Revert "Release 2.0.0"')
    assert result.data["attempts"] == 1


def test_plan_changes_nothing_and_names_the_commit(remote):
    sha = deploy_commit(remote)
    before = remote.remote_head()
    plan = mechanism(remote, sha).plan()
    assert sha[:12] in plan.current and not plan.noop
    assert remote.remote_head() == before


def test_dry_run_changes_nothing(remote):
    sha = deploy_commit(remote)
    before, local = remote.remote_head(), remote.work.head.commit.hexsha
    result = mechanism(remote, sha).execute("test", dry_run=True)
    assert result.outcome is Outcome.DRY_RUN
    assert remote.remote_head() == before and remote.work.head.commit.hexsha == local


def test_dirty_tree_is_refused_naming_the_files(remote):
    sha = deploy_commit(remote)
    Path(remote.work.working_tree_dir, "README.md").write_text("local edit\n")
    Path(remote.work.working_tree_dir, "app/version.txt").write_text("9\n")
    remote.work.index.add(["app/version.txt"])
    before = remote.remote_head()
    result = mechanism(remote, sha).execute("test")
    assert result.outcome is Outcome.FAILED
    assert "README.md" in result.detail and "app/version.txt" in result.detail
    assert "uncommitted" in result.detail
    assert remote.remote_head() == before
    assert Path(remote.work.working_tree_dir, "README.md").read_text() == "local edit\n"


def test_untracked_files_do_not_block(remote):
    sha = deploy_commit(remote)
    Path(remote.work.working_tree_dir, "notes.txt").write_text("scratch\n")
    assert mechanism(remote, sha).execute("test").outcome is Outcome.DONE


def test_merge_commit_is_reverted_against_mainline_parent(remote):
    work = remote.work
    work.git.checkout("-b", "feature")
    remote.commit(work, "app/feature.txt", "on\n", "Add feature")
    remote.commit(work, "app/version.txt", "2.0.0\n", "Bump to 2.0.0")
    work.git.checkout("main")
    work.git.merge("--no-ff", "feature", "-m", "Merge feature")
    merge = work.head.commit
    assert len(merge.parents) == 2
    remote.publish(work)
    result = mechanism(remote, merge.hexsha).execute("bad release")
    assert result.outcome is Outcome.DONE, result.detail
    assert result.data["merge"] is True
    assert remote.remote_file("app/version.txt") == "1.0.0"
    assert remote.remote_file("app/feature.txt") is None
    head = git.Repo(remote.bare).commit("main")
    assert f"This reverts commit {merge.hexsha}, reversing\nchanges made to {merge.parents[0].hexsha}." in head.message


def test_already_reverted_is_not_reverted_twice(remote):
    sha = deploy_commit(remote)
    remote.other.git.pull("origin", "main")
    remote.other.git.revert(sha, "--no-edit")
    reverting = remote.other.head.commit.hexsha
    remote.publish(remote.other)
    before = remote.remote_head()
    result = mechanism(remote, sha).execute("test")
    assert result.outcome is Outcome.ALREADY
    assert result.data["reverted_by"] == reverting
    assert reverting[:12] in result.detail
    assert remote.remote_head() == before


def test_second_run_is_already(remote):
    sha = deploy_commit(remote)
    first = mechanism(remote, sha).execute("one")
    second = mechanism(remote, sha).execute("two")
    assert first.outcome is Outcome.DONE
    assert second.outcome is Outcome.ALREADY and second.data["reverted_by"] == first.data["revert_commit"]


def test_a_reverted_revert_does_not_count(remote):
    sha = deploy_commit(remote)
    work = remote.work
    work.git.revert(sha, "--no-edit")
    work.git.revert("HEAD", "--no-edit")       # re-applies the release
    remote.publish(work)
    assert reverted_by(work, sha, "origin/main") is None
    result = mechanism(remote, sha).execute("again")
    assert result.outcome is Outcome.DONE
    assert remote.remote_file("app/version.txt") == "1.0.0"


def test_remote_moved_during_push_is_rebuilt_and_retried(remote):
    sha = deploy_commit(remote)
    # Another developer's commit exists on the remote under another name; a pre-receive hook
    # moves main to it the first time anyone pushes: our push then loses the race.
    remote.other.git.pull("origin", "main")
    moved = remote.commit(remote.other, "docs/notes.md", "hello\n", "Docs while rolling back")
    remote.other.git.push("origin", "main:refs/heads/moved")
    hook = remote.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\n"
                    "if [ ! -f race-done ]; then touch race-done; env -u GIT_QUARANTINE_PATH git update-ref refs/heads/main refs/heads/moved; fi\n"
                    "exit 0\n")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    result = mechanism(remote, sha).execute("latency")
    assert result.outcome is Outcome.DONE, result.detail
    assert result.data["attempts"] == 2
    head = git.Repo(remote.bare).commit("main")
    assert head.hexsha == result.data["revert_commit"]
    assert head.parents[0].hexsha == moved               # rebuilt on the moved head
    assert remote.remote_file("docs/notes.md") == "hello"
    assert remote.remote_file("app/version.txt") == "1.0.0"


def test_push_failing_for_another_reason_is_failed_and_local_branch_restored(remote):
    sha = deploy_commit(remote)
    hook = remote.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch' >&2\nexit 1\n")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    result = mechanism(remote, sha).execute("test")
    assert result.outcome is Outcome.FAILED
    assert "protected branch" in result.detail
    assert remote.work.head.commit.hexsha == sha          # our unpublished revert was dropped


def test_unknown_commit_and_missing_commit(remote):
    assert "not found" in mechanism(remote, "deadbeef" * 5).execute("x").detail
    missing = mechanism(remote, None).execute("x")
    assert missing.outcome is Outcome.FAILED and "--commit" in missing.detail


def test_unpushed_local_commits_are_refused(remote):
    sha = deploy_commit(remote)
    remote.commit(remote.work, "local.txt", "x\n", "Local work")
    result = mechanism(remote, sha).execute("x")
    assert result.outcome is Outcome.FAILED and "not on origin/main" in result.detail


def test_returns_to_the_original_branch(remote):
    sha = deploy_commit(remote)
    remote.work.git.checkout("-b", "topic")
    result = mechanism(remote, sha).execute("x")
    assert result.outcome is Outcome.DONE
    assert remote.work.active_branch.name == "topic"
