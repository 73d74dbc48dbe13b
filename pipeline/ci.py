"""Where are we running? CI detection and the actor, from the environment (pure)."""
from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class RunContext:
    ci: bool
    github_actions: bool
    actor: str
    run_url: str | None
    step_summary: str | None     # $GITHUB_STEP_SUMMARY: a file the job summary Markdown is appended to


def detect(environ: Mapping[str, str]) -> RunContext:
    github = environ.get("GITHUB_ACTIONS") == "true"
    ci = github or environ.get("CI", "").lower() in ("true", "1", "yes")
    run_url = None
    if github and environ.get("GITHUB_RUN_ID"):
        run_url = (f"{environ.get('GITHUB_SERVER_URL', 'https://github.com')}/"
                   f"{environ.get('GITHUB_REPOSITORY', '')}/actions/runs/{environ['GITHUB_RUN_ID']}")
    actor = environ.get("GITHUB_ACTOR") if github else None
    if not actor:
        try:
            actor = environ.get("USER") or getpass.getuser()
        except (KeyError, OSError):
            actor = "unknown"
    return RunContext(ci, github, actor, run_url, environ.get("GITHUB_STEP_SUMMARY") if github else None)
