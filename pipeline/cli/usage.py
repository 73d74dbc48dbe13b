"""Usage errors exit 2, as the runbook says: invoke itself exits 1 for an unknown option, which
on-call reads as "a check failed".

Invoke's ``Program.run`` turns any ``ParseError`` into exit 1 and offers no setting for it.
:func:`exit_2_on_usage_errors` wraps the two parsing steps that run after ``tasks.py`` is loaded
(``parse_tasks``: the task names and their options; ``parse_cleanup``: ``--help TASK``) so that
their parse errors leave as ``Exit(code=2)`` with a message naming the input and what is
accepted. It also applies :data:`~pipeline.cli.options.RENAMED` to the task arguments. Errors in
invoke's own options before the task name (``invoke --bogus``) are parsed before ``tasks.py``
is read and still exit 1.
"""
from __future__ import annotations

import functools
import re
from typing import Any, Callable

from invoke import Exit, ParseError, Program

from pipeline.cli.options import rename_options
from pipeline.exit_codes import ExitCode

MARK = "_pipeline_usage_errors"


def exit_2_on_usage_errors(program: Program) -> None:
    """Make ``program``'s task parse errors exit 2; idempotent."""
    if getattr(program, MARK, False):
        return
    for step in ("parse_tasks", "parse_cleanup"):
        setattr(program, step, _as_usage_error(getattr(program, step)))
    original = program.parse_tasks

    def parse_tasks() -> None:
        program.core.unparsed = rename_options(list(program.core.unparsed))
        original()
    program.parse_tasks = parse_tasks  # type: ignore[method-assign]
    setattr(program, MARK, True)


def _as_usage_error(step: Callable[[], Any]) -> Callable[[], Any]:
    @functools.wraps(step)
    def run() -> Any:
        try:
            return step()
        except ParseError as error:
            raise Exit(describe(error), code=int(ExitCode.USAGE)) from None
        except ValueError as error:   # a value invoke could not convert, e.g. --limit abc
            raise Exit(f"usage error: a value is not of its option's type: {error} "
                       "(invoke TASK --help shows each option's type)", code=int(ExitCode.USAGE)) from None
    return run


def describe(error: ParseError) -> str:
    """Invoke's message, plus which options the task accepts and where its help is."""
    context = getattr(error, "context", None)
    message = "usage error: " + re.sub(r"<Argument: ([\w-]+)[^>]*>", lambda m: "--" + m[1].replace("_", "-"),
                                       str(error))
    if context is None or not getattr(context, "name", None):
        return f"{message} (invoke --list shows the tasks)"
    accepted = ", ".join(sorted(f for f in context.flags if f.startswith("--")))
    return f"{message}\n{context.name} accepts: {accepted} (invoke {context.name} --help)"
