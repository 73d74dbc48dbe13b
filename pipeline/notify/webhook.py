"""Generic JSON webhook: one POST of the event as JSON; any 2xx is delivered."""
from __future__ import annotations

from typing import Any

from pipeline.notify import Event
from pipeline.notify.http import Webhook
from pipeline.secrets import Secret

SCHEMA = "klaviyo-k8s-pipeline/notification/v1"


def json_webhook(url: Secret) -> Webhook:
    return Webhook(url, "webhook", payload)


def payload(event: Event) -> dict[str, Any]:
    return {"schema": SCHEMA, "event": event.kind, "title": event.title, "app": event.app,
            "environment": event.environment, "image": event.image, "reason": event.reason,
            "verdict": event.verdict or None, "summary": event.summary or None, "actor": event.actor or None,
            "run_url": event.run_url or None, "runbook_url": event.runbook_url or None,
            "time": event.time.isoformat() if event.time else None}
