"""Check 7: no private key is hard-coded in the app's source tree.

Looks for private-key-shaped strings (trufflehog's Klaviyo detector: ``\\bpk_[a-zA-Z0-9]{34}\\b``)
in every text file under ``klaviyo.app_source`` outside test fixtures and dependency trees.
Reports ``file:line``, never the key.
"""
from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

from pipeline.preflight.check import Finding, Verdict
from pipeline.preflight.context import PreflightContext

KEY_SHAPE = re.compile(r"\bpk_[a-zA-Z0-9]{34}\b")
PRUNED_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__", "site-packages", ".tox",
               "dist", "build", ".mypy_cache", ".pytest_cache"}
FIXTURE_DIRS = {"tests", "test", "__tests__", "fixtures", "__fixtures__", "testdata", "spec", "__mocks__"}
FIXTURE_FILES = ("test_*.py", "*_test.py", "conftest.py", "*.test.js", "*.test.ts", "*.spec.js",
                 "*.spec.ts", "*.test.tsx", "*.spec.tsx")
MAX_FILE_BYTES = 2_000_000
SHOWN = 10


@dataclass(frozen=True)
class ScanResult:
    files_scanned: int = 0
    hits: list[str] = field(default_factory=list)          # "path:line" outside fixtures
    fixture_hits: list[str] = field(default_factory=list)  # "path:line" in test fixtures


@dataclass(frozen=True)
class HardcodedKeysCheck:
    timeout: float = 30.0
    name: str = "hardcoded-keys"
    title: str = "No hard-coded private keys"

    async def run(self, ctx: PreflightContext) -> Finding:
        scan = await asyncio.to_thread(scan_tree, ctx.app_source)
        return evaluate_scan(scan, str(ctx.app_source))


def is_fixture(relative: Path) -> bool:
    return any(part in FIXTURE_DIRS for part in relative.parts[:-1]) \
        or any(fnmatch(relative.name, pattern) for pattern in FIXTURE_FILES)


def key_lines(text: str) -> list[int]:
    """1-based numbers of the lines holding a private-key-shaped string."""
    return [n for n, line in enumerate(text.splitlines(), 1) if KEY_SHAPE.search(line)]


def scan_tree(root: Path) -> ScanResult:
    result = ScanResult()
    scanned = 0
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in PRUNED_DIRS)
        for name in sorted(files):
            path = Path(directory) / name
            text = _read_text(path)
            if text is None:
                continue
            scanned += 1
            relative = path.relative_to(root)
            target = result.fixture_hits if is_fixture(relative) else result.hits
            target.extend(f"{relative}:{line}" for line in key_lines(text))
    return ScanResult(scanned, result.hits, result.fixture_hits)


def _read_text(path: Path) -> str | None:
    try:
        if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None                       # binary
    return data.decode("utf-8", errors="replace")


def evaluate_scan(scan: ScanResult, root: str) -> Finding:
    measured = {"files_scanned": scan.files_scanned, "locations": scan.hits,
                "fixture_locations": scan.fixture_hits, "pattern": KEY_SHAPE.pattern}
    allowed = f"; {len(scan.fixture_hits)} in test fixtures, allowed" if scan.fixture_hits else ""
    if scan.hits:
        shown = ", ".join(scan.hits[:SHOWN]) + (" ..." if len(scan.hits) > SHOWN else "")
        return Finding(Verdict.FAIL, f"{len(scan.hits)} private-key-shaped string(s) (pk_ + 34 "
                                     f"alphanumerics) outside test fixtures, threshold 0: {shown}{allowed}",
                       measured)
    return Finding(Verdict.PASS, f"0 private-key-shaped strings in {scan.files_scanned} files under "
                                 f"{root} (threshold 0){allowed}", measured)
