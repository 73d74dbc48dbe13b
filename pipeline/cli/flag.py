"""`invoke flag-on --env ENV`: turn the kill switch back ON once an incident is over.

The reverse of ``invoke rollback --via flag``, verified the same way: the semantic patch
``turnFlagOn`` through the REST API, then a connected LaunchDarkly SDK must serve the flag's
on path. Asks for confirmation (``--yes`` skips it; required in CI or without a terminal),
records what it did as a release record (kind ``flag``), never waits for the deploy lock. Exit codes: 0 ON and
verified (or already ON), 6 not done, 2 bad input or not confirmed.
"""
from __future__ import annotations

import os
import sys
from typing import Callable

from invoke import Exit, task
from rich.console import Console

from pipeline.config import ConfigError, EnvConfig, load_config
from pipeline.exit_codes import ExitCode


@task(help={
    "env": "environment in pipeline.toml (required): local (the sandbox), staging, prod",
    "reason": "why it is safe again: recorded in LaunchDarkly's comment and the release record (default: "
              "\"incident over: kill switch back on (invoke flag-on)\")",
    "yes": "do not ask for confirmation (required in CI or without a terminal)",
    "config": "configuration file (default pipeline.toml)",
})
def flag_on(c, env="", reason="", yes=False, config="pipeline.toml"):
    """Turn the kill switch back ON (after an incident), verified through the LaunchDarkly SDK."""
    err = Console(stderr=True)
    if not env:
        err.print("[red]error:[/] --env is required (an environment in pipeline.toml)", highlight=False)
        raise Exit(code=int(ExitCode.USAGE))
    code = main(env, reason, yes, config, Console(), err, sys.stdin.isatty())
    if code:
        raise Exit(code=code)


def main(env: str, reason: str, yes: bool, config_path: str, out: Console, err: Console, isatty: bool,
         environ: dict[str, str] | None = None) -> int:
    from pipeline.cli.rollback import Request, _confirm, _result_printer, _scrubber
    from pipeline.rollback import factory

    environ = dict(os.environ if environ is None else environ)
    try:
        config = load_config(env, config_path, environ)
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        return int(ExitCode.USAGE)
    built = factory.build(["flag"], config)
    flag, scrub = built.mechanisms[0], _scrubber(built)
    plan = flag.plan()
    out.print(f"kill switch: {scrub(plan.current)} -> ON", highlight=False)
    refusal = _confirm(Request(env, yes=yes), environ, isatty, input, out, config)
    if refusal:
        err.print(f"[red]{refusal.replace('roll back', 'turn the kill switch on in')}[/]; nothing changed",
                  highlight=False)
        return int(ExitCode.USAGE)
    why = reason.strip() or "incident over: kill switch back on (invoke flag-on)"
    turn_on = getattr(flag, "turn_on", None)
    if turn_on is None:                  # the mechanism could not be built (no token...): say why
        result = flag.execute(why)
    else:
        result = turn_on(why)
    _result_printer(out, scrub)(result)
    code = int(ExitCode.OK if result.ok else ExitCode.ROLLBACK_FAILED)
    _record(config, {"action": "flag_on", "reason": why, "exit_code": code, "result": result.to_json()}, scrub, err)
    return code


def _record(config: EnvConfig, body: dict[str, object], scrub: Callable[[str], str], err: Console) -> None:
    """One release record (kind ``flag``): who turned the kill switch back on, when, and why."""
    from pipeline.rollback import audit_trail

    warn = lambda why: err.print(f"[yellow]warning:[/] {scrub(why)}", highlight=False)  # noqa: E731
    store = audit_trail.open_records(config, warn)
    if store is None:
        return
    try:
        store.append("flag", body)
    except Exception as exc:  # noqa: BLE001 - the flag is on; only its record failed
        warn(f"the kill switch change is not recorded: {type(exc).__name__}: {exc}")
