"""Invoke tasks: the command line of the pipeline. `invoke --list` shows them all.

Each group of tasks lives in its own module under ``pipeline/cli/``; this file only
assembles them. A module listed here that does not exist yet is skipped.
"""
import importlib

from invoke import Collection

ns = Collection()

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

for module_name, mount in MODULES:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        continue
    if mount == "tasks":
        for task in Collection.from_module(module).tasks.values():
            ns.add_task(task)
    else:
        ns.add_collection(Collection.from_module(module), name=mount)
