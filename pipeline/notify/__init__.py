"""Notifications: who is told when a release is rolled back, a rollback fails, or a deploy is aborted.

:class:`Notifier` is the interface (one method, ``send``); the drivers are a Slack-compatible
incoming webhook (``slack``) and a generic JSON webhook (``webhook``). :func:`deliver` sends one
:class:`Event` to every notifier at once and returns within the timeout whatever they do, so a
slow or broken receiver never holds up or fails a deploy or a rollback: a failed delivery is a
:class:`Delivery` with ``ok = False`` and the reason, for the caller to print as a warning.
``pipeline.notify.configured`` builds the notifiers an environment's ``[notify]`` names.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, Sequence

TITLES = {"rolled_back": "rolled back automatically",
          "rollback_failed": "ROLLBACK FAILED: on-call action needed",
          "abort": "deploy aborted by on-call",
          "rollback": "rolled back by on-call",
          "deployed": "deployed"}


@dataclass(frozen=True)
class Event:
    kind: str                            # rolled_back | rollback_failed | abort | rollback | deployed
    app: str
    environment: str
    image: str
    reason: str                          # why: the failed gate, or what on-call typed
    verdict: str = ""                    # the verdict that failed (name, gate, measured vs threshold)
    summary: str = ""                    # the rollback's outcome: "rollback complete: flag, undo"
    actor: str = ""
    run_url: str = ""                    # the CI run (or empty from a laptop)
    runbook_url: str = ""
    time: datetime | None = None

    @property
    def title(self) -> str:
        return f"{self.app} in {self.environment}: {TITLES.get(self.kind, self.kind)}"


@dataclass(frozen=True)
class Delivery:
    notifier: str
    ok: bool
    detail: str                          # "HTTP 200" or why it failed; never the webhook URL
    seconds: float = 0.0


class Notifier(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, event: Event, timeout: float) -> Delivery:
        """Deliver ``event`` within ``timeout`` seconds; report failure as a Delivery, never raise."""
        ...


def deliver(notifiers: Sequence[Notifier], event: Event, timeout: float) -> list[Delivery]:
    """Send to every notifier concurrently; return after at most ``timeout`` + 0.5 s, in order."""
    results: dict[int, Delivery] = {}
    threads = [threading.Thread(target=_send_into, args=(n, event, timeout, results, i), daemon=True,
                                name=f"notify {n.name}") for i, n in enumerate(notifiers)]
    deadline = time.monotonic() + timeout + 0.5
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [results.get(i, Delivery(n.name, False, f"no answer within {timeout:g} s; gave up", timeout))
            for i, n in enumerate(notifiers)]


def _send_into(notifier: Notifier, event: Event, timeout: float, results: dict[int, Delivery], index: int) -> None:
    start = time.monotonic()
    try:
        results[index] = notifier.send(event, timeout)
    except Exception as exc:  # noqa: BLE001 - a driver's bug must not reach the deploy
        results[index] = Delivery(notifier.name, False, f"{type(exc).__name__}", time.monotonic() - start)
