"""`invoke rollback --env ENV`: roll a release back, on demand, by flag, rollout undo and/or git revert.

Order: the kill-switch flag first (fastest), then the others as asked (``--via``, else the
environment's ``rollback.via``). Each mechanism's plan (current and target state) is shown,
then confirmed (``--yes`` skips; in CI or without a terminal ``--yes`` is required), then
each runs and verifies. Exit codes (docs/runbook.md): 0 every mechanism asked succeeded (or
was already in place, or --dry-run); 6 at least one did not ("done: X; remains: Y");
2 bad input or configuration, or not confirmed: nothing changed.
"""
from __future__ import annotations

import json as jsonlib
import os
import re
import sys
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from invoke import Exit, task
from rich.console import Console
from rich.table import Table

from pipeline import ci
from pipeline.audit import AuditError, AuditLog, default_path, entries
from pipeline.config import ConfigError, EnvConfig, load_config
from pipeline.deploy import recovery
from pipeline.exit_codes import ExitCode
from pipeline.lock import DeployLock, LockHeld
from pipeline.report.markdown import append_summary, rollback_summary
from pipeline.rollback import audit_trail, factory, policy
from pipeline.rollback.result import Mechanism, Plan, RollbackResult
from pipeline.rollback.runner import RollbackRun, run
from pipeline.secrets import redact

class UsageError(ValueError):
    """Bad input: the message names the option and what is accepted."""


@dataclass(frozen=True)
class Request:
    env: str
    via: tuple[str, ...] = ()
    to_revision: int = 0
    commit: str | None = None
    reason: str = ""
    yes: bool = False
    dry_run: bool = False
    json: bool = False
    config: str = "pipeline.toml"
    json_file: str = ""


def parse(env: str, via: str = "", to_revision: str | int = "", commit: str = "", reason: str = "",
          yes: bool = False, dry_run: bool = False, json: bool = False,
          config: str = "pipeline.toml", json_file: str = "") -> Request:
    """Validate the command line; raises UsageError before anything is read or changed."""
    if not env:
        raise UsageError("--env is required (an environment in pipeline.toml, e.g. local, staging, prod)")
    try:
        mechanisms = policy.parse_via(via) if via else ()
    except policy.PolicyError as exc:
        raise UsageError(str(exc)) from None
    revision = _revision(to_revision)
    if commit and not re.fullmatch(r"[0-9a-fA-F]{4,40}", commit):
        raise UsageError(f"--commit {commit!r} is not a commit sha (4 to 40 hex digits)")
    if revision and mechanisms and "undo" not in mechanisms:
        raise UsageError("--to-revision applies to rollout undo; add undo to --via")
    return Request(env, mechanisms, revision, commit or None, reason.strip(), yes, dry_run, json, config,
                   json_file)


def _revision(value: str | int) -> int:
    if value in ("", None, 0):
        return 0
    try:
        number = int(str(value))
    except ValueError:
        number = -1
    if number < 1:
        raise UsageError(f"--to-revision {value!r} must be a revision number (a positive integer)")
    return number


# --- the command ---------------------------------------------------------------------------------

def main(request: Request, environ: Mapping[str, str], out: Console, err: Console,
         isatty: bool, ask: Callable[[str], str] = input) -> int:
    """The whole command; returns the exit code. ``out`` gets the result, ``err`` the narration."""
    human = err if request.json else out
    try:
        config = load_config(request.env, request.config, environ)
        decision = policy.on_demand(request.via or None, config.rollback.via)
        _check_applicable(request, decision.mechanisms)
    except (ConfigError, policy.PolicyError, UsageError) as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        return int(ExitCode.USAGE)
    try:
        lock, unlocked_why = (None, "") if request.dry_run else take_lock(config)
    except LockHeld as held:
        err.print(f"[red]refused:[/] {held}; a running deploy rolls itself back on a failed verdict. "
                  "See docs/runbook.md to act by hand.", highlight=False)
        return int(ExitCode.LOCKED)
    if unlocked_why:
        err.print(f"[yellow]warning:[/] proceeding without the deploy lock: {unlocked_why}", highlight=False)
    interrupted = recovery.in_flight_of(lock.previous.info) if lock and lock.previous else None
    if interrupted:
        human.print(f"[yellow]an interrupted deploy of {interrupted.image} by {interrupted.holder} "
                    f"(started {interrupted.started}) left its rollout unverified; undo returns to revision "
                    f"{interrupted.from_revision} and resumes the deployment[/]", highlight=False)
    try:
        return _run(request, config, decision, environ, out, err, human, isatty, ask, interrupted)
    finally:
        if lock is not None:
            lock.release(keep_record=bool(interrupted) and "undo" not in decision.mechanisms)


def take_lock(config: EnvConfig) -> tuple[DeployLock | None, str]:
    """The environment's deploy lock, so a rollback never races a deploy. A stale lease (its
    holder died) is taken over; an unreachable cluster leaves the flag and git mechanisms usable
    (returns no lock and why)."""
    from pipeline.kube.client import api_client   # the kubernetes package: only when a lock is taken

    try:
        api = api_client(config.kube)
        lock = DeployLock.for_environment(config, api, info={"operation": "rollback"})
        lock.acquire()
        return lock, ""
    except LockHeld:
        raise
    except Exception as exc:  # noqa: BLE001 - no cluster: the undo will say so itself
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _run(request: Request, config: EnvConfig, decision: policy.Decision, environ: Mapping[str, str],
         out: Console, err: Console, human: Console, isatty: bool, ask: Callable[[str], str],
         interrupted: recovery.InFlight | None) -> int:
    commit = request.commit or (deployed_commit_from_audit(config, environ) if "git" in decision.mechanisms else None)
    to_revision = request.to_revision or (interrupted.from_revision or 0 if interrupted else 0)
    built = factory.build(decision.mechanisms, config, factory.Options(
        to_revision=to_revision, commit=commit, resume_paused=interrupted is not None,
        good_images=verified_images_from_audit(config, environ), on_progress=_progress_printer(human)))
    scrub = _scrubber(built)
    plans = [_plan(m, scrub) for m in built.mechanisms]
    human.print(_plan_table(config, plans, request))
    refusal = _confirm(request, environ, isatty, ask, human, config)
    if refusal:
        err.print(f"[red]{refusal}[/]; nothing changed", highlight=False)
        return int(ExitCode.USAGE)
    reason = request.reason or "on-demand rollback (invoke rollback)"
    audit = _audit_log(config, environ, built, request.dry_run, err)
    _record(audit, "rollback_started", audit_trail.started(decision.mechanisms, reason), err)
    printer = _result_printer(human, scrub)

    def on_result(result: RollbackResult) -> None:
        printer(result)
        _record(audit, "rollback_action", audit_trail.action(result), err)

    outcome = run(built.mechanisms, reason, request.dry_run, on_result, scrub)
    code = int(ExitCode.OK if outcome.ok else ExitCode.ROLLBACK_FAILED)
    head = _record(audit, "rollback_finished", audit_trail.finished(outcome, code), err)
    human.print(_summary_line(outcome), highlight=False)
    document = {"env": config.name, "app": config.app, "mechanisms": list(decision.mechanisms),
                "plans": [_plan_json(p) for p in plans], **outcome.to_json(), "exit_code": code,
                "audit_head": head}
    _publish(document, request, environ, out, err, scrub)
    return code


def _publish(document: dict, request: Request, environ: Mapping[str, str], out: Console, err: Console,
             scrub: Callable[[str], str]) -> None:
    """--json on stdout, --json-file, and the GitHub job summary when running in Actions."""
    text = scrub(jsonlib.dumps(document, indent=2, default=str)) + "\n"
    if request.json:
        out.file.write(text)
    try:
        if request.json_file:
            with open(request.json_file, "w", encoding="utf-8") as handle:
                handle.write(text)
        append_summary(ci.detect(environ).step_summary, scrub(rollback_summary(document)))
    except OSError as exc:
        err.print(f"[yellow]warning:[/] could not write the result: {exc}", highlight=False)


def _check_applicable(request: Request, mechanisms: Sequence[str]) -> None:
    """An option for a mechanism that will not run is a mistake, not something to ignore."""
    if request.to_revision and "undo" not in mechanisms:
        raise UsageError(f"--to-revision applies to rollout undo, which is not among {', '.join(mechanisms)}")
    if request.commit and "git" not in mechanisms:
        raise UsageError(f"--commit applies to git revert, which is not among {', '.join(mechanisms)}")


def deployed_commit_from_audit(config: EnvConfig, environ: Mapping[str, str]) -> str | None:
    """The commit the latest successful deploy of this environment recorded, if any."""
    try:
        path = default_path(config.name, environ)
        return audit_trail.last_deployed_commit(entries(path)) if path.exists() else None
    except (AuditError, OSError, ValueError):
        return None


def verified_images_from_audit(config: EnvConfig, environ: Mapping[str, str]) -> frozenset[str]:
    """Images a deploy of this environment verified (and no later deploy rejected)."""
    try:
        path = default_path(config.name, environ)
        return audit_trail.verified_images(entries(path)) if path.exists() else frozenset()
    except (AuditError, OSError, ValueError):
        return frozenset()


def _audit_log(config: EnvConfig, environ: Mapping[str, str], built: factory.Built, dry_run: bool,
               err: Console) -> AuditLog | None:
    if dry_run:
        return None                      # a dry run changes nothing, the audit log included
    try:
        return AuditLog(default_path(config.name, environ), config.name, config.app,
                        tuple(s for s in built.secrets if s is not None))
    except (AuditError, OSError) as exc:
        err.print(f"[yellow]warning:[/] audit log unavailable: {exc}", highlight=False)
        return None


def _record(audit: AuditLog | None, kind: str, data: dict, err: Console) -> str | None:
    """Record and return the new head hash; an audit failure is reported, never stops a rollback."""
    if audit is None:
        return None
    try:
        return audit.append(kind, data)["hash"]
    except (AuditError, OSError) as exc:
        err.print(f"[yellow]warning:[/] could not write {kind} to the audit log: {exc}", highlight=False)
        return None


def _confirm(request: Request, environ: Mapping[str, str], isatty: bool, ask: Callable[[str], str],
             console: Console, config: EnvConfig) -> str | None:
    """None when confirmed; else why not."""
    if request.yes or request.dry_run:
        return None
    context = ci.detect(environ)
    if context.ci or not isatty:
        where = "in CI (CI=true)" if context.ci else "without a terminal"
        return f"refusing to roll back {config.name} {where} without --yes"
    answer = ask(f"Roll back {config.name} as planned above? [y/N] ").strip().lower()
    return None if answer in ("y", "yes") else "not confirmed"


def _plan(mechanism: Mechanism, scrub: Callable[[str], str]) -> Plan:
    try:
        return mechanism.plan()
    except Exception as exc:
        return Plan(mechanism.name, "unknown", scrub(f"cannot plan: {type(exc).__name__}: {exc}"),
                    data={"error": scrub(str(exc))})


def _plan_table(config: EnvConfig, plans: Sequence[Plan], request: Request) -> Table:
    title = f"Rollback plan: {config.app} in {config.name}" + (" (dry run)" if request.dry_run else "")
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("mechanism")
    table.add_column("now")
    table.add_column("after rollback")
    for number, plan in enumerate(plans, 1):
        target = f"[yellow]{plan.target}[/]" if plan.noop else (
            f"[red]{plan.target}[/]" if plan.data.get("error") else plan.target)
        table.add_row(str(number), plan.mechanism, plan.current, target)
    return table


def _progress_printer(console: Console) -> Callable:
    seen: list[str] = []

    def show(status, deployment) -> None:
        if not seen or seen[-1] != status.message:
            seen.append(status.message)
            console.print(f"  [dim]{status.message}[/]", highlight=False)
    return show


def _result_printer(console: Console, scrub: Callable[[str], str]) -> Callable[[RollbackResult], None]:
    marks = {"done": "[green]done[/]", "already": "[green]already[/]", "dry_run": "[cyan]dry run[/]",
             "failed": "[red]FAILED[/]", "pending_approval": "[yellow]pending approval[/]"}

    def show(result: RollbackResult) -> None:
        console.print(f"{result.mechanism:>5}: {marks.get(result.outcome.value, result.outcome.value)} "
                      f"{scrub(result.detail)} [dim]({result.duration_seconds:.1f}s)[/]", highlight=False)
    return show


def _summary_line(outcome: RollbackRun) -> str:
    colour = "green" if outcome.ok else "red"
    return f"[bold {colour}]{outcome.summary()}[/]"


def _plan_json(plan: Plan) -> dict:
    return {"mechanism": plan.mechanism, "current": plan.current, "target": plan.target,
            "noop": plan.noop, "data": plan.data}


def _scrubber(built: factory.Built) -> Callable[[str], str]:
    secrets = [s for s in built.secrets if s is not None]
    return lambda text: redact(text, secrets)


@task(help={
    "env": "environment in pipeline.toml (required): local (the sandbox), staging, prod",
    "via": "mechanisms, comma separated: flag,undo,git (default: the environment's rollback.via); "
           "the flag always runs first",
    "to-revision": "rollout undo to this revision (default: the newest earlier revision whose image a deploy "
                   "verified, per the audit log; if none, the previous revision; after an interrupted deploy, "
                   "the revision it started from)",
    "commit": "git revert this commit (default: the commit of the newest successful deploy in the audit log)",
    "reason": "why: recorded in the revert commit and the audit log (default: \"on-demand rollback "
              "(invoke rollback)\")",
    "yes": "do not ask for confirmation (required in CI or without a terminal)",
    "dry-run": "show what would be done; change nothing",
    "json": "print the machine-readable result on stdout (narration goes to stderr)",
    "config": "configuration file (default pipeline.toml)",
    "json-file": "also write the machine-readable result to this file (CI artifact)",
})
def rollback(c, env="", via="", to_revision="", commit="", reason="", yes=False, dry_run=False,
             json=False, config="pipeline.toml", json_file=""):
    """Roll the release back now: kill-switch flag, Kubernetes rollout undo, git revert."""
    err = Console(stderr=True)
    try:
        request = parse(env, via, to_revision, commit, reason, yes, dry_run, json, config, json_file)
    except UsageError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise Exit(code=int(ExitCode.USAGE))
    try:
        code = main(request, os.environ, Console(), err, sys.stdin.isatty())
    except KeyboardInterrupt:
        err.print("[red]interrupted[/]: a rollback may be half done; check the state "
                  "(docs/runbook.md, section 3) before running it again", highlight=False)
        code = int(ExitCode.INTERRUPTED)
    if code:
        raise Exit(code=code)
