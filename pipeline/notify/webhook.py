"""Generic JSON webhook: one POST of the event as JSON; any 2xx is delivered."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from pipeline.notify import Delivery, Event
from pipeline.notify.http import post_json
from pipeline.secrets import Secret

SCHEMA = "klaviyo-k8s-pipeline/notification/v1"


@dataclass(frozen=True)
class JsonWebhook:
    url: Secret
    name: str = "webhook"
    transport: httpx.BaseTransport | None = None

    def send(self, event: Event, timeout: float) -> Delivery:
        return post_json(self.name, self.url, payload(event), timeout, transport=self.transport)


def payload(event: Event) -> dict[str, Any]:
    return {"schema": SCHEMA, "event": event.kind, "title": event.title, "app": event.app,
            "environment": event.environment, "image": event.image, "reason": event.reason,
            "verdict": event.verdict or None, "summary": event.summary or None, "actor": event.actor or None,
            "run_url": event.run_url or None, "runbook_url": event.runbook_url or None,
            "time": event.time.isoformat() if event.time else None}
