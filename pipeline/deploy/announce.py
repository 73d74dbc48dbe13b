"""Telling the world how a deploy goes: GitHub Deployments statuses and notifications.

Both are side channels: they are tried, their failures are warnings, and they never change a
deploy's outcome or exit code. In GitHub Actions (with a token) the deploy creates a GitHub
deployment at its start, posts ``in_progress``, ``failure``/``success`` and marks the one it
replaced ``inactive``; notifications go out on ``rolled_back``, ``rollback_failed`` and an
abort, naming the reason, the failed verdict, the image, the run and the runbook.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from pipeline.config import EnvConfig
from pipeline.deploy.result import DeployResult
from pipeline.secrets import SecretSource

Warn = Callable[[str], None]


class Announcer:
    def __init__(self, config: EnvConfig, environ: Mapping[str, str], warn: Warn) -> None:
        self.config, self.environ, self.warn = config, environ, warn
        self.deployments: Any = None

    def started(self, image: str) -> None:
        try:
            from pipeline.github_deployments import for_run

            self.deployments = for_run(self.config, self.environ, image, self.warn)
            self.deployments.start(f"deploying {image}")
        except Exception as exc:  # noqa: BLE001 - a side channel never stops a deploy
            self.warn(f"GitHub deployment not created: {type(exc).__name__}")

    def rolling_back(self, reason: str) -> None:
        if self.deployments is not None:
            self.deployments.status("in_progress", f"rolling back: {reason}")

    def finished(self, result: DeployResult, secrets: SecretSource | None, aborted: bool) -> None:
        if self.deployments is not None:
            self.deployments.finish("aborted" if aborted else result.outcome.value, result.reason)
            self.deployments.close()
        kind = "abort" if aborted else result.outcome.value
        if kind not in ("rolled_back", "rollback_failed", "abort") or secrets is None:
            return
        try:
            from pipeline.notify.configured import for_environment

            notifications = for_environment(self.config, secrets, self.environ)
            for problem in notifications.problems:
                self.warn(problem)
            failed = [v for v in result.verdicts if v.get("status", "pass" if v.get("passed") else "fail") != "pass"]
            verdict = failed[0].get("detail", "") if failed else ""
            summary = "; ".join(str(r.get("detail", "")) for r in result.rollback)[:500]
            for delivery in notifications.send(kind, result.image, result.reason, verdict, summary):
                if not delivery.ok:
                    self.warn(f"notify {delivery.notifier}: {delivery.detail}")
        except Exception as exc:  # noqa: BLE001 - a side channel never changes the outcome
            self.warn(f"notifications not sent: {type(exc).__name__}")
