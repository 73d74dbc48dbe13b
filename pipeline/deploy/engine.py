"""``invoke deploy``'s engine: run the state machine to its end, whatever happens.

    state = DeployState()
    while not state.done:
        state = entering(state)                 # from apply on, the cluster may change
        record the intent in the Lease          # before any effect that may change it
        event = effects.run(state)              # one adapter call; exceptions become events
        state = advance(state, event)           # pure (pipeline.deploy.transitions)

An exception, Ctrl-C or SIGTERM inside an effect is an event like any other, so every path
reaches a final state: deployed, nothing_to_do, dry_run, refused, unhealthy, rolled_back or
rollback_failed, each with its exit code. The lock is released at the end; its record (the
intent) is kept when the outcome needs a follow-up, for the next deploy or rollback.
"""
from __future__ import annotations

import os
import time
from typing import Any, Mapping, Protocol

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from pipeline import ci
from pipeline.config import ConfigError, EnvConfig
from pipeline.deploy.announce import Announcer
from pipeline.deploy.effects import DeployEffects
from pipeline.deploy.render import ManifestError
from pipeline.deploy.request import DeployRequest
from pipeline.deploy.result import DeployOutcome, DeployResult, StageRecord
from pipeline.deploy.state import DeployState, Event, Failed, Interrupted, Ok, Phase, Refused
from pipeline.deploy.transitions import CHANGING_PHASES, advance, entering
from pipeline.deploy.verification import Verifier, verifier_for
from pipeline.exit_codes import ExitCode
from pipeline.kube import retry
from pipeline.kube.client import KubeConfigError
from pipeline.kube.informer import Interrupted as ViewInterrupted
from pipeline.rollout.gates import GateCheck, RolloutProgress
from pipeline.secrets import SecretSource

__all__ = ["Deploy", "DeployRequest", "Events", "QuietEvents"]
USAGE_ERRORS = (ConfigError, ManifestError, KubeConfigError, ValueError, KeyError, OSError)
BAD_INPUT = (ConfigError, ManifestError, KeyError)    # in the plan: a manifest or a secret is missing


class Events(Protocol):
    """What a front end (terminal, JSON) is told as the deploy goes."""

    def stage_started(self, name: str, detail: str) -> None: ...

    def stage_finished(self, record: StageRecord) -> None: ...

    def progress(self, stage: str, progress: RolloutProgress, check: GateCheck) -> None: ...

    def warn(self, text: str) -> None: ...


class QuietEvents:
    def stage_started(self, name: str, detail: str) -> None:
        pass

    def stage_finished(self, record: StageRecord) -> None:
        pass

    def progress(self, stage: str, progress: RolloutProgress, check: GateCheck) -> None:
        pass

    def warn(self, text: str) -> None:
        pass


class Deploy:
    def __init__(self, config: EnvConfig, request: DeployRequest, events: Events | None = None,
                 environ: Mapping[str, str] | None = None, api: client.ApiClient | None = None,
                 secrets: SecretSource | None = None) -> None:
        self.config, self.request = config, request
        self.events = events or QuietEvents()
        self.environ = dict(os.environ if environ is None else environ)
        context = ci.detect(self.environ)
        self.result = DeployResult(config.name, config.app, request.image or "", actor=context.actor,
                                   run_url=context.run_url)
        self.effects = DeployEffects(config, request, self.result, self.environ, api, secrets, _verifier,
                                     self.events.progress, self._rollback_action)
        self.state = DeployState(dry_run=request.dry_run, restore_flag=config.rollback.restore_flag)
        self.announce = Announcer(config, self.environ, getattr(self.events, "warn", lambda text: None))
        self.aborted = False

    def run(self) -> DeployResult:
        start = time.monotonic()
        try:
            while not self.state.done:
                try:
                    self.state = self._step(self.state)
                except KeyboardInterrupt:        # between effects (printing, recording): same rule
                    self.state = advance(entering(self.state), self._unless_aborted(Interrupted()))
        finally:
            self._close()
        state = self.state
        reason = f"{self.result.image} {state.reason}" if state.outcome is DeployOutcome.DEPLOYED else state.reason
        self.result.finish(state.outcome or DeployOutcome.ROLLBACK_FAILED, self.effects.scrub(reason),
                           state.exit_code if state.exit_code is not None else ExitCode.ROLLBACK_FAILED)
        self.result.duration_seconds = time.monotonic() - start
        counter, proxied = self.effects.requests, self.effects.verification_requests
        api = dict(counter.by_verb) if counter else {}
        self.result.kube_requests = {**api, "pod_proxy": proxied, "total": sum(api.values()) + proxied}
        self._write_release_record()
        if not self.request.dry_run:
            self.announce.finished(self.result, self.effects.secrets, self.aborted)
        return self.result

    # ------------------------------------------------------------------ one step
    def _step(self, state: DeployState) -> DeployState:
        state = entering(state)
        record = StageRecord(state.stage, "passed", "")
        self.events.stage_started(state.stage, state.phase.value)
        started = time.monotonic()
        event = self._perform(state)
        record.duration_seconds = time.monotonic() - started
        self._finish_stage(state, record, event)
        following = advance(state, event)
        if state.phase is Phase.VALIDATE and isinstance(event, Ok) and not state.dry_run:
            self.announce.started(self.result.image)
        if following.phase is Phase.ROLLBACK and state.phase is not Phase.ROLLBACK and following.failure:
            failure = following.failure
            self.announce.rolling_back(f"{failure.kind} at {failure.stage}: {failure.detail}")
        return following

    def _perform(self, state: DeployState) -> Event:
        try:
            if state.changed and state.phase in CHANGING_PHASES:
                self.effects.record_intent(state)
            return self._unless_aborted(self.effects.run(state))
        except (KeyboardInterrupt, ViewInterrupted):
            return self._unless_aborted(Interrupted())
        except USAGE_ERRORS as exc:
            if state.phase is Phase.VALIDATE or (state.phase is Phase.PLAN and isinstance(exc, BAD_INPUT)):
                return Refused(ExitCode.USAGE, self.effects.scrub(f"{state.stage}: {_message(exc)}"))
            return Failed("verification_error", self.effects.scrub(f"{type(exc).__name__}: {exc}"))
        except ApiException as exc:
            if state.phase is Phase.PLAN and exc.status in (400, 422):
                return Refused(ExitCode.USAGE, self.effects.scrub(f"plan: {retry.describe(exc)}"))
            return Failed("verification_error", self.effects.scrub(retry.describe(exc)))
        except Exception as exc:  # noqa: BLE001 - an unexpected error is an event like any other
            return Failed("verification_error", self.effects.scrub(f"{type(exc).__name__}: {exc}"))

    def _unless_aborted(self, event: Event) -> Event:
        """An abort request turns whatever the effect reported into an interruption."""
        request = self.effects.take_abort()
        if request is None:
            return event
        self.aborted = True
        return Interrupted(request.describe())

    def _finish_stage(self, state: DeployState, record: StageRecord, event: Event) -> None:
        if isinstance(event, Ok):
            record.detail, record.data = event.detail, dict(event.data)
        elif isinstance(event, Interrupted):
            record.status, record.detail = "interrupted", event.detail
        else:
            record.status, record.detail = "failed", event.detail
        record.detail = self.effects.scrub(record.detail)
        self.result.stages.append(record)
        self.events.stage_finished(record)

    # ------------------------------------------------------------------ plumbing
    def _close(self) -> None:
        try:
            state = self.state
            self.effects.close(keep_record=state.needs_follow_up or not state.done, outcome={
                "outcome": state.outcome.value if state.outcome else None, "exit_code": state.exit_code,
                "reason": self.effects.scrub(state.reason)[:500], "image": self.result.image})
        except KeyboardInterrupt:
            self.state = self.state.with_(phase=Phase.DONE, outcome=self.state.outcome or DeployOutcome.ROLLBACK_FAILED,
                                          exit_code=ExitCode.INTERRUPTED,
                                          reason=self.state.reason + "; interrupted while releasing the lock "
                                          "(it expires by itself)")
        except Exception as exc:  # noqa: BLE001 - the lock expires by itself; say so, keep the outcome
            self.state = self.state.with_(reason=f"{self.state.reason}; could not release the lock "
                                          f"({type(exc).__name__}); it expires by itself")

    def _rollback_action(self, result: Any) -> None:
        self.result.rollback.append(result.to_json())

    def _write_release_record(self) -> None:
        """One release record per deploy, in the cluster (pipeline/records): what every later
        command on any machine reads. A deploy that changed nothing and was refused early, or a dry
        run, writes none. Failing to write it never changes the outcome; the reason says so."""
        if self.request.dry_run or self.effects.lock is None:
            return
        try:
            from pipeline.records import Records
            from pipeline.records.writers import record_deploy

            records = Records.for_environment(self.config, self.effects.api, self.effects.secrets)
            written = record_deploy(records, self.result.to_json(), self.effects.api, self.config.kube,
                                    kill_switch_off_accepted=self.request.allow_kill_switch_off)
            self.result.audit_head = str(written["hash"])
        except Exception as exc:  # noqa: BLE001 - an unrecorded deploy is reported, its outcome stands
            why = self.effects.scrub(f"{type(exc).__name__}: {exc}")
            self.result.reason += f"; WARNING: the release record was not written: {why}"
            self.events.warn(f"the release record was not written: {why}")


def _message(exc: BaseException) -> str:
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


def _verifier(effects: DeployEffects, kill_switch_off_accepted: bool) -> Verifier:
    assert effects.secrets is not None
    return verifier_for(effects.config, effects.api, effects.stop, effects.secrets, kill_switch_off_accepted)
