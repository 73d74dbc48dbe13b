"""Production code never imports the stand-ins: they are reached over HTTP only."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pipeline"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_production_module_imports_the_sandbox():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in ("sandbox",) or relative == Path("cli/sandbox.py"):
            continue
        if any(m == "pipeline.sandbox" or m.startswith("pipeline.sandbox.") for m in imported_modules(path)):
            offenders.append(str(relative))
    assert offenders == []
