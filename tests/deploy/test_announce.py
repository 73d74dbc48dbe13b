"""GitHub Deployments and notifications are side channels: whatever they do, a deploy's outcome and
exit code stand (a hanging receiver, a dead port, a 500, a broken source)."""
from __future__ import annotations

import dataclasses
import http.server
import threading

from pipeline.config import EnvConfig, NotifySettings
from pipeline.deploy.announce import Announcer
from pipeline.deploy.result import DeployOutcome, DeployResult
from pipeline.secrets import MappingSource


class Receiver(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        Receiver.bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self.send_response(Receiver.status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def result(outcome: DeployOutcome) -> DeployResult:
    done = DeployResult("prod", "klaviyo-sync", "klaviyo-sync:2.0.0")
    done.verdicts = [{"name": "auth_errors", "status": "fail", "passed": False, "detail": "401 x3"}]
    return done.finish(outcome, "automatic: auth_errors at verify gate 1/3")


def announcer(url: str, warnings: list[str]) -> tuple[Announcer, MappingSource]:
    config = dataclasses.replace(EnvConfig(name="prod"), notify=NotifySettings(webhook="HOOK", timeout_seconds=0.5))
    return Announcer(config, {}, warnings.append), MappingSource({"HOOK": url}, "test")


def test_a_rollback_is_announced_and_the_outcome_stands():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Receiver.bodies, Receiver.status = [], 200
    warnings: list[str] = []
    announce, source = announcer(f"http://127.0.0.1:{server.server_port}/hook", warnings)
    done = result(DeployOutcome.ROLLED_BACK)
    announce.finished(done, source, aborted=False)
    server.shutdown()
    assert len(Receiver.bodies) == 1 and b"401 x3" in Receiver.bodies[0] and b"klaviyo-sync:2.0.0" in Receiver.bodies[0]
    assert (done.outcome, done.exit_code) == (DeployOutcome.ROLLED_BACK, 5) and warnings == []


def test_a_failing_receiver_only_warns():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Receiver.bodies, Receiver.status = [], 500
    for url in (f"http://127.0.0.1:{server.server_port}/hook", "http://127.0.0.1:9/dead"):
        warnings: list[str] = []
        announce, source = announcer(url, warnings)
        done = result(DeployOutcome.ROLLBACK_FAILED)
        announce.finished(done, source, aborted=False)
        assert (done.outcome, done.exit_code) == (DeployOutcome.ROLLBACK_FAILED, 6)
        assert warnings and all("127.0.0.1" not in w for w in warnings)     # the URL is a secret
    server.shutdown()


def test_a_good_deploy_sends_no_notification_and_outside_actions_no_deployment():
    warnings: list[str] = []
    announce, source = announcer("http://127.0.0.1:9/dead", warnings)
    announce.started("klaviyo-sync:2.0.0")
    done = result(DeployOutcome.DEPLOYED)
    announce.finished(done, source, aborted=False)
    assert warnings == [] and done.exit_code == 0
