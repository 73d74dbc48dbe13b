"""Invoke tasks: the command line of the pipeline. `invoke --list` shows them all.

Each group of tasks lives in its own module under ``pipeline/cli/``; this file only assembles
them. A module is read, not imported (pipeline/cli/catalog.py): a task imports what it needs
when it runs, so listing tasks or asking for help loads no client library. Short flags come
from one table (pipeline/cli/options.py), and usage errors exit 2 (pipeline/cli/usage.py).
A module listed here that does not exist yet is skipped.
"""
import sys

# invoke switches bytecode caching off (so that tasks.py leaves no .pyc behind), which would make
# every command compile the pipeline's modules again; give them back the interpreter's own setting
# (-B or PYTHONDONTWRITEBYTECODE still turn it off).
sys.dont_write_bytecode = bool(sys.flags.dont_write_bytecode)

from invoke import Collection  # noqa: E402
from invoke.main import program  # noqa: E402

from pipeline.cli import catalog, usage  # noqa: E402

# (module, how it is mounted): "tasks" adds its tasks at top level, any other string
# mounts the module as a namespace of that name (e.g. `invoke sandbox.up`).
MODULES = [
    ("pipeline.cli.sandbox", "sandbox"),
    ("pipeline.cli.bench", "tasks"),
    ("pipeline.cli.test", "tasks"),
    ("pipeline.cli.preflight", "tasks"),
    ("pipeline.cli.rollback", "tasks"),
    ("pipeline.cli.flag", "tasks"),
    ("pipeline.cli.abort", "tasks"),
    ("pipeline.cli.deploy", "tasks"),
    ("pipeline.cli.history", "tasks"),
    ("pipeline.cli.audit", "audit"),
    ("pipeline.cli.listing", "tasks"),
]

ns = Collection()
for module_name, mount in MODULES:
    if mount == "tasks":
        for task in catalog.tasks_of(module_name):
            ns.add_task(task)
    elif catalog.source_of(module_name) is not None:
        ns.add_collection(catalog.collection_of(module_name, mount))

usage.exit_2_on_usage_errors(program)
