"""The command line's option vocabulary: one meaning per long name and per short flag, in every task.

Invoke would give each option the first free letter of its name, task by task, so ``-c`` was
``--config`` in deploy but ``--commit`` in rollback. Here short flags come from one table
instead: an option not in :data:`SHORT_FLAGS` has no short flag, and no letter serves two
long names (tests/test_cli_options.py checks every task against this table).
"""
from __future__ import annotations

from typing import Any, Callable

from invoke import Task

# long option -> its short flag, the same in every task that has the option
SHORT_FLAGS: dict[str, str] = {
    "env": "e",
    "config": "c",
    "json": "j",
    "json-file": "o",
    "dry-run": "d",
    "skip": "s",
    "image": "i",
    "via": "v",
    "to-revision": "t",
    "reason": "r",
    "yes": "y",
    "limit": "l",
    "path": "p",
}

# old long option -> its current name; the old spelling keeps working but is not advertised
RENAMED: dict[str, str] = {
    "skip-check": "skip",
}


def short_flag(long_name: str) -> str | None:
    return SHORT_FLAGS.get(long_name)


class CliTask(Task):
    """An invoke Task whose short flags come from :data:`SHORT_FLAGS` rather than from the
    first free letter of each option's name."""

    def __init__(self, body: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["auto_shortflags"] = False
        super().__init__(body, **kwargs)

    def arg_opts(self, name: str, default: str, taken_names: set[str]) -> dict[str, Any]:
        opts = super().arg_opts(name, default, taken_names)
        short = short_flag(opts["names"][0])
        if short is not None and short not in taken_names:
            opts["names"].append(short)
        return opts


def rename_options(argv: list[str]) -> list[str]:
    """``--skip-check X`` -> ``--skip X`` (also ``--old=X``), for every renamed option."""
    renamed = []
    for token in argv:
        flag, equals, value = token.partition("=")
        new = RENAMED.get(flag[2:]) if flag.startswith("--") else None
        renamed.append(f"--{new}{equals}{value}" if new else token)
    return renamed
