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
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from invoke import Exit, task
from rich.console import Console
from rich.table import Table

from pipeline import ci
from pipeline.config import ConfigError, EnvConfig, load_config
from pipeline.exit_codes import ExitCode
from pipeline.lock import DeployLock, LockHeld
from pipeline.report.markdown import append_summary, rollback_summary
from pipeline.rollback import audit_trail, factory, policy
from pipeline.rollback.result import Mechanism, Plan, RollbackResult
from pipeline.rollback.runner import RollbackRun, run
from pipeline.secrets import redact

if TYPE_CHECKING:   # the records' modules load when a mechanism needs them, after the kill switch's PATCH
    from pipeline.deploy.state import Intent
    from pipeline.records import Records

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
         isatty: bool, ask: Callable[[str], str] = input, records: Records | None = None) -> int:
    """The whole command; returns the exit code. ``out`` gets the result, ``err`` the narration.
    ``records``: the release record store (default: the environment's, in its cluster)."""
    human = err if request.json else out
    try:
        config = load_config(request.env, request.config, environ)
        decision = policy.on_demand(request.via or None, config.rollback.via)
        _check_applicable(request, decision.mechanisms)
    except (ConfigError, policy.PolicyError, UsageError) as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        return int(ExitCode.USAGE)
    flag_only = decision.mechanisms == ("flag",)
    try:
        # the kill switch never waits for the deploy lock: it is the on-call's fastest lever
        lock, unlocked_why = (None, "") if request.dry_run or flag_only else take_lock(config)
    except LockHeld as held:
        # a running deploy: ask it to stop; it rolls its unverified release back by its policy
        from pipeline.cli import abort

        human.print(f"[yellow]{held}[/]: asking it to stop (the kill switch alone, --via flag, never waits)",
                    highlight=False)
        return abort.main(config, request.reason or "invoke rollback during a deploy", abort.DEFAULT_TIMEOUT,
                          human, err)
    if unlocked_why:
        err.print(f"[yellow]warning:[/] proceeding without the deploy lock: {unlocked_why}", highlight=False)
    from pipeline.deploy.state import Intent

    dead = Intent.from_json((lock.previous.info or {}).get("in_flight")) if lock and lock.previous else None
    unverified = dead if dead is not None and dead.changed and not dead.verified else None
    if unverified:
        human.print(f"[yellow]an interrupted deploy of {unverified.image} by {unverified.holder} (started "
                    f"{unverified.started}, stopped at {unverified.phase}) left its release unverified; undo returns "
                    f"to the release that was serving before it ({unverified.from_image}) and resumes the "
                    "deployment[/]", highlight=False)
    code = int(ExitCode.ROLLBACK_FAILED)
    try:
        store = _Store(config, records, lambda why: err.print(
            f"[yellow]warning:[/] release records unavailable: {why}", highlight=False))
        code = _run(request, config, decision, environ, out, err, human, isatty, ask, unverified, store)
        if code == ExitCode.OK and unverified and unverified.flag_turned_off and unverified.flag_before \
                and "flag" not in decision.mechanisms:
            code = _restore_dead_deploys_flag(config, human, err)
        return code
    finally:
        if lock is not None:
            converged = code == ExitCode.OK and (unverified is None or "undo" in decision.mechanisms)
            lock.release(keep_record=dead is not None and not converged)


def _restore_dead_deploys_flag(config: EnvConfig, human: Console, err: Console) -> int:
    """The dead deploy had turned the kill switch OFF (it was ON before): put it back."""
    from pipeline.rollback.flag_kill_switch import FlagKillSwitch

    result = FlagKillSwitch(config).turn_on("the interrupted deploy turned it off; its release is rolled back")
    (human if result.ok else err).print(f" flag: {result.outcome.value} {result.detail}", highlight=False)
    return int(ExitCode.OK if result.ok else ExitCode.ROLLBACK_FAILED)


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


class _Store:
    """The release records, opened when first needed: a flag-only rollback sends its PATCH before
    the Kubernetes client (for the records) is even imported, and records itself after."""

    def __init__(self, config: EnvConfig, given: Records | None, warn: Callable[[str], None]) -> None:
        self._config, self._store, self._warn, self._opened = config, given, warn, given is not None

    def get(self) -> Records | None:
        if not self._opened:
            self._opened = True
            self._store = audit_trail.open_records(self._config, self._warn)
        return self._store


def _run(request: Request, config: EnvConfig, decision: policy.Decision, environ: Mapping[str, str],
         out: Console, err: Console, human: Console, isatty: bool, ask: Callable[[str], str],
         interrupted: Intent | None, store: _Store) -> int:
    warn = lambda why: err.print(f"[yellow]warning:[/] {why}", highlight=False)  # noqa: E731
    needs_records = {"undo", "git"} & set(decision.mechanisms)
    known = audit_trail.known(store.get(), warn) if needs_records else audit_trail.Known()
    commit = request.commit or (known.commit_to_revert if "git" in decision.mechanisms else None)
    # a dead deploy's intent names the release to return to by content; else the records' target
    to_template = interrupted.from_template if interrupted and not request.to_revision else None
    to_revision = request.to_revision or (0 if to_template is not None else (
        audit_trail.undo_revision(config, known.target) if "undo" in decision.mechanisms else 0))
    built = factory.build(decision.mechanisms, config, factory.Options(
        to_revision=to_revision, commit=commit, resume_paused=interrupted is not None,
        good_images=known.good_images, on_progress=_progress_printer(human), to_template=to_template,
        remove_created=interrupted.first_release if interrupted and not request.to_revision else None))
    scrub = _scrubber(built)
    plans = [_plan(m, scrub) for m in built.mechanisms]
    human.print(_plan_table(config, plans, request))
    refusal = _confirm(request, environ, isatty, ask, human, config)
    if refusal:
        err.print(f"[red]{refusal}[/]; nothing changed", highlight=False)
        return int(ExitCode.USAGE)
    reason = request.reason or "on-demand rollback (invoke rollback)"
    announce = _github_deployment(config, environ, decision.mechanisms, reason, err)
    outcome = run(built.mechanisms, reason, request.dry_run, _result_printer(human, scrub), scrub)
    code = exit_code(outcome)
    if announce is not None:
        announce.finish("done" if code == ExitCode.OK else "rollback_failed", outcome.summary())  # type: ignore[attr-defined]
        announce.close()  # type: ignore[attr-defined]
    human.print(_summary_line(outcome), highlight=False)
    document = {"env": config.name, "app": config.app, "mechanisms": list(decision.mechanisms),
                "plans": [_plan_json(p) for p in plans], **outcome.to_json(), "exit_code": code}
    document["audit_head"] = None if request.dry_run else audit_trail.record(store.get(), document, known, scrub,
                                                                             warn)
    _publish(document, request, environ, out, err, scrub)
    return code


def exit_code(outcome: RollbackRun) -> int:
    """0 when every mechanism asked is done; a git revert that only awaits review (a pull request)
    or whose push the remote refused does not turn a completed flag/undo rollback into exit 6: the
    summary says it remains. Git alone, or any other mechanism failing, is exit 6."""
    if outcome.ok:
        return int(ExitCode.OK)
    others = [r for r in outcome.results if r.mechanism != "git"]
    if others and all(r.ok for r in others):
        return int(ExitCode.OK)
    return int(ExitCode.ROLLBACK_FAILED)


def _github_deployment(config: EnvConfig, environ: Mapping[str, str], mechanisms: Sequence[str], reason: str,
                       err: Console) -> object | None:
    """In GitHub Actions: this rollback's own deployment status (never fails the rollback)."""
    try:
        from pipeline.github_deployments import for_run

        deployments = for_run(config, environ, "rollback", lambda text: err.print(f"[yellow]warning:[/] {text}"),
                              task="rollback", payload={"via": list(mechanisms), "reason": reason})
        deployments.start(f"rollback: {reason}")
        return deployments
    except Exception:  # noqa: BLE001 - a side channel
        return None


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
    colour = "green" if outcome.ok else "yellow" if exit_code(outcome) == ExitCode.OK else "red"
    return f"[bold {colour}]{outcome.summary()}[/]"


def _plan_json(plan: Plan) -> dict:
    return {"mechanism": plan.mechanism, "current": plan.current, "target": plan.target,
            "noop": plan.noop, "data": plan.data}


def _scrubber(built: factory.Built) -> Callable[[str], str]:
    secrets = [s for s in built.secrets if s is not None]
    return lambda text: redact(text, secrets)


@task(help={
    "env": "environment in pipeline.toml (required): local (the sandbox), staging, prod",
    "via": "mechanisms, comma separated: flag,undo,git, among those the environment's rollback.via allows "
           "(default: all of them); the flag always runs first",
    "to-revision": "rollout undo to this revision (default: the newest release a deploy verified, never a "
                   "rejected one, from the release records; without records: the previous revision; after an "
                   "interrupted deploy: the release that was serving before it)",
    "commit": "git revert this commit (default: the commit of the newest deploy in the release records)",
    "reason": "why: recorded in the revert commit and the release record (default: \"on-demand rollback "
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
