"""Notifications against local receivers: what Slack-compatible and JSON webhooks receive for each
outcome, and that a receiver that hangs, fails or is absent never holds up or fails the caller."""
from __future__ import annotations

import socket
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.notify import Delivery, Event, deliver
from pipeline.notify.configured import for_environment, runbook_link
from pipeline.notify.slack import slack_webhook
from pipeline.secrets import MappingSource, Secret
from tests.ship.receivers import Answer, Receiver

NOW = datetime(2026, 11, 24, 3, 12, tzinfo=timezone.utc)
IMAGE = "ghcr.io/acme/klaviyo-sync@sha256:" + "a" * 64
ACTIONS = {"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.example",
           "GITHUB_REPOSITORY": "acme/klaviyo-sync", "GITHUB_RUN_ID": "77", "GITHUB_SHA": "f" * 40,
           "GITHUB_ACTOR": "oncall-alice"}
RUN = "https://github.example/acme/klaviyo-sync/actions/runs/77"
RUNBOOK = f"https://github.example/acme/klaviyo-sync/blob/{'f' * 40}/docs/runbook.md"
SECRET_PATH = "/services/T000/B000/XyZsecretToken"


def config(tmp_path: Path, notify: str):
    path = tmp_path / "pipeline.toml"
    path.write_text(f"[env.prod]\n[env.prod.notify]\n{notify}\n")
    return load_config("prod", path, environ={})


def slack_receiver(status: int = 200, body: str = "ok") -> Receiver:
    return Receiver(lambda seen: Answer(status, body))


def notifications(tmp_path, slack: Receiver | None = None, hook: Receiver | None = None, extra: str = ""):
    lines = ['slack_webhook = "SLACK_WEBHOOK_URL"' if slack else "", 'webhook = "NOTIFY_WEBHOOK_URL"' if hook else "",
             "timeout_seconds = 0.5", extra]
    secrets = MappingSource({"SLACK_WEBHOOK_URL": f"{slack.url}{SECRET_PATH}" if slack else "",
                             "NOTIFY_WEBHOOK_URL": f"{hook.url}/hooks/deploys?token=s3cr3t" if hook else ""}, "test")
    return for_environment(config(tmp_path, "\n".join(lines)), secrets, ACTIONS)


@pytest.mark.parametrize("kind, title", [
    ("rolled_back", "klaviyo-sync in prod: rolled back automatically"),
    ("rollback_failed", "klaviyo-sync in prod: ROLLBACK FAILED: on-call action needed"),
    ("abort", "klaviyo-sync in prod: deploy aborted by on-call"),
])
def test_each_outcome_reaches_both_receivers_with_every_fact(tmp_path, kind, title):
    with slack_receiver() as slack, Receiver(lambda seen: Answer(204, "")) as hook:
        sent = notifications(tmp_path, slack, hook).send(
            kind, IMAGE, "automatic: auth_errors at gate 1/3", verdict="auth_errors: 3 401s > max 0 (P1)",
            summary="rollback complete: flag, undo", now=NOW)
    assert [(d.notifier, d.ok) for d in sent] == [("slack", True), ("webhook", True)], sent
    assert sent[0].detail == "HTTP 200: ok" and sent[1].detail == "HTTP 204"

    (posted,) = slack.seen
    assert posted.method == "POST" and posted.path == SECRET_PATH
    assert posted.headers["content-type"] == "application/json"
    message = posted.json()
    assert message["text"].startswith(f"{title}: automatic: auth_errors at gate 1/3 ({IMAGE})")
    assert f"<{RUN}|run> · <{RUNBOOK}|runbook>" in message["text"]
    header, section, links = message["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": title}}
    assert section["text"]["text"] == ("*Reason:* automatic: auth_errors at gate 1/3\n"
                                       "*Failed verdict:* auth_errors: 3 401s &gt; max 0 (P1)\n"
                                       f"*Image:* `{IMAGE}`\n*Rollback:* rollback complete: flag, undo\n"
                                       "*By:* oncall-alice")
    assert links["elements"][0]["text"] == f"<{RUN}|run> · <{RUNBOOK}|runbook>"

    (generic,) = hook.seen
    assert generic.path == "/hooks/deploys" and generic.query == {"token": "s3cr3t"}
    assert generic.json() == {
        "schema": "klaviyo-k8s-pipeline/notification/v1", "event": kind, "title": title, "app": "klaviyo-sync",
        "environment": "prod", "image": IMAGE, "reason": "automatic: auth_errors at gate 1/3",
        "verdict": "auth_errors: 3 401s > max 0 (P1)", "summary": "rollback complete: flag, undo",
        "actor": "oncall-alice", "run_url": RUN, "runbook_url": RUNBOOK, "time": "2026-11-24T03:12:00+00:00"}


def test_events_not_in_notify_on_are_not_sent(tmp_path):
    with slack_receiver() as slack:
        notes = notifications(tmp_path, slack)
        assert notes.send("deployed", IMAGE, "ok") == []
        assert notes.send("rollback", IMAGE, "5xx") == []
        opted = notifications(tmp_path, slack, extra='on = ["deployed"]')
        assert [d.ok for d in opted.send("deployed", IMAGE, "rolled out")] == [True]
        assert opted.send("rolled_back", IMAGE, "x") == []
    assert len(slack.seen) == 1


def test_a_receiver_that_hangs_costs_at_most_the_timeout_and_the_other_still_hears(tmp_path):
    with Receiver().hang() as stuck, Receiver(lambda seen: Answer(200, {"received": True})) as hook:
        notes = notifications(tmp_path, stuck, hook)
        started = time.monotonic()
        slack, generic = notes.send("rollback_failed", IMAGE, "undo failed")
        elapsed = time.monotonic() - started
    assert elapsed < 1.5, elapsed                       # timeout_seconds = 0.5, both sent at once
    assert not slack.ok and slack.detail == "no answer within 0.5 s"
    assert generic.ok and len(hook.seen) == 1


@pytest.mark.parametrize("status, body, detail", [
    (500, "rollup_error", "HTTP 500: rollup_error"),
    (404, "no_service", "HTTP 404: no_service"),
    (410, "channel_is_archived", "HTTP 410: channel_is_archived"),
])
def test_slack_refusals_are_failed_deliveries_naming_slacks_word(tmp_path, status, body, detail):
    with slack_receiver(status, body) as slack:
        (sent,) = notifications(tmp_path, slack).send("rolled_back", IMAGE, "x")
    assert not sent.ok and sent.detail == detail


def test_a_json_receiver_answering_500_is_a_failed_delivery(tmp_path):
    with Receiver(lambda seen: Answer(500, {"error": "boom"})) as hook:
        (sent,) = notifications(tmp_path, hook=hook).send("abort", IMAGE, "on-call abort")
    assert not sent.ok and sent.detail == 'HTTP 500: {"error": "boom"}'


def test_nobody_listening_is_a_failed_delivery(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = Secret("SLACK_WEBHOOK_URL", f"http://127.0.0.1:{port}{SECRET_PATH}")
    (sent,) = deliver([slack_webhook(url)], Event("rolled_back", "a", "prod", IMAGE, "x"), 0.5)
    assert not sent.ok and sent.detail == "could not send (ConnectError)"


@pytest.mark.parametrize("echo", [f"bad request to {SECRET_PATH}", "unknown token XyZsecretToken",
                                  "no hook at http://127.0.0.1"])
def test_the_webhook_url_never_appears_in_a_delivery(tmp_path, echo):
    with Receiver(lambda seen: Answer(400, echo)) as receiver:
        (sent,) = notifications(tmp_path, receiver).send("rolled_back", IMAGE, "x")
    assert not sent.ok and sent.detail.startswith("HTTP 400: ")
    assert "XyZsecretToken" not in sent.detail and SECRET_PATH not in sent.detail


def test_a_broken_driver_is_a_failed_delivery_not_an_exception():
    class Broken:
        name = "broken"

        def send(self, event, timeout):
            raise RuntimeError("bug")

    (sent,) = deliver([Broken()], Event("abort", "a", "prod", IMAGE, "x"), 0.5)
    assert sent == Delivery("broken", False, "RuntimeError", sent.seconds)


def test_a_named_secret_that_is_missing_or_not_a_url_is_a_problem_not_an_error(tmp_path):
    settings = config(tmp_path, 'slack_webhook = "SLACK_WEBHOOK_URL"\nwebhook = "NOTIFY_WEBHOOK_URL"')
    notes = for_environment(settings, MappingSource({"NOTIFY_WEBHOOK_URL": "hooks.example/x"}, "environment variables"),
                            {})
    assert notes.notifiers == ()
    assert notes.problems == ("notify.slack_webhook: SLACK_WEBHOOK_URL is not in environment variables; not notified",
                              "notify.webhook: NOTIFY_WEBHOOK_URL is not an http(s) URL; not notified")
    assert notes.send("rolled_back", IMAGE, "x") == []


def test_nothing_configured_sends_nothing(tmp_path):
    notes = for_environment(config(tmp_path, ""), MappingSource({}, "env"), {})
    assert notes.notifiers == () and notes.problems == () and notes.send("rolled_back", IMAGE, "x") == []


def test_the_runbook_link_outside_actions_is_the_path_and_slack_shows_it_as_text(tmp_path):
    assert runbook_link({}) == "docs/runbook.md"
    assert runbook_link(ACTIONS) == RUNBOOK
    with slack_receiver() as slack:
        secrets = MappingSource({"SLACK_WEBHOOK_URL": slack.url + "/x"}, "env")
        notes = for_environment(config(tmp_path, 'slack_webhook = "SLACK_WEBHOOK_URL"'), secrets, {"USER": "bob"})
        notes.send("rolled_back", "klaviyo-sync:1.4.0 <bad>", "a & b")
    message = slack.seen[0].json()
    assert message["text"] == ("klaviyo-sync in prod: rolled back automatically: a &amp; b "
                               "(klaviyo-sync:1.4.0 &lt;bad&gt;) runbook: docs/runbook.md")
