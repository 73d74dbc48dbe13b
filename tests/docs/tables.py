"""Read the machine-readable parts of docs/*.md: GitHub-flavoured Markdown tables and links."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
_SEPARATOR = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")
_PIPE = re.compile(r"(?<!\\)\|")


def split_row(line: str) -> list[str]:
    """``| a | b |`` -> ["a", "b"]; ``\\|`` stays inside a cell."""
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [cell.strip().replace("\\|", "|") for cell in _PIPE.split(inner)]


def tables(text: str) -> list[list[dict[str, str]]]:
    """Every table in ``text``: a list of rows, each {header: cell}, headers lower-cased."""
    lines = text.splitlines()
    found: list[list[dict[str, str]]] = []
    i = 0
    while i + 1 < len(lines):
        if lines[i].lstrip().startswith("|") and _SEPARATOR.match(lines[i + 1].strip()):
            headers = [h.lower() for h in split_row(lines[i])]
            rows = []
            i += 2
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                cells = split_row(lines[i])
                assert len(cells) == len(headers), f"table row has {len(cells)} cells, header {len(headers)}: {lines[i]!r}"
                rows.append(dict(zip(headers, cells)))
                i += 1
            found.append(rows)
        else:
            i += 1
    return found


def tables_with(text: str, *headers: str) -> list[dict[str, str]]:
    """Rows of every table whose header row has all of ``headers`` (in any order)."""
    return [row for table in tables(text) if table and set(headers) <= set(table[0]) for row in table]


def code(cell: str) -> str:
    """The text of a cell that is one code span: `` `x` `` or ``` `` x `` ```."""
    cell = cell.strip()
    if cell.startswith("``") and cell.endswith("``"):
        return cell[2:-2].strip()
    if cell.startswith("`") and cell.endswith("`"):
        return cell[1:-1]
    raise AssertionError(f"cell {cell!r} is not a code span")


def read(name: str) -> str:
    return (DOCS / name).read_text()
