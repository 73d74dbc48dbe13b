"""`invoke abort --env ENV`: ask the running deploy to stop, and report how it ended.

The request is written on the deploy's Lease (``pipeline.abort``); the deploy sees it through
its watch, stops at once, rolls an unverified release back by its policy and releases the
lock, leaving its outcome on the Lease. Exit codes: 0 the deploy stopped and the cluster is
known-good (or no deploy was running), 6 it did not stop in time or its rollback failed,
2 bad input. If the holder is dead (its lease expired), ``invoke rollback`` takes over.
"""
from __future__ import annotations

import getpass
import os
import socket
from datetime import datetime, timezone

from invoke import Exit, task
from rich.console import Console

from pipeline.config import ConfigError, EnvConfig, load_config
from pipeline.exit_codes import ExitCode

DEFAULT_TIMEOUT = 120.0


@task(help={
    "env": "environment in pipeline.toml (required): local (the sandbox), staging, prod",
    "reason": "why: recorded with the request and in the deploy's outcome (default: \"aborted by on-call "
              "(invoke abort)\")",
    "timeout": "seconds to wait for the deploy to stop and roll back (default 120)",
    "config": "configuration file (default pipeline.toml)",
})
def abort(c, env="", reason="", timeout=DEFAULT_TIMEOUT, config="pipeline.toml"):
    """Stop the running deploy now: it rolls back an unverified release and reports how it ended."""
    err = Console(stderr=True)
    try:
        if not env:
            raise ConfigError("--env is required (an environment in pipeline.toml)")
        settings = load_config(env, config)
        seconds = float(timeout)
    except (ConfigError, ValueError) as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise Exit(code=int(ExitCode.USAGE))
    code = main(settings, reason.strip() or "aborted by on-call (invoke abort)", seconds, Console(), err)
    if code:
        raise Exit(code=code)


def main(config: EnvConfig, reason: str, timeout: float, out: Console, err: Console) -> int:
    from pipeline.abort import request_abort, wait_for_release
    from pipeline.kube.client import api_client
    from pipeline.lock import LeaseApi, lease_name, lease_status

    leases = LeaseApi(api_client(config.kube), config.kube.namespace)
    name = lease_name(config.app, config.name)
    status = lease_status(leases.get(name), datetime.now(timezone.utc))
    if not status.held:
        dead = f" (its last holder {status.holder} stopped renewing: run invoke rollback to finish its work)" \
            if status.holder else ""
        out.print(f"no deploy of {config.app} in {config.name} is running{dead}", highlight=False)
        return int(ExitCode.OK if not status.holder else ExitCode.ROLLBACK_FAILED)
    request = request_abort(leases, name, f"{_user()}@{socket.gethostname()}", reason)
    if request is None:
        out.print("the deploy finished meanwhile", highlight=False)
        return int(ExitCode.OK)
    out.print(f"asked the deploy held by {status.holder} to stop ({reason}); waiting up to {timeout:.0f}s",
              highlight=False)
    stopped = wait_for_release(leases, name, status.holder, timeout)
    (out if stopped.converged else err).print(f"{'stopped' if stopped.stopped else 'not stopped'}: "
                                              f"{stopped.detail}", highlight=False)
    return int(ExitCode.OK if stopped.converged else ExitCode.ROLLBACK_FAILED)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")
