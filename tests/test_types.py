"""pipeline/ type-checks clean under mypy, with the settings in pyproject.toml's [tool.mypy]."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_pipeline_is_mypy_clean():
    pytest.importorskip("mypy", reason="mypy is not installed (it is in the `test` extra: pip install -e '.[test]')")
    # [tool.mypy] names the files ("pipeline") relative to the working directory: run from the repo root.
    # A cold run takes ~20 s; the cache (.mypy_cache/, git-ignored) makes repeats take ~1 s.
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")],
        cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert result.returncode == 0, f"mypy found errors in pipeline/:\n{result.stdout}{result.stderr}"
    assert "Success" in result.stdout, result.stdout + result.stderr
