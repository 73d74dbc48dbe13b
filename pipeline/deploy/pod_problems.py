"""Pods that will not become healthy by waiting: crash loops, bad config, bad images. Pure.

A rolling update whose new pods crash only fails on its own at the progress deadline
(10 minutes by default). These states are already final enough to judge at once.
"""
from __future__ import annotations

from typing import Any, Iterable

STUCK_REASONS = {
    "CrashLoopBackOff": "crash-looping",
    "CreateContainerConfigError": "cannot be configured (a missing Secret or key?)",
    "CreateContainerError": "cannot be created",
    "ErrImagePull": "image cannot be pulled",
    "ImagePullBackOff": "image cannot be pulled",
    "InvalidImageName": "has an invalid image name",
    "RunContainerError": "cannot be started",
}
MAX_RESTARTS = 2


def problems(pods: Iterable[dict[str, Any]]) -> list[str]:
    """One sentence per pod that is stuck, e.g. ``pod web-abc12: container app crash-looping (3 restarts)``."""
    found = []
    for pod in pods:
        name = pod["metadata"]["name"]
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (status.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason", "")
            restarts = int(status.get("restartCount") or 0)
            if reason in STUCK_REASONS:
                message = f": {waiting['message']}" if waiting.get("message") else ""
                found.append(f"pod {name}: container {status.get('name')} {STUCK_REASONS[reason]} "
                             f"({reason}, {restarts} restarts){message}")
            elif restarts > MAX_RESTARTS:
                found.append(f"pod {name}: container {status.get('name')} restarted {restarts} times")
    return found
