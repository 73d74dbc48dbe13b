"""GitRevert against a real bare remote in tmp_path, cloned twice (ours and another developer's)."""
from __future__ import annotations

import stat
from pathlib import Path

import git
import pytest

from pipeline.rollback.git_revert import GitRevert, reverted_by
from pipeline.rollback.result import Outcome


def deploy_commit(remote) -> str:
    sha = remote.commit(remote.work, "app/version.txt", "2.0.0\n", "Release 2.0.0")
    remote.publish(remote.work)
    return sha


def mechanism(remote, sha, **kw) -> GitRevert:
    """Pushing straight to main (``rollback.git_push_branch = "main"``): a remote without protection."""
    return GitRevert(remote.work.working_tree_dir, sha, **{"push_branch": "main", **kw})


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


# --- under branch protection: a branch of its own and a pull request ----------------------------

PROTECT_MAIN = ("#!/bin/sh\n"
                "while read old new ref; do\n"
                "  if [ \"$ref\" = refs/heads/main ]; then\n"
                "    echo 'error: GH006: Protected branch update failed for refs/heads/main.' >&2; exit 1\n"
                "  fi\n"
                "done\nexit 0\n")


def install_hook(remote, script: str) -> None:
    hook = remote.bare / "hooks" / "pre-receive"
    hook.write_text(script)
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)


def protected_deploy(remote) -> str:
    sha = deploy_commit(remote)
    install_hook(remote, PROTECT_MAIN)
    return sha


def pr_mechanism(remote, sha, github=None, **kw) -> GitRevert:
    return GitRevert(remote.work.working_tree_dir, sha, github=github, **kw)


def remote_branch(remote, name: str) -> git.Commit | None:
    try:
        return git.Repo(remote.bare).commit(f"refs/heads/{name}")
    except (git.BadName, ValueError):
        return None


@pytest.fixture
def github(remote):
    from pipeline.github_api import GitHubApi, repository_from_environ
    from tests.ship.github_standin import GitHubState, GitHubStandIn

    with GitHubStandIn(GitHubState(bare=remote.bare)) as server:
        api = GitHubApi(repository_from_environ(server.environ()), timeout=5)
        yield server, api
        api.close()


def test_a_push_to_a_protected_main_is_failed_for_git_alone_and_says_what_to_do(remote):
    sha = protected_deploy(remote)
    before = remote.remote_head()
    result = mechanism(remote, sha).execute("5xx")
    assert result.outcome is Outcome.FAILED
    assert "GH006: Protected branch update failed for refs/heads/main" in result.detail
    assert "leave rollback.git_push_branch empty" in result.detail
    assert remote.remote_head() == before and remote.work.head.commit.hexsha == sha


def test_outside_actions_the_revert_goes_to_a_branch_of_its_own(remote):
    sha = protected_deploy(remote)
    before, local = remote.remote_head(), remote.work.head.commit.hexsha
    remote.work.git.checkout("-b", "topic")
    result = pr_mechanism(remote, sha).execute("p95 latency 7.2s > 5s")
    assert result.outcome is Outcome.PENDING_APPROVAL, result.detail
    branch = f"revert/{sha[:12]}"
    pushed = remote_branch(remote, branch)
    assert pushed is not None and pushed.hexsha == result.data["revert_commit"]
    assert pushed.parents[0].hexsha == before                  # built on main as fetched
    assert f"This reverts commit {sha}." in pushed.message and "Reason: p95 latency 7.2s > 5s" in pushed.message
    assert git.Repo(remote.bare).git.show(f"{branch}:app/version.txt") == "1.0.0"
    assert result.detail == (f"reverted {sha[:12]} with {pushed.hexsha[:12]} on branch origin/{branch}; open a pull "
                             "request into main and merge it (no GitHub API outside Actions)")
    assert remote.remote_head() == before                       # main untouched
    assert remote.work.active_branch.name == "topic" and remote.work.head.commit.hexsha == local
    assert [h.name for h in remote.work.heads] == ["main", "topic"]   # no local branch left behind
    assert result.data["push_branch"] == branch


def test_in_actions_a_pull_request_is_opened_into_main(remote, github):
    server, api = github
    sha = protected_deploy(remote)
    result = pr_mechanism(remote, sha, api).execute("auth_errors at gate 1/3")
    assert result.outcome is Outcome.PENDING_APPROVAL, result.detail
    (pull,) = server.state.pulls
    assert pull["head"]["ref"] == f"revert/{sha[:12]}" and pull["base"]["ref"] == "main"
    assert pull["title"] == 'Revert "Release 2.0.0"'
    assert "Reason: auth_errors at gate 1/3" in pull["body"] and result.data["revert_commit"] in pull["body"]
    assert result.data["pull_request"] == {"number": 1, "url": "https://github.example/acme/klaviyo-sync/pull/1"}
    assert result.detail.endswith("pull request #1 into main awaits review and merge: "
                                  "https://github.example/acme/klaviyo-sync/pull/1")


def test_a_second_run_reuses_the_branch_and_its_pull_request(remote, github):
    server, api = github
    sha = protected_deploy(remote)
    first = pr_mechanism(remote, sha, api).execute("one")
    second = pr_mechanism(remote, sha, api).execute("two")
    assert second.outcome is Outcome.PENDING_APPROVAL, second.detail
    assert second.data["revert_commit"] == first.data["revert_commit"] and second.data["reused"] is True
    assert second.data["pull_request"]["number"] == 1 and len(server.state.pulls) == 1
    assert remote_branch(remote, f"revert/{sha[:12]}").hexsha == first.data["revert_commit"]
    assert [(s.method, s.path.rsplit("/", 1)[-1]) for s in server.seen] == [
        ("POST", "pulls"), ("POST", "pulls"), ("GET", "pulls")]
    assert server.seen[-1].query["head"] == f"acme:revert/{sha[:12]}"


def test_a_repository_that_forbids_actions_pull_requests_still_gets_the_branch(remote, github):
    server, api = github
    server.state.forbid_pulls = True
    sha = protected_deploy(remote)
    result = pr_mechanism(remote, sha, api).execute("x")
    assert result.outcome is Outcome.PENDING_APPROVAL
    assert remote_branch(remote, f"revert/{sha[:12]}") is not None
    assert ("could not open the pull request (POST /repos/acme/klaviyo-sync/pulls: HTTP 403: GitHub Actions is not "
            "permitted to create or approve pull requests.): open it into main by hand") in result.detail


def test_already_reverted_on_main_pushes_no_branch(remote):
    sha = deploy_commit(remote)
    remote.other.git.pull("origin", "main")
    remote.other.git.revert(sha, "--no-edit")
    remote.publish(remote.other)
    result = pr_mechanism(remote, sha).execute("x")
    assert result.outcome is Outcome.ALREADY
    assert remote_branch(remote, f"revert/{sha[:12]}") is None


def test_a_rejected_branch_push_is_failed_and_the_checkout_restored(remote):
    sha = deploy_commit(remote)
    install_hook(remote, "#!/bin/sh\necho 'pushes are frozen during the incident' >&2\nexit 1\n")
    result = pr_mechanism(remote, sha).execute("x")
    assert result.outcome is Outcome.FAILED
    assert result.detail.startswith(f"push of the revert to origin/revert/{sha[:12]} was rejected: ")
    assert "pushes are frozen during the incident" in result.detail and "nothing was pushed" in result.detail
    assert remote.work.active_branch.name == "main" and remote.work.head.commit.hexsha == sha
    assert not remote.work.is_dirty()


def test_a_branch_of_that_name_without_the_revert_is_not_overwritten(remote):
    sha = deploy_commit(remote)
    remote.work.git.push("origin", f"main~1:refs/heads/revert/{sha[:12]}")
    result = pr_mechanism(remote, sha).execute("x")
    assert result.outcome is Outcome.FAILED
    assert f"branch origin/revert/{sha[:12]} exists and does not revert {sha[:12]}" in result.detail


def test_a_configured_branch_gets_the_revert_and_main_is_left_alone(remote):
    sha = protected_deploy(remote)
    before = remote.remote_head()
    result = pr_mechanism(remote, sha, push_branch="rollbacks").execute("x")
    assert result.outcome is Outcome.DONE, result.detail
    assert remote_branch(remote, "rollbacks").hexsha == result.data["revert_commit"]
    assert result.detail.endswith("pushed to origin/rollbacks") and remote.remote_head() == before
    again = pr_mechanism(remote, sha, push_branch="rollbacks").execute("x")
    assert again.outcome is Outcome.ALREADY and again.data["reverted_by"] == result.data["revert_commit"]


def test_an_existing_configured_branch_gets_the_revert_on_top_of_it(remote):
    sha = deploy_commit(remote)
    remote.other.git.pull("origin", "main")
    remote.commit(remote.other, "ops/notes.md", "hotfix branch\n", "Hotfix branch work")
    remote.other.git.push("origin", "main:refs/heads/hotfix")
    tip = remote_branch(remote, "hotfix").hexsha
    result = pr_mechanism(remote, sha, push_branch="hotfix").execute("x")
    assert result.outcome is Outcome.DONE, result.detail
    assert remote_branch(remote, "hotfix").parents[0].hexsha == tip     # a fast-forward of that branch


def test_plan_and_dry_run_say_where_the_revert_goes(remote, github):
    server, api = github
    sha = deploy_commit(remote)
    plan = pr_mechanism(remote, sha).plan()
    assert plan.target == (f"push a commit reverting {sha[:12]} to branch origin/revert/{sha[:12]} and ask for a "
                           "pull request (no GitHub API outside Actions) into main")
    assert pr_mechanism(remote, sha, api).plan().target.endswith("and open a pull request into main")
    dry = pr_mechanism(remote, sha, api).execute("x", dry_run=True)
    assert dry.outcome is Outcome.DRY_RUN and dry.detail.startswith("would push a commit reverting")
    assert remote_branch(remote, f"revert/{sha[:12]}") is None and server.seen == []


def test_the_factory_builds_the_configured_mode_and_the_github_client_only_in_actions(tmp_path):
    from pipeline.config import load_config
    from pipeline.rollback import factory
    from tests.ship.github_standin import GitHubStandIn

    path = tmp_path / "pipeline.toml"
    path.write_text('[env.prod.rollback]\ngit_push_branch = "rollbacks"\n[env.staging]\n')
    (pushing,) = factory.build(["git"], load_config("prod", path, environ={})).mechanisms
    assert isinstance(pushing, GitRevert) and pushing.push_branch == "rollbacks" and pushing.github is None
    actions = GitHubStandIn().environ()
    (in_actions,) = factory.build(["git"], load_config("staging", path, environ=actions)).mechanisms
    assert in_actions.pull_request_mode and in_actions.github is not None
    assert in_actions.github.repo.name == "acme/klaviyo-sync"
