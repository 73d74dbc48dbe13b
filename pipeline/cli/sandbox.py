"""`invoke sandbox.up|down|status`: the local stand-ins (see pipeline/sandbox/supervisor.py)."""
from pathlib import Path

from invoke import task
from rich.console import Console

from pipeline.sandbox import supervisor


@task(help={"dir": "sandbox directory (default .sandbox)"})
def up(c, dir=".sandbox"):
    """Start every stand-in in the background; returns when all answer. Writes DIR/env and DIR/kubeconfig."""
    state = supervisor.up(Path(dir))
    _print(state, Path(dir))


@task(help={"dir": "sandbox directory (default .sandbox)"})
def down(c, dir=".sandbox"):
    """Stop the stand-ins (the persisted cluster and credentials stay in DIR)."""
    stopped = supervisor.down(Path(dir))
    Console().print("sandbox stopped" if stopped else "sandbox was not running")


@task(help={"dir": "sandbox directory (default .sandbox)"})
def status(c, dir=".sandbox"):
    """Say which stand-ins run where."""
    state = supervisor.status(Path(dir))
    _print(state, Path(dir))
    if not state.running:
        raise SystemExit(1)


def _print(state: supervisor.SandboxStatus, directory: Path) -> None:
    console = Console()
    if not state.running:
        console.print("sandbox: [red]not running[/] (start it with `invoke sandbox.up`)")
        return
    console.print(f"sandbox: [green]running[/] (pid {state.pid}); env in {directory / 'env'}")
    for name, url in state.urls.items():
        mark = "[green]answering[/]" if state.answering.get(name) else "[red]not answering[/]"
        console.print(f"  {name:<13} {url}  {mark}")
