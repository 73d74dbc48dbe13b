"""One meaning per option across every task: no short flag for two long names, no long name with
two kinds or two short flags; and the lazily listed tasks are exactly the modules' tasks."""
from __future__ import annotations

import importlib
import inspect
from collections import defaultdict

import pytest

from pipeline.cli import catalog
from pipeline.cli.options import RENAMED, SHORT_FLAGS, rename_options
from tests.cli_tasks import arguments, collection, task_modules, tasks


def shorts(argument) -> list[str]:
    return [n for n in argument.names if len(n) == 1]


def test_no_short_flag_means_two_things():
    meanings: dict[str, set[str]] = defaultdict(set)
    for _, task in tasks():
        for long, argument in arguments(task).items():
            for short in shorts(argument):
                meanings[short].add(long)
    assert meanings, "no short flags at all"
    assert {s: sorted(longs) for s, longs in meanings.items() if len(longs) > 1} == {}


def test_a_long_name_has_one_short_flag_and_one_kind_everywhere():
    seen: dict[str, set[tuple]] = defaultdict(set)
    for _, task in tasks():
        for long, argument in arguments(task).items():
            seen[long].add((tuple(shorts(argument)), argument.kind))
    assert {long: forms for long, forms in seen.items() if len(forms) > 1} == {}


def test_short_flags_are_the_tables():
    for name, task in tasks():
        for long, argument in arguments(task).items():
            expected = [SHORT_FLAGS[long]] if long in SHORT_FLAGS else []
            assert shorts(argument) == expected, f"{name} --{long}"


def test_the_tables_letters_are_distinct_and_the_old_names_are_not_options():
    assert len(set(SHORT_FLAGS.values())) == len(SHORT_FLAGS)
    longs = {long for _, task in tasks() for long in arguments(task)}
    assert not set(RENAMED) & longs
    assert set(RENAMED.values()) <= longs


def test_renamed_options_are_rewritten_only_in_flag_position():
    assert rename_options(["deploy", "--skip-check", "revision", "--skip-check=sdk-pin", "--reason", "x"]) == \
        ["deploy", "--skip", "revision", "--skip=sdk-pin", "--reason", "x"]
    assert rename_options(["--skip-checks", "-s"]) == ["--skip-checks", "-s"]


MODULES = task_modules()


@pytest.mark.parametrize("module", MODULES)
def test_listed_tasks_mirror_the_real_ones(module):
    """The stubs read from source have the real task's signature, help, list options and docstring."""
    real = {t.body.__name__: t for t in catalog.imported_tasks(module)}
    lazy = {t.body.__name__: t for t in catalog.tasks_of(module)}
    assert lazy.keys() == real.keys() and lazy
    for name, task in lazy.items():
        original = getattr(importlib.import_module(module), name)
        assert inspect.signature(task.body) == inspect.signature(original.body), name
        assert task.help == original.help and list(task.iterable) == list(original.iterable), name
        assert task.__doc__ == original.__doc__, name


def test_every_module_is_read_statically():
    """A task written so that it cannot be read from source would make listing import its module."""
    for module in MODULES:
        path = catalog.source_of(module)
        tree = catalog.ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, catalog.ast.FunctionDef) and catalog._task_decorator(node) is not None:
                catalog._lazy_task(module, node, catalog.module_constants(tree))   # raises NotStatic otherwise


def test_collection_has_every_task():
    names = set(collection().task_names)
    assert {"deploy", "preflight", "rollback", "history", "bench", "test", "sandbox.up", "sandbox.down",
            "sandbox.status", "audit.verify", "audit.head"} <= names
