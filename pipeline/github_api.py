"""A small GitHub REST client for the repository a workflow runs in (thin I/O).

Built from the variables GitHub Actions sets (``GITHUB_API_URL``, ``GITHUB_REPOSITORY``,
``GITHUB_SERVER_URL``) and the job's token (``GITHUB_TOKEN``, passed to the step as an
environment variable). Every failure is a :class:`GitHubError` whose message names the call and
the status, never the token.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:   # httpx is imported when a client is built: outside Actions nothing loads it
    import httpx

from pipeline.secrets import Secret

API_VERSION = "2022-11-28"


class GitHubError(Exception):
    """A call failed (transport, status >= 400, or a body that is not JSON)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Repository:
    api_url: str                         # https://api.github.com (GHES: https://host/api/v3)
    server_url: str                      # https://github.com
    name: str                            # owner/repo
    token: Secret

    @property
    def owner(self) -> str:
        return self.name.split("/", 1)[0]

    def html_url(self, suffix: str = "") -> str:
        return f"{self.server_url}/{self.name}{suffix}"


def repository_from_environ(environ: Mapping[str, str]) -> Repository | None:
    """The workflow's repository and token; None outside Actions or without a token."""
    token = environ.get("GITHUB_TOKEN") or environ.get("GH_TOKEN")
    if environ.get("GITHUB_ACTIONS") != "true" or not token or "/" not in environ.get("GITHUB_REPOSITORY", ""):
        return None
    return Repository(environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/"),
                      environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/"),
                      environ["GITHUB_REPOSITORY"], Secret("GITHUB_TOKEN", token))


class GitHubApi:
    def __init__(self, repo: Repository, timeout: float = 5.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        import httpx

        self.repo = repo
        self._http = httpx.Client(base_url=f"{repo.api_url}/repos/{repo.name}", timeout=timeout,
                                  transport=transport, headers={
                                      "Accept": "application/vnd.github+json",
                                      "X-GitHub-Api-Version": API_VERSION,
                                      "User-Agent": "klaviyo-k8s-pipeline"})

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params)

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.call("POST", path, json=dict(body))

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """``path`` is relative to ``/repos/{owner}/{repo}``; returns the decoded JSON body."""
        import httpx

        what = f"{method} /repos/{self.repo.name}{path}"
        headers = {"Authorization": f"Bearer {self.repo.token.reveal()}"}
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TimeoutException:
            raise GitHubError(f"{what}: no answer within {self._http.timeout.read} s") from None
        except httpx.HTTPError as exc:
            raise GitHubError(f"{what}: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise GitHubError(f"{what}: HTTP {response.status_code}: {_message(response)}", response.status_code)
        try:
            return response.json() if response.content else None
        except ValueError:
            raise GitHubError(f"{what}: HTTP {response.status_code} with a body that is not JSON",
                              response.status_code) from None


def _message(response: httpx.Response) -> str:
    """GitHub's own words: ``message`` plus each ``errors[].message`` (validation failures)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if not isinstance(body, dict):
        return str(body)[:200]
    details = [e.get("message") or e.get("code", "") for e in body.get("errors") or [] if isinstance(e, dict)]
    return "; ".join([str(body.get("message", ""))] + [str(d) for d in details if d])[:300]
