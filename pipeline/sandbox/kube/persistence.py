"""Keep the cluster across sandbox restarts: ``<state_dir>/kube.json``.

Loaded once at start; saved (debounced) shortly after changes and once more at shutdown.
"""
from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from pipeline.sandbox.kube.resources import ALL
from pipeline.sandbox.kube.store import Event, Store

log = logging.getLogger(__name__)
FILE_NAME = "kube.json"


def load(store: Store, state_dir: Path | None) -> bool:
    """Fill ``store`` from disk; False when there is nothing (or nothing readable) to load."""
    if state_dir is None:
        return False
    path = state_dir / FILE_NAME
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return False
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return False
    store.load(data, list(ALL))
    return True


class Saver:
    """Saves the store ``delay`` seconds after the first unsaved change."""

    def __init__(self, store: Store, state_dir: Path, delay: float = 0.5) -> None:
        self.store = store
        self.path = state_dir / FILE_NAME
        self.delay = delay
        self._pending: asyncio.TimerHandle | None = None
        state_dir.mkdir(parents=True, exist_ok=True)
        self._unsubscribe = store.add_listener(self._changed)

    def _changed(self, event: Event) -> None:
        if self._pending is None:
            try:
                self._pending = asyncio.get_running_loop().call_later(self.delay, self.flush)
            except RuntimeError:  # written from outside the loop: save now
                self.flush()

    def flush(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        try:
            self.store.save(self.path)
        except OSError as exc:
            log.warning("could not save %s: %s", self.path, exc)

    def close(self) -> None:
        self._unsubscribe()
        self.flush()
