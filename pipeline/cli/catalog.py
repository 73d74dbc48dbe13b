"""The tasks of ``invoke``, read from their modules' source without importing them.

``invoke --list`` and ``invoke TASK --help`` need each task's name, docstring, signature and
help texts, not the Kubernetes client, the LaunchDarkly SDK or aiohttp that the task's module
imports. :func:`tasks_of` reads a module under ``pipeline/cli/`` with :mod:`ast` and returns one
:class:`~pipeline.cli.options.CliTask` per ``@task`` function, with the same signature, help and
docstring; its body imports the module only when the task runs, then calls the real function.

Defaults and ``@task(...)`` arguments must be literals, or names of module-level constants
assigned a literal (``timeout=DEFAULT_TIMEOUT``). A task written so that it cannot be read
statically (a computed ``help=``, ``*args``) is not an error: that module is imported and its
tasks are taken as they are (slower to list).
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
from pathlib import Path
from typing import Any, Callable

from invoke import Collection, Task

from pipeline.cli.options import CliTask

# @task(...) keywords that can be mirrored; anything else (pre=, post=, klass=) -> import the module
MIRRORED = {"name", "aliases", "positional", "optional", "default", "help", "iterable", "incrementable",
            "autoprint"}


class NotStatic(Exception):
    """This task cannot be described without running its module."""


def source_of(module: str) -> Path | None:
    """The file of ``module`` (its package is imported, the module itself is not); None if absent."""
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        return None
    return Path(spec.origin) if spec is not None and spec.origin else None


def tasks_of(module: str) -> list[Task]:
    """The module's tasks, lazily bound; [] when the module does not exist."""
    path = source_of(module)
    if path is None:
        return []
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    constants = module_constants(tree)
    try:
        return [_lazy_task(module, node, constants) for node in tree.body
                if isinstance(node, ast.FunctionDef) and _task_decorator(node) is not None]
    except NotStatic:
        return imported_tasks(module)


def module_constants(tree: ast.Module) -> dict[str, Any]:
    """``NAME = <literal>`` at the module's top level -> {NAME: value}."""
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            target, value = node.target.id, node.value
        else:
            continue
        try:
            constants[target] = ast.literal_eval(value)
        except ValueError:
            continue
    return constants


def collection_of(module: str, name: str) -> Collection:
    """The module's tasks as a namespace (``invoke NAME.task``)."""
    collection = Collection(name)
    for task in tasks_of(module):
        collection.add_task(task)
    return collection


def imported_tasks(module: str) -> list[Task]:
    """Import the module and re-wrap its tasks so they follow the common option table."""
    loaded = importlib.import_module(module)
    tasks = Collection.from_module(loaded).tasks
    return [CliTask(t.body, name=name, aliases=t.aliases, positional=t.positional, optional=t.optional,
                    default=t.is_default, help=t.help, iterable=t.iterable, incrementable=t.incrementable,
                    autoprint=t.autoprint)
            for name, t in tasks.items()]


def _task_decorator(node: ast.stmt) -> ast.expr | None:
    if not isinstance(node, ast.FunctionDef):
        return None
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Name) and target.id == "task":
            return decorator
    return None


def _lazy_task(module: str, node: ast.FunctionDef, constants: dict[str, Any]) -> Task:
    decorator = _task_decorator(node)
    options = _decorator_options(decorator, constants)
    body = _deferred(module, node.name, _signature(node, constants), ast.get_docstring(node, clean=False))
    return CliTask(body, **options)


def _decorator_options(decorator: ast.expr | None, constants: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(decorator, ast.Call):
        return {}
    if decorator.args:
        raise NotStatic("positional @task arguments")
    options = {}
    for keyword in decorator.keywords:
        if keyword.arg not in MIRRORED:
            raise NotStatic(f"@task({keyword.arg}=...)")
        options[keyword.arg] = _literal(keyword.value, constants)
    return options


def _signature(node: ast.FunctionDef, constants: dict[str, Any]) -> inspect.Signature:
    args = node.args
    if args.vararg or args.kwarg or args.posonlyargs:
        raise NotStatic("*args, **kwargs or positional-only parameters")
    empty = inspect.Parameter.empty
    defaults = [empty] * (len(args.args) - len(args.defaults)) + [_literal(d, constants) for d in args.defaults]
    parameters = [inspect.Parameter(a.arg, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d)
                  for a, d in zip(args.args, defaults)]
    parameters += [inspect.Parameter(a.arg, inspect.Parameter.KEYWORD_ONLY,
                                     default=empty if d is None else _literal(d, constants))
                   for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    return inspect.Signature(parameters)


def _literal(node: ast.expr, constants: dict[str, Any]) -> Any:
    """A literal, where a module constant's name may stand for its value (also inside containers)."""
    if isinstance(node, ast.Name):
        if node.id not in constants:
            raise NotStatic(node.id)
        return constants[node.id]
    if isinstance(node, ast.Dict):
        keys = [k for k in node.keys if k is not None]
        if len(keys) != len(node.keys):          # {**other}
            raise NotStatic(ast.unparse(node))
        return {_literal(k, constants): _literal(v, constants) for k, v in zip(keys, node.values)}
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_literal(e, constants) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise NotStatic(ast.unparse(node)) from None


def _deferred(module: str, function: str, signature: inspect.Signature, doc: str | None) -> Callable[..., Any]:
    def run(c: Any, *args: Any, **kwargs: Any) -> Any:
        target = getattr(importlib.import_module(module), function)
        return (target.body if isinstance(target, Task) else target)(c, *args, **kwargs)

    run.__signature__ = signature  # type: ignore[attr-defined]
    run.__name__ = run.__qualname__ = function
    run.__module__ = module
    run.__doc__ = doc
    return run
