"""The task collection exactly as ``invoke`` loads it from tasks.py, for the tests/test_cli_*.py files."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Iterator

from invoke import Collection, Task
from invoke.parser import Argument

REPO = Path(__file__).resolve().parents[1]


def tasks_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tasks_under_test", REPO / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def collection() -> Collection:
    return Collection.from_module(tasks_module())


def task_modules() -> list[str]:
    """The modules tasks.py mounts (those that exist)."""
    return [name for name, _ in tasks_module().MODULES if importlib.util.find_spec(name) is not None]


def tasks(root: Collection | None = None) -> Iterator[tuple[str, Task]]:
    """(dotted name, task) for every task, namespaces included."""
    root = root or collection()
    for name in root.task_names:
        yield name, root[name]


def arguments(task: Task) -> dict[str, Argument]:
    """Long option name (dashed) -> its parser Argument (invoke consumes ``task.help`` while
    building them, so it is put back for the next caller)."""
    saved = dict(task.help)
    try:
        return {arg.names[0]: arg for arg in task.get_arguments()}
    finally:
        task.help = saved
