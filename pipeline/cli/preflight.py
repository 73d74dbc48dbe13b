"""`invoke preflight --env local|staging|prod`: is it safe to deploy now?

Exit codes (pipeline/exit_codes.py): 0 all passed (WARN allowed), 1 a check failed,
3 a check could not run (and none failed), 2 bad configuration or arguments.
"""
from __future__ import annotations

import sys

from invoke import Exit, task
from rich.console import Console

from pipeline.config import ConfigError, load_config
from pipeline.exit_codes import ExitCode
from pipeline.preflight.report import render, to_json
from pipeline.preflight.runner import parse_skip, run_preflight


@task(iterable=["skip"], help={
    "env": "environment in pipeline.toml: local (the sandbox), staging, prod (default local)",
    "skip": "check to skip (repeatable, or a comma list): status-page, api-auth, rate-limit, "
            "sdk-pin, revision, secrets, hardcoded-keys, oauth",
    "json": "print the report as JSON instead of a table",
    "config": "configuration file (default pipeline.toml)",
})
def preflight(c, env="local", skip=None, json=False, config="pipeline.toml"):
    """Run the Klaviyo production checklist's machine-checkable checks, concurrently."""
    try:
        parse_skip(list(skip or ()))          # bad input is named before the configuration is read
        settings = load_config(env, config)
        report = run_preflight(settings, skip or ())
    except ConfigError as exc:
        Console(stderr=True).print(f"[red]configuration error:[/] {exc}", highlight=False)
        raise Exit(code=int(ExitCode.USAGE))
    if json:
        sys.stdout.write(to_json(report) + "\n")
    else:
        render(report)
    if report.exit_code:
        raise Exit(code=int(report.exit_code))
