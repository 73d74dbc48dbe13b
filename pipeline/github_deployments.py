"""GitHub Deployments: what was deployed where, shown on the repository's environments page.

When a deploy or a rollback runs in GitHub Actions (and ``github.deployments`` is on), it
creates a deployment for the environment, with the commit as ``ref`` and the image in the
payload, and posts its statuses: ``in_progress`` at the start (and again with a new description
when a rollback begins), then ``success``, ``failure`` or ``error``, each with the environment URL
and a link to the run. On success, the deployment it replaced (the environment's newest one
whose latest status was ``success``) gets ``inactive``. A rollback is a deployment of its own
(``task: rollback``), so the environment shows it beside the release it replaced.

This is reporting, never control: no method raises into the caller. A failed call is passed to
``warn`` and, if it was the creation or a transport failure (GitHub unreachable, slow), every
later call is skipped, so a GitHub outage costs the deploy at most one timeout.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping


from pipeline import ci
from pipeline.config import EnvConfig
from pipeline.github_api import GitHubApi, GitHubError, repository_from_environ
from pipeline.promotion import digest_of

if TYPE_CHECKING:
    import httpx

# What each final outcome of a deploy (or a rollback) is on GitHub.
STATES = {"deployed": "success", "nothing_to_do": "success", "done": "success",
          "rolled_back": "failure", "aborted": "failure", "rollback_failed": "error"}
DESCRIPTION_MAX = 140                    # GitHub refuses longer status descriptions
REPLACED_SEARCH = 10                     # how many of the environment's newest deployments to look through


@dataclass(frozen=True)
class Target:
    environment: str
    ref: str                             # the commit deployed (GITHUB_SHA)
    image: str
    task: str = "deploy"                 # deploy | rollback
    environment_url: str = ""
    log_url: str = ""                    # the run
    payload: Mapping[str, Any] = field(default_factory=dict)


class Deployments:
    """One deployment's life on GitHub. Methods return whether GitHub took the call."""

    def __init__(self, api: GitHubApi | None, target: Target | None, warn: Callable[[str], None],
                 off_because: str = "") -> None:
        self.api, self.target, self.warn = api, target, warn
        self.off_because = off_because if api is None or target is None else ""
        self.id: int | None = None
        self.replaced: int | None = None
        self.posted: list[str] = []      # states GitHub accepted, in order

    @property
    def active(self) -> bool:
        return not self.off_because

    def start(self, description: str = "") -> bool:
        """Create the deployment and post ``in_progress``."""
        if not self._usable():
            return False
        assert self.api is not None and self.target is not None
        api, target = self.api, self.target
        self.replaced = self._guarded(self._newest_successful, "find the deployment this one replaces")
        if not self._usable():
            return False
        body = {"ref": target.ref, "task": target.task, "environment": target.environment,
                "auto_merge": False, "required_contexts": [],   # CI gated the commit before the deploy job
                "description": _clip(description or f"{target.task} {target.image}"),
                "payload": {"image": target.image, "digest": digest_of(target.image), **target.payload}}
        created = self._guarded(lambda: api.post("/deployments", body), "create the deployment")
        if not isinstance(created, dict) or not isinstance(created.get("id"), int):
            if created is not None:
                self.warn(f"GitHub deployment for {target.environment} not created: "
                          f"{_clip(str(created.get('message') if isinstance(created, dict) else created))}")
            self.off_because = "the deployment could not be created"
            return False
        self.id = created["id"]
        return self.status("in_progress", description or f"{target.task} of {target.image} started")

    def status(self, state: str, description: str) -> bool:
        """Post a status on our deployment (``in_progress`` again, e.g. "rolling back: ...")."""
        if self.id is None or not self._usable():
            return False
        return self._post_status(self.id, state, description)

    def finish(self, outcome: str, description: str) -> bool:
        """The final status for ``outcome`` (deployed, rolled_back, rollback_failed, done, ...);
        on success the replaced deployment becomes ``inactive``."""
        state = STATES.get(outcome, "error")
        posted = self.status(state, description or outcome)
        if posted and state == "success" and self.replaced is not None and self.target is not None:
            self._post_status(self.replaced, "inactive", f"replaced by deployment {self.id}")
        self.close()
        return posted

    def close(self) -> None:
        if self.api is not None:
            self.api.close()
        self.off_because = self.off_because or "finished"

    # --- calls -----------------------------------------------------------------------------
    def _post_status(self, deployment: int, state: str, description: str) -> bool:
        assert self.api is not None and self.target is not None
        api = self.api
        body = {"state": state, "description": _clip(description), "log_url": self.target.log_url,
                "environment_url": self.target.environment_url, "auto_inactive": False}
        answer = self._guarded(lambda: api.post(f"/deployments/{deployment}/statuses", body),
                               f"post {state} on deployment {deployment}")
        if answer is None:
            return False
        if deployment == self.id:
            self.posted.append(state)
        return True

    def _newest_successful(self) -> int | None:
        assert self.api is not None and self.target is not None
        listed = self.api.get("/deployments", environment=self.target.environment, per_page=REPLACED_SEARCH)
        for deployment in listed or []:
            latest = self.api.get(f"/deployments/{deployment['id']}/statuses", per_page=1)
            if latest and latest[0].get("state") == "success":
                return int(deployment["id"])
        return None

    def _guarded(self, call: Callable[[], Any], what: str) -> Any:
        import httpx   # loaded already: only a built client calls this

        try:
            return call()
        except GitHubError as exc:
            self.warn(f"GitHub deployments: could not {what}: {exc}")
            if exc.status is None:
                self.off_because = f"GitHub unreachable ({exc})"
        except (KeyError, TypeError, ValueError, httpx.HTTPError) as exc:
            self.warn(f"GitHub deployments: could not {what}: unexpected answer ({type(exc).__name__})")
        return None

    def _usable(self) -> bool:
        return self.api is not None and self.target is not None and not self.off_because


def for_run(config: EnvConfig, environ: Mapping[str, str], image: str, warn: Callable[[str], None],
            task: str = "deploy", payload: Mapping[str, Any] | None = None, timeout: float = 5.0,
            transport: httpx.BaseTransport | None = None) -> Deployments:
    """The deployment of this run: active in GitHub Actions with a token, else off (and says why)."""
    if not config.github.deployments:
        return Deployments(None, None, warn, "github.deployments is off")
    repository = repository_from_environ(environ)
    if repository is None:
        return Deployments(None, None, warn, "not in GitHub Actions (or no GITHUB_TOKEN)")
    sha = environ.get("GITHUB_SHA", "")
    if not sha:
        return Deployments(None, None, warn, "GITHUB_SHA is not set")
    target = Target(config.name, sha, image, task, config.github.environment_url,
                    ci.detect(environ).run_url or "", {"app": config.app, **(payload or {})})
    return Deployments(GitHubApi(repository, timeout, transport), target, warn)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DESCRIPTION_MAX else text[:DESCRIPTION_MAX - 1] + "…"
