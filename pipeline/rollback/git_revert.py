"""Roll back by ``git revert`` of the deploy commit, without fighting branch protection.

Where the revert goes (``rollback.git_push_branch``):

- empty (the default): a branch of its own, ``revert/<sha12>``, built on ``branch`` (main) as
  just fetched, and a pull request into ``branch`` through the GitHub API when a client is given
  (in Actions); without one, the pushed branch is reported for a person to open the pull request.
  Either way the outcome is PENDING_APPROVAL: the revert waits for a review and a merge, which
  branch protection asks for. A branch that already holds the revert is reused, and so is its
  open pull request (a second run is not a second revert).
- a branch name: pushed there (``main`` itself where nothing protects it, or a branch of your
  choice); DONE once the remote branch points at the revert.

A rejected push (a protected branch, a pre-receive hook) is FAILED for this mechanism alone, with
the server's words and what to do. In every mode the revert is built in the checkout at
``repo_path``, whose original branch (or detached HEAD) is checked out again afterwards:

- a dirty tree (tracked changes, staged or not) is refused, naming the files;
- local commits on ``branch`` that the remote lacks are refused (they would be pushed too);
- a commit that a later commit already reverts ("This reverts commit <sha>") is ALREADY,
  naming the reverting commit, unless that revert was itself reverted;
- a merge commit is reverted against its first parent (``-m 1``: the mainline);
- the message names the reason and keeps git's "This reverts commit <sha>." line;
- a push that fails because the remote moved is recovered: fetch, rebuild the revert on the
  new remote head (re-checking "already reverted"), push again, at most ``max_push_attempts``;
- verification: the remote branch (``git ls-remote``) points at the revert commit.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import git
from git.exc import BadName, GitCommandError, InvalidGitRepositoryError, NoSuchPathError

from pipeline.github_api import GitHubApi, GitHubError
from pipeline.rollback.result import Outcome, Plan, RollbackResult

REVERTS = "This reverts commit "
REVERT_BRANCH = "revert/{short}"          # the branch of its own a pull request comes from
FALLBACK_IDENTITY = {"GIT_AUTHOR_NAME": "invoke rollback", "GIT_AUTHOR_EMAIL": "rollback@localhost",
                     "GIT_COMMITTER_NAME": "invoke rollback", "GIT_COMMITTER_EMAIL": "rollback@localhost"}


class RevertError(Exception):
    """An expected reason not to (or failure to) revert; the message is for the on-call engineer."""


@dataclass
class GitRevert:
    repo_path: str | Path
    commit: str | None                   # the deploy commit (audit log) or one given (--commit)
    remote: str = "origin"
    branch: str = "main"
    max_push_attempts: int = 3
    name: str = "git"
    push_branch: str = ""                # empty: revert/<sha12> + a pull request into branch; else push there
    github: GitHubApi | None = None      # opens the pull request (in Actions); None: the branch is reported

    @property
    def pull_request_mode(self) -> bool:
        return not self.push_branch

    @property
    def destination(self) -> str:
        """The branch the revert is pushed to (``revert/<sha12>`` in pull request mode)."""
        if self.push_branch:
            return self.push_branch
        return REVERT_BRANCH.format(short=(self.commit or "unknown")[:12])

    # --- the Mechanism interface -------------------------------------------------------
    def plan(self) -> Plan:
        try:
            repo = self._repo()
            target = self._resolve(repo)
        except RevertError as exc:
            return Plan(self.name, "unknown", f"cannot revert: {exc}", data={"error": str(exc)})
        ref = self._remote_ref(repo)
        head = repo.commit(ref).hexsha if ref else "unknown"
        already = reverted_by(repo, target.hexsha, ref) if ref else None
        current = f"{self.remote}/{self.branch} at {head[:12]}; deploy commit {target.hexsha[:12]} {_summary(target)!r}"
        data = {"commit": target.hexsha, "remote_head": head, "merge": len(target.parents) > 1,
                "reverted_by": already, "dirty": dirty_files(repo)}
        if already:
            return Plan(self.name, current, f"already reverted by {already[:12]}", noop=True, data=data)
        return Plan(self.name, current, self._intent(target), data={**data, "push_branch": self.destination})

    def _intent(self, target: git.Commit) -> str:
        if self.pull_request_mode:
            opener = "open a pull request" if self.github else "ask for a pull request (no GitHub API outside Actions)"
            return (f"push a commit reverting {target.hexsha[:12]} to branch {self.remote}/{self.destination} and "
                    f"{opener} into {self.branch}")
        return f"push a commit reverting {target.hexsha[:12]} to {self.remote}/{self.destination}"

    def execute(self, reason: str, dry_run: bool = False) -> RollbackResult:
        start = time.monotonic()
        try:
            outcome, detail, data = self._execute(reason, dry_run)
        except RevertError as exc:
            return RollbackResult(self.name, Outcome.FAILED, str(exc), time.monotonic() - start,
                                  {"commit": self.commit})
        return RollbackResult(self.name, outcome, detail, time.monotonic() - start, data)

    # --- steps ---------------------------------------------------------------------------
    def _execute(self, reason: str, dry_run: bool) -> tuple[Outcome, str, dict]:
        repo = self._repo()
        target = self._resolve(repo)
        dirty = dirty_files(repo)
        if dirty:
            raise RevertError(f"refusing to revert: the working tree at {self.repo_path} has uncommitted "
                              f"changes in {', '.join(dirty)}; commit or stash them first")
        data: dict = {"commit": target.hexsha, "remote": self.remote, "branch": self.branch,
                      "merge": len(target.parents) > 1}
        if dry_run:
            ref = self._remote_ref(repo)
            already = reverted_by(repo, target.hexsha, ref) if ref else None
            if already:
                return Outcome.DRY_RUN, f"nothing to do: {target.hexsha[:12]} already reverted by {already[:12]}", \
                    {**data, "reverted_by": already}
            return Outcome.DRY_RUN, f"would {self._intent(target)}", {**data, "push_branch": self.destination}
        if self.push_branch != self.branch:
            return self._revert_elsewhere(repo, target, reason, {**data, "push_branch": self.destination})
        original = _current_branch(repo)
        try:
            return self._revert_and_push(repo, target, reason, data)
        finally:
            if original and original != self.branch and _current_branch(repo) != original:
                repo.git.checkout(original)

    # --- a branch other than the one deployed from (pull request mode, or a configured branch) ----
    def _revert_elsewhere(self, repo: git.Repo, target: git.Commit, reason: str,
                          data: dict) -> tuple[Outcome, str, dict]:
        base_ref = self._fetch(repo)
        already = reverted_by(repo, target.hexsha, base_ref)
        if already:
            return Outcome.ALREADY, (f"{target.hexsha[:12]} is already reverted by {already[:12]} on {base_ref}; "
                                     "no second revert"), {**data, "reverted_by": already}
        if not _contains(repo, target.hexsha, base_ref):
            raise RevertError(f"commit {target.hexsha[:12]} is not on {base_ref}; nothing deployed from "
                              f"{self.branch} to revert")
        destination = self.destination
        dest_ref = self._fetch_branch(repo, destination)
        pushed = reverted_by(repo, target.hexsha, dest_ref) if dest_ref else None
        if pushed:
            data = {**data, "revert_commit": pushed, "reused": True}
            if not self.pull_request_mode:
                return Outcome.ALREADY, (f"{target.hexsha[:12]} is already reverted by {pushed[:12]} on "
                                         f"{dest_ref}; no second revert"), {**data, "reverted_by": pushed}
            return self._ask_for_merge(target, pushed, reason, data)
        if dest_ref and self.pull_request_mode:
            raise RevertError(f"branch {self.remote}/{destination} exists and does not revert "
                              f"{target.hexsha[:12]}; delete it or merge it, then run again")
        build_on = dest_ref or base_ref
        if not _contains(repo, target.hexsha, build_on):
            raise RevertError(f"commit {target.hexsha[:12]} is not on {build_on}; cannot revert it there")
        revert_sha = self._build_detached(repo, target, reason, build_on)
        error = self._push_to(repo, revert_sha, destination)
        if error:
            raise RevertError(f"push of the revert to {self.remote}/{destination} was rejected: {error}; nothing "
                              f"was pushed. Revert by hand (docs/runbook.md, section 3)")
        remote_head = str(repo.git.ls_remote(self.remote, f"refs/heads/{destination}")).split("\t")[0]
        if remote_head != revert_sha:
            raise RevertError(f"pushed {revert_sha[:12]} but {self.remote}/{destination} is at {remote_head[:12]}")
        data = {**data, "revert_commit": revert_sha}
        if self.pull_request_mode:
            return self._ask_for_merge(target, revert_sha, reason, data)
        return Outcome.DONE, (f"reverted {target.hexsha[:12]} with {revert_sha[:12]}, pushed to "
                              f"{self.remote}/{destination}"), data

    def _build_detached(self, repo: git.Repo, target: git.Commit, reason: str, on: str) -> str:
        """The revert commit on top of ``on``, made on a detached HEAD; the checkout is restored."""
        original = _current_branch(repo) or repo.head.commit.hexsha
        repo.git.checkout("--detach", on)
        try:
            return self._make_revert(repo, target, reason)
        finally:
            repo.git.checkout(original)

    def _push_to(self, repo: git.Repo, sha: str, destination: str) -> str:
        try:
            repo.git.push(self.remote, f"{sha}:refs/heads/{destination}")
            return ""
        except GitCommandError as exc:
            return _last_lines(exc.stderr)

    def _fetch_branch(self, repo: git.Repo, branch: str) -> str | None:
        """``<remote>/<branch>`` freshly fetched, or None when the remote has no such branch."""
        if not str(repo.git.ls_remote("--heads", self.remote, f"refs/heads/{branch}")).strip():
            return None
        repo.git.fetch(self.remote, f"+refs/heads/{branch}:refs/remotes/{self.remote}/{branch}")
        return f"{self.remote}/{branch}"

    def _ask_for_merge(self, target: git.Commit, revert_sha: str, reason: str,
                       data: dict) -> tuple[Outcome, str, dict]:
        where = f"reverted {target.hexsha[:12]} with {revert_sha[:12]} on branch {self.remote}/{self.destination}"
        if self.github is None:
            return Outcome.PENDING_APPROVAL, (f"{where}; open a pull request into {self.branch} and merge it "
                                              "(no GitHub API outside Actions)"), data
        pull, error = open_pull_request(self.github, self.destination, self.branch,
                                        revert_title(target), pull_request_body(target, revert_sha, reason))
        if pull is None:
            return Outcome.PENDING_APPROVAL, (f"{where}; could not open the pull request ({error}): open it "
                                              f"into {self.branch} by hand and merge it"), data
        url = pull.get("html_url", "")
        return Outcome.PENDING_APPROVAL, (f"{where}; pull request #{pull.get('number')} into {self.branch} awaits "
                                          f"review and merge: {url}"), \
            {**data, "pull_request": {"number": pull.get("number"), "url": url}}

    def _revert_and_push(self, repo: git.Repo, target: git.Commit, reason: str,
                         data: dict) -> tuple[Outcome, str, dict]:
        remote_ref = self._fetch(repo)
        self._check_out_branch(repo, remote_ref)
        last_error = ""
        for attempt in range(1, self.max_push_attempts + 1):
            already = reverted_by(repo, target.hexsha, remote_ref)
            if already:
                return Outcome.ALREADY, (f"{target.hexsha[:12]} is already reverted by {already[:12]} "
                                         f"on {remote_ref}; no second revert"), {**data, "reverted_by": already}
            if not _contains(repo, target.hexsha, remote_ref):
                raise RevertError(f"commit {target.hexsha[:12]} is not on {remote_ref}; nothing deployed from "
                                  f"{self.branch} to revert")
            revert_sha = self._make_revert(repo, target, reason)
            pushed, last_error = self._push(repo)
            if pushed:
                return self._verify(repo, revert_sha, target, {**data, "revert_commit": revert_sha,
                                                               "attempts": attempt})
            moved = self._fetch_moved(repo, remote_ref)
            repo.git.reset("--hard", remote_ref)      # drop our unpublished revert; rebuild it on the new head
            if not moved:
                break
        raise RevertError(f"push to {self.remote}/{self.branch} failed after {attempt} attempt(s): {last_error}; "
                          f"the local branch was reset to {remote_ref}. If {self.branch} is protected, leave "
                          "rollback.git_push_branch empty: the revert then goes to a branch and a pull request")

    def _make_revert(self, repo: git.Repo, target: git.Commit, reason: str) -> str:
        args = ["--no-commit"] + (["-m", "1"] if len(target.parents) > 1 else []) + [target.hexsha]
        try:
            repo.git.revert(*args)
        except GitCommandError:
            conflicts = str(repo.git.diff("--name-only", "--diff-filter=U")).split()
            _abandon(repo)
            raise RevertError(f"reverting {target.hexsha[:12]} conflicts with later changes in "
                              f"{', '.join(conflicts) or 'the tree'}; revert it by hand") from None
        if not repo.index.diff("HEAD"):
            _abandon(repo)
            raise RevertError(f"reverting {target.hexsha[:12]} changes nothing: its changes are already "
                              "undone on the branch (not by a revert commit)")
        env = {} if _has_identity(repo) else FALLBACK_IDENTITY
        with repo.git.custom_environment(**env):
            repo.git.commit("--no-verify", "-m", revert_message(target, reason))
        return repo.head.commit.hexsha

    def _push(self, repo: git.Repo) -> tuple[bool, str]:
        try:
            repo.git.push(self.remote, f"refs/heads/{self.branch}:refs/heads/{self.branch}")
            return True, ""
        except GitCommandError as exc:
            return False, _last_lines(exc.stderr)

    def _verify(self, repo: git.Repo, revert_sha: str, target: git.Commit,
                data: dict) -> tuple[Outcome, str, dict]:
        remote_head = str(repo.git.ls_remote(self.remote, f"refs/heads/{self.branch}")).split("\t")[0]
        if remote_head != revert_sha:
            raise RevertError(f"pushed {revert_sha[:12]} but {self.remote}/{self.branch} is at {remote_head[:12]}")
        self._fetch(repo)
        return Outcome.DONE, (f"reverted {target.hexsha[:12]} with {revert_sha[:12]}, pushed to "
                              f"{self.remote}/{self.branch}"), data

    # --- helpers ---------------------------------------------------------------------------
    def _repo(self) -> git.Repo:
        try:
            return git.Repo(self.repo_path)
        except (InvalidGitRepositoryError, NoSuchPathError):
            raise RevertError(f"{self.repo_path} is not a git repository") from None

    def _resolve(self, repo: git.Repo) -> git.Commit:
        if not self.commit:
            raise RevertError("no deploy commit recorded; pass --commit SHA")
        try:
            return repo.commit(self.commit)
        except (BadName, ValueError):
            raise RevertError(f"commit {self.commit!r} not found in {self.repo_path} "
                              f"(fetch {self.remote} or check the sha)") from None

    def _remote_ref(self, repo: git.Repo) -> str | None:
        ref = f"{self.remote}/{self.branch}"
        try:
            repo.commit(ref)
            return ref
        except (BadName, ValueError):
            return None

    def _fetch(self, repo: git.Repo) -> str:
        try:
            repo.git.fetch(self.remote, f"+refs/heads/{self.branch}:refs/remotes/{self.remote}/{self.branch}")
        except GitCommandError as exc:
            raise RevertError(f"cannot fetch {self.remote}/{self.branch}: {_last_lines(exc.stderr)}") from None
        return f"{self.remote}/{self.branch}"

    def _fetch_moved(self, repo: git.Repo, remote_ref: str) -> bool:
        before = repo.commit(remote_ref).hexsha
        self._fetch(repo)
        return repo.commit(remote_ref).hexsha != before

    def _check_out_branch(self, repo: git.Repo, remote_ref: str) -> None:
        if self.branch not in repo.heads:
            repo.git.checkout("-b", self.branch, remote_ref)
            return
        if _current_branch(repo) != self.branch:
            repo.git.checkout(self.branch)
        unpushed = list(repo.iter_commits(f"{remote_ref}..{self.branch}"))
        if unpushed:
            raise RevertError(f"refusing to revert: local {self.branch} has {len(unpushed)} commit(s) not on "
                              f"{remote_ref} ({', '.join(c.hexsha[:12] for c in unpushed[:5])}); "
                              "push or drop them first")
        repo.git.merge("--ff-only", remote_ref)


def revert_message(target: git.Commit, reason: str) -> str:
    """git's own revert message (with the merge form for a merge commit), plus the reason."""
    reverts = f"{REVERTS}{target.hexsha}"
    if len(target.parents) > 1:
        reverts += f", reversing\nchanges made to {target.parents[0].hexsha}."
    else:
        reverts += "."
    return f'Revert "{_summary(target)}"\n\n{reverts}\n\nReason: {reason or "rollback"}\nRolled back by: klaviyo-k8s-pipeline (invoke rollback, or the automatic rollback of invoke deploy)\n'


def revert_title(target: git.Commit) -> str:
    return f'Revert "{_summary(target)}"'


def pull_request_body(target: git.Commit, revert_sha: str, reason: str) -> str:
    return (f"Rollback of the release deployed from {target.hexsha}.\n\n"
            f"Reason: {reason or 'rollback'}\n\nThe revert commit is {revert_sha}. The running release was already "
            "rolled back by the other mechanisms (flag, undo); merging this keeps the next deploy from shipping "
            "the change again.\n\nOpened by klaviyo-k8s-pipeline (invoke rollback, or the automatic rollback "
            "of invoke deploy).")


def open_pull_request(api: GitHubApi, head: str, base: str, title: str,
                      body: str) -> tuple[dict | None, str]:
    """The pull request ``head`` -> ``base``: created, or the open one that already exists."""
    try:
        return api.post("/pulls", {"title": title, "head": head, "base": base, "body": body}), ""
    except GitHubError as exc:
        if exc.status != 422 or "already exists" not in str(exc):
            return None, str(exc)
    try:
        found = api.get("/pulls", head=f"{api.repo.owner}:{head}", base=base, state="open")
    except GitHubError as exc:
        return None, str(exc)
    return (found[0], "") if found else (None, "GitHub says a pull request exists but lists none open")


def reverted_by(repo: git.Repo, sha: str, ref: str) -> str | None:
    """The newest commit on ``ref`` after ``sha`` that reverts it and is not itself reverted."""
    for commit in repo.iter_commits(f"{sha}..{ref}"):
        if f"{REVERTS}{sha}" in str(commit.message) and reverted_by(repo, commit.hexsha, ref) is None:
            return commit.hexsha
    return None


def dirty_files(repo: git.Repo) -> list[str]:
    """Tracked files with staged or unstaged changes (untracked files do not block a revert)."""
    changed = {d.a_path for d in repo.index.diff(None)}
    if repo.head.is_valid():
        changed |= {d.a_path or d.b_path for d in repo.index.diff("HEAD")}
    return sorted(path for path in changed if path)


def _contains(repo: git.Repo, ancestor: str, ref: str) -> bool:
    """Is ``ancestor`` in the history of ``ref`` (both commit-ish)?"""
    return repo.is_ancestor(repo.commit(ancestor), repo.commit(ref))


def _summary(commit: git.Commit) -> str:
    summary = commit.summary
    return summary.decode(errors="replace") if isinstance(summary, bytes) else summary


def _current_branch(repo: git.Repo) -> str | None:
    return None if repo.head.is_detached else repo.active_branch.name


def _has_identity(repo: git.Repo) -> bool:
    reader = repo.config_reader()
    return reader.has_option("user", "email") and reader.has_option("user", "name")


def _abandon(repo: git.Repo) -> None:
    repo.git.reset("--hard", "HEAD")
    try:
        repo.git.revert("--quit")
    except GitCommandError:
        pass


def _last_lines(text: str | None, count: int = 4) -> str:
    """git's stderr, condensed to what explains it (remote messages, rejections, errors)."""
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    lines = [line.removeprefix("stderr: ").strip("'\" ") for line in lines]
    telling = [line for line in lines if line.startswith(("remote:", "!", "error:", "fatal:"))]
    return " | ".join((telling or lines)[-count:]) or "no message from git"
