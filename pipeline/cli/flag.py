"""`invoke flag-on --env ENV`: turn the kill switch back ON once an incident is over.

The reverse of ``invoke rollback --via flag``, verified the same way: the semantic patch
``turnFlagOn`` through the REST API, then a connected LaunchDarkly SDK must serve the flag's
on path. Asks for confirmation (``--yes`` skips it; required in CI or without a terminal),
records what it did in the audit log, never waits for the deploy lock. Exit codes: 0 ON and
verified (or already ON), 6 not done, 2 bad input or not confirmed.
"""
from __future__ import annotations

import os
import sys

from invoke import Exit, task
from rich.console import Console

from pipeline.config import ConfigError, load_config
from pipeline.exit_codes import ExitCode


@task(help={
    "env": "environment in pipeline.toml (required): local (the sandbox), staging, prod",
    "reason": "why it is safe again: recorded in LaunchDarkly's comment and the audit log",
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
    from pipeline.cli.rollback import Request, _audit_log, _confirm, _record, _result_printer, _scrubber
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
    audit = _audit_log(config, environ, built, False, err)
    _record(audit, "note", {"action": "flag_on", "reason": why}, err)
    turn_on = getattr(flag, "turn_on", None)
    if turn_on is None:                  # the mechanism could not be built (no token...): say why
        result = flag.execute(why)
    else:
        result = turn_on(why)
    _result_printer(out, scrub)(result)
    _record(audit, "rollback_action", result.to_json(), err)
    return int(ExitCode.OK if result.ok else ExitCode.ROLLBACK_FAILED)
