"""A GitHub REST stand-in for the tests: deployments, deployment statuses and pull requests of one
repository, answering with the real API's shapes, status codes and validation messages
(docs.github.com, REST "Deployments", "Deployment statuses", "Pulls"). It records every request."""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .receivers import Answer, Receiver, Seen

TOKEN = "ghs_standintoken0123456789"
STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
DOCS = "https://docs.github.com/rest"


@dataclass
class GitHubState:
    repo: str = "acme/klaviyo-sync"
    deployments: list[dict[str, Any]] = field(default_factory=list)     # oldest first
    statuses: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    pulls: list[dict[str, Any]] = field(default_factory=list)
    bare: Path | None = None             # a git remote: a pull request's head must be a branch of it
    forbid_pulls: bool = False           # the repository does not let Actions create pull requests
    fail: dict[str, int] = field(default_factory=dict)   # "POST /deployments" -> status to answer
    next_id: int = 1000


class GitHubStandIn(Receiver):
    def __init__(self, state: GitHubState | None = None) -> None:
        self.state = state or GitHubState()
        super().__init__(self.answer)

    def environ(self, **extra: str) -> dict[str, str]:
        """What a GitHub Actions job sees (with the token passed as GITHUB_TOKEN)."""
        return {"GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_API_URL": self.url,
                "GITHUB_SERVER_URL": "https://github.example", "GITHUB_REPOSITORY": self.state.repo,
                "GITHUB_RUN_ID": "4242", "GITHUB_SHA": "c0ffee" * 6 + "c0ff", "GITHUB_TOKEN": TOKEN,
                "GITHUB_ACTOR": "octocat", **extra}

    # --- routing ---------------------------------------------------------------------------------
    def answer(self, seen: Seen) -> Answer:
        if seen.headers.get("authorization") != f"Bearer {TOKEN}":
            return Answer(401, {"message": "Bad credentials", "documentation_url": DOCS})
        prefix = f"/repos/{self.state.repo}"
        if not seen.path.startswith(prefix):
            return _not_found()
        path = seen.path[len(prefix):]
        forced = self.state.fail.get(f"{seen.method} {re.sub(r'/[0-9]+', '/{id}', path)}")
        if forced:
            return Answer(forced, {"message": "Server Error" if forced >= 500 else "Forced", "documentation_url": DOCS})
        for method, pattern, handler in self._routes():
            match = re.fullmatch(pattern, path)
            if method == seen.method and match:
                return handler(seen, *match.groups())
        return _not_found()

    def _routes(self) -> list[tuple[str, str, Any]]:
        return [("POST", r"/deployments", self.create_deployment),
                ("GET", r"/deployments", self.list_deployments),
                ("POST", r"/deployments/(\d+)/statuses", self.create_status),
                ("GET", r"/deployments/(\d+)/statuses", self.list_statuses),
                ("POST", r"/pulls", self.create_pull),
                ("GET", r"/pulls", self.list_pulls)]

    # --- deployments -------------------------------------------------------------------------------
    def create_deployment(self, seen: Seen) -> Answer:
        body = seen.json()
        if not isinstance(body.get("ref"), str) or not body["ref"]:
            return _invalid("Deployment", "ref", "missing_field")
        if body.get("required_contexts") is None:
            # The job's own check runs are still in progress: GitHub's default check of every context fails.
            return Answer(409, {"message": f"Conflict: Commit status checks failed for {body['ref']}.",
                                "documentation_url": DOCS})
        payload = body.get("payload") or {}
        deployment = {"url": self._api(f"/deployments/{self.state.next_id}"), "id": self.state.next_id,
                      "node_id": f"DE_{self.state.next_id}", "sha": body["ref"], "ref": body["ref"],
                      "task": body.get("task", "deploy"), "payload": payload,
                      "original_environment": body.get("environment", "production"),
                      "environment": body.get("environment", "production"), "description": body.get("description"),
                      "creator": {"login": "github-actions[bot]"}, "created_at": "2026-11-24T19:00:00Z",
                      "updated_at": "2026-11-24T19:00:00Z",
                      "statuses_url": self._api(f"/deployments/{self.state.next_id}/statuses"),
                      "repository_url": self._api(""),
                      "transient_environment": bool(body.get("transient_environment", False)),
                      "production_environment": bool(body.get("production_environment",
                                                              body.get("environment") == "production"))}
        self.state.next_id += 1
        self.state.deployments.append(deployment)
        self.state.statuses[deployment["id"]] = []
        return Answer(201, deployment)

    def list_deployments(self, seen: Seen) -> Answer:
        found = [d for d in reversed(self.state.deployments)
                 if "environment" not in seen.query or d["environment"] == seen.query["environment"]]
        return Answer(200, found[:int(seen.query.get("per_page", 30))])

    def create_status(self, seen: Seen, deployment_id: str) -> Answer:
        number = int(deployment_id)
        if number not in self.state.statuses:
            return _not_found()
        body = seen.json()
        if body.get("state") not in STATES:
            return _invalid("DeploymentStatus", "state", "custom", "state is not included in the list")
        if len(body.get("description") or "") > 140:
            return _invalid("DeploymentStatus", "description", "custom",
                            "description is too long (maximum is 140 characters)")
        status = {"url": self._api(f"/deployments/{number}/statuses/{len(self.state.statuses[number]) + 1}"),
                  "id": len(self.state.statuses[number]) + 1, "state": body["state"],
                  "creator": {"login": "github-actions[bot]"}, "description": body.get("description", ""),
                  "environment": body.get("environment") or self._deployment(number)["environment"],
                  "target_url": body.get("log_url", ""), "log_url": body.get("log_url", ""),
                  "environment_url": body.get("environment_url", ""),
                  "created_at": "2026-11-24T19:00:00Z", "updated_at": "2026-11-24T19:00:00Z",
                  "deployment_url": self._api(f"/deployments/{number}"), "repository_url": self._api("")}
        self.state.statuses[number].append(status)
        return Answer(201, status)

    def list_statuses(self, seen: Seen, deployment_id: str) -> Answer:
        number = int(deployment_id)
        if number not in self.state.statuses:
            return _not_found()
        newest_first = list(reversed(self.state.statuses[number]))
        return Answer(200, newest_first[:int(seen.query.get("per_page", 30))])

    # --- pull requests -----------------------------------------------------------------------------
    def create_pull(self, seen: Seen) -> Answer:
        if self.state.forbid_pulls:
            return Answer(403, {"message": "GitHub Actions is not permitted to create or approve pull requests.",
                                "documentation_url": DOCS})
        body = seen.json()
        for name in ("title", "head", "base"):
            if not body.get(name):
                return _invalid("PullRequest", name, "missing_field")
        if self.state.bare is not None and not self._branch_exists(body["head"]):
            return _invalid("PullRequest", "head", "invalid")
        owner = self.state.repo.split("/")[0]
        if any(p["head"]["ref"] == body["head"] and p["state"] == "open" for p in self.state.pulls):
            return _invalid("PullRequest", None, "custom",
                            f"A pull request already exists for {owner}:{body['head']}.")
        number = len(self.state.pulls) + 1
        pull = {"url": self._api(f"/pulls/{number}"), "id": 9000 + number, "number": number, "state": "open",
                "title": body["title"], "body": body.get("body"),
                "html_url": f"https://github.example/{self.state.repo}/pull/{number}",
                "head": {"ref": body["head"], "label": f"{owner}:{body['head']}"},
                "base": {"ref": body["base"], "label": f"{owner}:{body['base']}"}}
        self.state.pulls.append(pull)
        return Answer(201, pull)

    def list_pulls(self, seen: Seen) -> Answer:
        found = [p for p in self.state.pulls
                 if seen.query.get("state", "open") in (p["state"], "all")
                 and ("head" not in seen.query or p["head"]["label"] == seen.query["head"])
                 and ("base" not in seen.query or p["base"]["ref"] == seen.query["base"])]
        return Answer(200, found)

    # --- helpers -----------------------------------------------------------------------------------
    def _api(self, suffix: str) -> str:
        return f"{self.url}/repos/{self.state.repo}{suffix}"

    def _deployment(self, number: int) -> dict[str, Any]:
        return next(d for d in self.state.deployments if d["id"] == number)

    def _branch_exists(self, branch: str) -> bool:
        result = subprocess.run(["git", "--git-dir", str(self.state.bare), "rev-parse", "--verify", "-q",
                                 f"refs/heads/{branch}"], capture_output=True)
        return result.returncode == 0

    def states(self, deployment_id: int) -> list[str]:
        return [s["state"] for s in self.state.statuses[deployment_id]]


def _not_found() -> Answer:
    return Answer(404, {"message": "Not Found", "documentation_url": DOCS})


def _invalid(resource: str, field_name: str | None, code: str, message: str | None = None) -> Answer:
    error: dict[str, Any] = {"resource": resource, "code": code}
    if field_name:
        error["field"] = field_name
    if message:
        error["message"] = message
    return Answer(422, {"message": "Validation Failed", "errors": [error], "documentation_url": DOCS})
