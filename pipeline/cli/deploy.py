"""`invoke deploy --env ENV [--image IMAGE] [--dry-run]`: the main job.

Exit codes (pipeline/exit_codes.py): 0 deployed (or dry run / nothing to do); 1 preflight
failed, 3 preflight could not run, 4 locked, 2 bad input: all refused before any change;
5 rolled back automatically (the previous version is healthy); 6 the rollback did not
complete: page someone.
"""
from __future__ import annotations

import json as jsonlib
import os
import signal
import sys

from invoke import Exit, task
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from pipeline import ci
from pipeline.config import ConfigError, load_config
from pipeline.deploy.engine import Deploy, DeployRequest
from pipeline.deploy.result import DeployResult, StageRecord
from pipeline.exit_codes import ExitCode
from pipeline.report.markdown import append_summary, deploy_summary
from pipeline.rollout.gates import GateCheck, RolloutProgress

MARKS = {"passed": "[green]✓[/]", "failed": "[red]✗[/]", "error": "[red]![/]", "skipped": "[dim]-[/]",
         "interrupted": "[yellow]⏹[/]"}


class TerminalEvents:
    """Stage lines, and a progress bar while a gate is open (stderr when --json owns stdout)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def stage_started(self, name: str, detail: str) -> None:
        if name.startswith("gate") and self.console.is_terminal:
            self.bar = Progress(TextColumn("  {task.description}"), BarColumn(), TextColumn("{task.fields[text]}"),
                                TimeElapsedColumn(), console=self.console, transient=True)
            self.bar.start()
            self.task = self.bar.add_task(name, total=1, text=detail)

    def progress(self, stage: str, progress: RolloutProgress, check: GateCheck) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, total=max(progress.replicas, 1), completed=progress.updated_available,
                            text=check.detail)

    def warn(self, text: str) -> None:
        self.console.print(f"[yellow]warning:[/] {text}", highlight=False)

    def stage_finished(self, record: StageRecord) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = self.task = None
        self.console.print(f"{MARKS.get(record.status, record.status)} [bold]{record.name:<18}[/] {record.detail} "
                           f"[dim]({record.duration_seconds:.1f}s)[/]", highlight=False)


def print_outcome(console: Console, result: DeployResult) -> None:
    colour = {"deployed": "green", "dry_run": "cyan", "nothing_to_do": "green", "rolled_back": "yellow"}.get(
        result.outcome.value, "red")
    console.print(f"\n[bold {colour}]{result.outcome.value}[/] (exit {result.exit_code}): {result.reason}",
                  highlight=False)
    if result.audit_head:
        console.print(f"[dim]release record head: {result.audit_head}[/]")


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (a cancelled CI job) stops the deploy like Ctrl-C: recorded, lock released."""
    raise KeyboardInterrupt


@task(iterable=["skip"], help={
    "env": "environment in pipeline.toml: local (the sandbox), staging, prod (default local)",
    "image": "image to deploy, [registry/]name:tag or @sha256:digest (default: the one in the manifests)",
    "dry-run": "stop after the plan (server-side dry run); change nothing",
    "skip": "preflight check to skip (repeatable, or a comma list; recorded in the result and its release record): "
            "status-page, api-auth, rate-limit, sdk-pin, revision, secrets, hardcoded-keys, oauth",
    "json": "print the full result as JSON on stdout (narration goes to stderr)",
    "json-file": "also write the result JSON to this file (the CI artifact)",
    "config": "configuration file (default pipeline.toml)",
    "allow-kill-switch-off": "deploy although the kill switch is OFF (recorded; Klaviyo cannot be verified)",
    "promotion-override": "reason to deploy a digest its promote_from environment never verified (recorded)",
})
def deploy(c, env="local", image=None, dry_run=False, skip=None, json=False, json_file="",
           config="pipeline.toml", allow_kill_switch_off=False, promotion_override=None):
    """Deploy: lock, preflight, plan, gated rollout with verification, automatic rollback."""
    console = Console(stderr=json)
    try:
        from pipeline.preflight.runner import parse_skip

        parse_skip(list(skip or ()))          # bad input is named before the configuration is read
        settings = load_config(env, config)
    except ConfigError as exc:
        Console(stderr=True).print(f"[red]configuration error:[/] {exc}", highlight=False)
        raise Exit(code=int(ExitCode.USAGE))
    signal.signal(signal.SIGTERM, _interrupt)
    console.print(f"[bold]deploy[/] {settings.app} to [bold]{env}[/]", highlight=False)
    result = Deploy(settings, DeployRequest(image, dry_run, tuple(skip or ()),
                                            allow_kill_switch_off=allow_kill_switch_off,
                                            promotion_override=promotion_override, config_path=config),
                    TerminalEvents(console)).run()
    document = result.to_json()
    text = jsonlib.dumps(document, indent=2, default=str) + "\n"
    if json:
        sys.stdout.write(text)
    if json_file:
        with open(json_file, "w", encoding="utf-8") as handle:
            handle.write(text)
    append_summary(ci.detect(os.environ).step_summary, deploy_summary(document))
    print_outcome(console, result)
    if result.exit_code:
        raise Exit(code=result.exit_code)
