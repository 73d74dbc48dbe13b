"""Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat, Google Chat's ``text``).

The body has ``text`` (what every compatible receiver shows, and Slack's notification text) and
Slack ``blocks`` (header, the facts, the links). Slack answers ``200 ok``; anything else
(``400 invalid_payload``, ``403 invalid_token``, ``404 no_service``, ``410 channel_is_archived``)
is a failed delivery naming Slack's word for it.
"""
from __future__ import annotations

from typing import Any

from pipeline.notify import Event
from pipeline.notify.http import Webhook
from pipeline.secrets import Secret

HEADER_MAX = 150
SECTION_MAX = 3000


def slack_webhook(url: Secret) -> Webhook:
    return Webhook(url, "slack", payload)


def payload(event: Event) -> dict[str, Any]:
    facts = [f"*Reason:* {escape(event.reason)}"]
    if event.verdict:
        facts.append(f"*Failed verdict:* {escape(event.verdict)}")
    facts.append(f"*Image:* `{escape(event.image)}`")
    if event.summary:
        facts.append(f"*Rollback:* {escape(event.summary)}")
    if event.actor:
        facts.append(f"*By:* {escape(event.actor)}")
    links = " · ".join(link(label, url) for label, url in (("run", event.run_url), ("runbook", event.runbook_url))
                       if url)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": event.title[:HEADER_MAX]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(facts)[:SECTION_MAX]}}]
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": links}]})
    text = escape(f"{event.title}: {event.reason} ({event.image})") + (f" {links}" if links else "")
    return {"text": text, "blocks": blocks}


def link(label: str, url: str) -> str:
    """A Slack link for a URL; a path (the runbook outside Actions) is shown as text."""
    return f"<{url}|{label}>" if url.startswith(("https://", "http://")) else f"{label}: {escape(url)}"


def escape(text: str) -> str:
    """Slack's mrkdwn control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
