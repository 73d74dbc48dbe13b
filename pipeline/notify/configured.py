"""The notifiers an environment's ``[notify]`` names, with the run's links filled in.

The webhook URLs are secrets (a Slack webhook URL is its own credential): ``notify.slack_webhook``
and ``notify.webhook`` name them in the environment's secret source. A name that is set but not
found is a *problem* (printed as a warning), never an error: a missing notification must not stop
a deploy.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Mapping

from pipeline import ci
from pipeline.config import EnvConfig
from pipeline.notify import Delivery, Event, Notifier, deliver
from pipeline.notify.slack import slack_webhook
from pipeline.notify.webhook import json_webhook
from pipeline.secrets import SecretSource


@dataclass(frozen=True)
class Notifications:
    notifiers: tuple[Notifier, ...]
    on: tuple[str, ...]
    timeout: float
    template: Event                      # app, environment, actor, run and runbook links
    problems: tuple[str, ...] = ()       # configured but not usable: say so once, as a warning

    def send(self, kind: str, image: str, reason: str, verdict: str = "", summary: str = "",
             now: datetime | None = None) -> list[Delivery]:
        """Tell every notifier, if ``kind`` is one of ``notify.on``; returns within the timeout."""
        if kind not in self.on or not self.notifiers:
            return []
        event = replace(self.template, kind=kind, image=image, reason=reason, verdict=verdict, summary=summary,
                        time=now or datetime.now(timezone.utc))
        return deliver(self.notifiers, event, self.timeout)


def for_environment(config: EnvConfig, secrets: SecretSource, environ: Mapping[str, str]) -> Notifications:
    settings = config.notify
    notifiers: list[Notifier] = []
    problems: list[str] = []
    for key, secret_name, build in (("slack_webhook", settings.slack_webhook, slack_webhook),
                                    ("webhook", settings.webhook, json_webhook)):
        if not secret_name:
            continue
        try:
            url = secrets.get(secret_name)
        except Exception as exc:  # noqa: BLE001 - an unreadable source only costs the notification
            problems.append(f"notify.{key}: cannot read {secret_name} from {secrets.describe()} "
                            f"({type(exc).__name__}); not notified")
            continue
        if url is None:
            problems.append(f"notify.{key}: {secret_name} is not in {secrets.describe()}; not notified")
        elif not url.reveal().startswith(("https://", "http://")):
            problems.append(f"notify.{key}: {secret_name} is not an http(s) URL; not notified")
        else:
            notifiers.append(build(url))
    context = ci.detect(environ)
    template = Event("", config.app, config.name, "", "", actor=context.actor, run_url=context.run_url or "",
                     runbook_url=settings.runbook_url or runbook_link(environ))
    return Notifications(tuple(notifiers), settings.on, settings.timeout_seconds, template, tuple(problems))


def runbook_link(environ: Mapping[str, str]) -> str:
    """docs/runbook.md at the commit that runs (in Actions), else the path in the checkout."""
    repository, sha = environ.get("GITHUB_REPOSITORY"), environ.get("GITHUB_SHA")
    if environ.get("GITHUB_ACTIONS") == "true" and repository and sha:
        server = environ.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{repository}/blob/{sha}/docs/runbook.md"
    return "docs/runbook.md"
