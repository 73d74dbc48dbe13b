"""GitHub-flavoured Markdown tables of the docs, as rows of {lower-cased header: cell}."""
from __future__ import annotations

import re

_SEPARATOR = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")
_PIPE = re.compile(r"(?<!\\)\|")


def _cells(line: str) -> list[str]:
    inner = line.strip().removeprefix("|")
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [c.strip().replace("\\|", "|") for c in _PIPE.split(inner)]


def rows_with(text: str, *headers: str) -> list[dict[str, str]]:
    """Rows of every table whose header row has all of ``headers``."""
    lines, found, i = text.splitlines(), [], 0
    while i + 1 < len(lines):
        if lines[i].lstrip().startswith("|") and _SEPARATOR.match(lines[i + 1].strip()):
            names = [h.lower() for h in _cells(lines[i])]
            i += 2
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                if set(headers) <= set(names):
                    found.append(dict(zip(names, _cells(lines[i]))))
                i += 1
        else:
            i += 1
    return found


def code(cell: str) -> str:
    """The text inside a cell that is one code span (`` `x` ``), else the cell as is."""
    cell = cell.strip()
    for fence in ("``", "`"):
        if cell.startswith(fence) and cell.endswith(fence) and len(cell) > 2 * len(fence) - 1:
            return cell[len(fence):-len(fence)].strip() if fence == "``" else cell[1:-1]
    return cell
