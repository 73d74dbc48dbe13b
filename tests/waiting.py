"""Waiting from a test for something the system under test does by itself (the stand-ins and the
pipeline never poll; only tests do, and only here)."""
from __future__ import annotations

import time
from typing import Any, Callable


def wait_for(condition: Callable[[], Any], what: str = "the condition", seconds: float = 20.0) -> Any:
    """Poll ``condition`` until it returns something truthy and return it; fail naming ``what``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")
