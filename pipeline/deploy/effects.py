"""The deploy's effects: one adapter call per phase, each safe to repeat, each reporting an Event.

``DeployEffects.run(state)`` performs the effect of ``state.phase`` and returns what happened
(:mod:`pipeline.deploy.state` events). Decisions stay in ``pipeline.deploy.transitions``;
here is only I/O: reading and writing the cluster (every write through
``pipeline.kube.retry``), watching it (``pipeline.kube.informer``), the kill switch, the
verifier, the lock's recorded intent.
"""
from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from kubernetes import client

from pipeline import ci
from pipeline.abort import AbortRequest, AbortWatch
from pipeline.config import EnvConfig
from pipeline.deploy import recovery
from pipeline.deploy.apply import Applier
from pipeline.deploy.gated_rollout import Rollout, is_ready
from pipeline.deploy.image import InvalidImage, parse_image
from pipeline.deploy.render import Rendered, current_image, find_deployment, load_manifests, render
from pipeline.deploy.request import DeployRequest
from pipeline.deploy.result import DeployResult
from pipeline.deploy.state import DeployState, Event, Failed, Intent, Ok, Phase, Refused
from pipeline.deploy.verification import Verification, Verifier
from pipeline.exit_codes import ExitCode
from pipeline.kube import history, retry
from pipeline.kube.client import RequestCounter, api_client as make_api_client, read_deployment
from pipeline.kube.informer import ClusterView
from pipeline.kube.rollout import rollout_status
from pipeline.lock import DeployLock, LockHeld
from pipeline.preflight.runner import run_preflight
from pipeline.rollback import factory, policy, runner
from pipeline.rollout.gates import GateCheck, RolloutProgress, plan_gates
from pipeline.secrets import SecretSource, redact, secret_source
from pipeline.verify.pods import new_pods, new_replicaset

Progress = Callable[[str, RolloutProgress, GateCheck], None]
Action = Callable[[Any], None]


class DeployEffects:
    """The adapters of one deploy. Holds what earlier phases produced (manifests, lock, view)."""

    def __init__(self, config: EnvConfig, request: DeployRequest, result: DeployResult,
                 environ: Mapping[str, str], api: client.ApiClient | None, secrets: SecretSource | None,
                 verifier: Callable[["DeployEffects", bool], Verifier], on_progress: Progress,
                 on_action: Action) -> None:
        self.config, self.request, self.result, self.environ = config, request, result, environ
        self._api, self.secrets = api, secrets
        self._verifier, self.on_progress, self.on_action = verifier, on_progress, on_action
        self.deploy_id = uuid.uuid4().hex[:12]
        self.lock: DeployLock | None = None
        self.rendered: Rendered | None = None
        self.intent: Intent | None = None
        self.view: ClusterView | None = None
        self.match_labels: dict[str, str] = {}
        self.requests = RequestCounter.attach(api) if api is not None else None
        self.gate_pods: list[str] = []        # the new pods the last gate counted
        self.verification_requests = 0        # health, scrapes, synthetic webhooks (pod proxy)
        self.stop = threading.Event()         # set when an abort is requested: waits end early
        self.aborted: AbortRequest | None = None
        self.abort_watch: AbortWatch | None = None

    # ------------------------------------------------------------------ dispatch
    def run(self, state: DeployState) -> Event:
        handlers: dict[Phase, Callable[[DeployState], Event]] = {
            Phase.VALIDATE: self.validate, Phase.LOCK: self.take_lock, Phase.RECOVER: self.recover,
            Phase.PREFLIGHT: self.preflight, Phase.KILL_SWITCH: self.kill_switch, Phase.PLAN: self.plan,
            Phase.APPLY: self.apply, Phase.GATE: self.gate, Phase.VERIFY: self.verify, Phase.BAKE: self.bake,
            Phase.VERIFY_CURRENT: self.verify_current, Phase.ROLLBACK: self.rollback,
            Phase.VERIFY_ROLLBACK: self.verify_rollback, Phase.RESTORE_FLAG: self.restore_flag}
        return handlers[state.phase](state)

    def record_intent(self, state: DeployState) -> None:
        """Before an effect that may change the cluster: the intent, in the Lease."""
        if self.lock is None or self.intent is None:
            return
        # Before the rollback runs, the intent already says it may turn the kill switch off: a
        # process killed right after the flag PATCH must still leave "put it back" behind.
        may_turn_off = state.phase is Phase.ROLLBACK and "flag" in self.config.rollback.via
        self.intent = dataclasses.replace(self.intent, phase=state.stage, changed=state.changed,
                                          verified=state.verified, flag_before=state.flag_before,
                                          flag_turned_off=state.flag_turned_off or may_turn_off)
        retry.call(lambda: self.lock.record(in_flight=self.intent.to_json()) if self.lock and self.intent else None)

    def close(self, keep_record: bool, outcome: dict[str, Any] | None = None) -> None:
        if self.abort_watch is not None:
            self.abort_watch.close()
        if self.view is not None:
            self.view.close()
        if self.lock is not None:
            self.lock.release(keep_record=keep_record, outcome=outcome)

    def abort(self, request: AbortRequest) -> None:
        """Another process asked this deploy to stop (pipeline.abort): end every wait now."""
        self.aborted = request
        self.stop.set()
        if self.view is not None:
            self.view.interrupt(request.describe())

    def take_abort(self) -> AbortRequest | None:
        """The abort request, once: the rollback that follows must run to its end, uninterrupted."""
        request, self.aborted = self.aborted, None
        if request is not None:
            self.stop.clear()
            if self.view is not None:
                self.view.cancel_interrupt()
        return request

    @property
    def api(self) -> client.ApiClient:
        if self._api is None:
            self._api = make_api_client(self.config.kube)
            self.requests = RequestCounter.attach(self._api)
        return self._api

    # ------------------------------------------------------------------ before any change
    def validate(self, state: DeployState) -> Event:
        image = self.request.image
        if image is not None and not image.strip():
            return Refused(ExitCode.USAGE, "--image is empty (an unset CI variable?): name the image to deploy, "
                           "[registry/]name:tag or name@sha256:digest")
        objects = load_manifests(self.config.kube.manifests)
        default = current_image(find_deployment(objects, self.config.kube.deployment), self.config.kube.container)
        try:
            parsed = parse_image((image or default or "").strip()).raw
        except InvalidImage as exc:
            return Refused(ExitCode.USAGE, str(exc))
        self.result.image = parsed
        promotion = self._promotion(parsed)
        if promotion is not None and not promotion.allowed:
            return Refused(ExitCode.FAILED_CHECK, promotion.message)
        self.result.commit = self.request.commit or self.environ.get("GITHUB_SHA") or head_commit(
            self.config.rollback.git_repo)
        actor = ci.detect(self.environ).actor
        cause = f"deploy {parsed} ({(self.result.commit or 'no commit')[:12]}) by {actor}"
        self.rendered = render(objects, self.config, parsed, cause)
        self.match_labels = dict(self.rendered.deployment["spec"]["selector"]["matchLabels"])
        self.secrets = self.secrets or secret_source(
            self.config, self.api if self.config.secrets.source == "kubernetes" else None)
        self.api                                   # a bad kubeconfig is a usage error, found now
        data = {"promotion": promotion.to_json()} if promotion is not None else {}
        return Ok("image, manifests, cluster connection" + (f"; {promotion.message}" if promotion else ""), data)

    def take_lock(self, state: DeployState) -> Event:
        self.lock = DeployLock.for_environment(self.config, self.api, info={"image": self.result.image})
        try:
            status = self.lock.acquire()
        except LockHeld as held:
            self.lock = None
            return Refused(ExitCode.LOCKED, str(held))
        self.abort_watch = AbortWatch(self.api, self.config.kube.namespace, self.lock.name, self.abort).start()
        previous = self.lock.previous
        taken = f"; took over from {previous.holder} ({previous.reason})" if previous and previous.holder else ""
        return Ok(f"held by {self.lock.identity} until renewed{taken}",
                  {"lease": self.lock.name, "transitions": status.transitions})

    def recover(self, state: DeployState) -> Event:
        previous = self.lock.previous if self.lock else None
        dead = Intent.from_json((previous.info if previous else {}).get("in_flight"))
        outcome = recovery.converge(dead, self._recovery_adapters())
        if outcome.failed:
            return Failed("verification_error", outcome.detail)
        return Ok(outcome.detail, {"actions": list(outcome.actions)})

    def preflight(self, state: DeployState) -> Event:
        report = run_preflight(self.config, skip=self.request.skip_checks, source=self.secrets)
        self.result.preflight = report.to_dict()
        detail = f"{len(report.results)} checks: " + ("all passed" if report.ok else
                                                       f"failed {', '.join(report.failed) or '-'}; "
                                                       f"errors {', '.join(report.errored) or '-'}")
        return Ok(detail) if report.ok else Refused(report.exit_code, f"preflight: {detail}")

    def kill_switch(self, state: DeployState) -> Event:
        """The kill switch must be ON (or explicitly accepted OFF): verifying with it off proves nothing."""
        if "flag" not in self.config.rollback.via:
            return Ok("not used in this environment (rollback.via has no flag)", {"on": None})
        plan = self._flag().plan()
        if plan.data.get("error") is not None or "on" not in plan.data:
            return Refused(ExitCode.CHECK_ERROR, f"cannot read the kill switch: {plan.current}")
        on = bool(plan.data["on"])
        if not on and not self.request.allow_kill_switch_off:
            return Refused(ExitCode.FAILED_CHECK, f"{plan.current}: with the integration off, verification "
                           "cannot prove Klaviyo works. Turn it on (invoke flag-on) or pass "
                           "--allow-kill-switch-off to deploy anyway (recorded)")
        accepted = "" if on else " (accepted by --allow-kill-switch-off: Klaviyo is not verified)"
        return Ok(plan.current + accepted, {"on": on})

    def plan(self, state: DeployState) -> Event:
        assert self.rendered is not None
        live = self._read_deployment()
        self.result.previous_image = current_image(live, self.config.kube.container)
        applier = Applier(self.api)
        synced = self._sync_secrets(applier, dry_run=True)
        changes = retry.call(lambda: applier.plan(self.rendered.objects if self.rendered else []))
        changed = live is None or any(p.startswith("spec.template") for c in changes if c.kind == "Deployment"
                                      for p in c.paths)
        replicas = int(self.rendered.deployment["spec"].get("replicas", 1))
        self._verifier(self, self.request.allow_kill_switch_off)   # a missing signing secret: refused now
        self.intent = Intent(self.deploy_id, self.result.image, self.lock.identity if self.lock else "",
                             _now(), history.without_hash(live["spec"]["template"]) if live else None,
                             self.result.previous_image,
                             kill_switch_off_accepted=self.request.allow_kill_switch_off,
                             created=tuple(f"{c.kind}/{c.name}" for c in changes if c.action == "created"))
        detail = "; ".join(c.describe() for c in changes) + (f"; secrets {', '.join(synced)}" if synced else "")
        return Ok(detail, {"template_changed": changed, "gates": plan_gates(self.config.rollout.gates, replicas),
                           "changes": [dataclasses.asdict(c) for c in changes], "synced_from_source": synced})

    # ------------------------------------------------------------------ the rollout
    def apply(self, state: DeployState) -> Event:
        assert self.rendered is not None
        applier = Applier(self.api)
        self._sync_secrets(applier, dry_run=False)
        self.rendered.deployment["spec"]["paused"] = True     # nothing moves until the first gate opens
        applied = retry.call(lambda: applier.apply(self.rendered.objects if self.rendered else []))
        return Ok("; ".join(c.describe() for c in applied))

    def gate(self, state: DeployState) -> Event:
        target = state.gates[state.gate - 1]
        outcome = Rollout(self.api, self.config.kube.namespace, self.config.kube.deployment).advance(
            self._view(), target, state.gate == len(state.gates),
            float(self.config.rollout.progress_deadline_seconds),
            lambda progress, check: self.on_progress(state.stage, progress, check))
        self.gate_pods = list(outcome.new_pods)
        if not outcome.reached:
            return Failed(outcome.failure_kind or "rollout_stuck", outcome.detail)
        return Ok(outcome.detail, {"gate": target, "pods": list(outcome.new_pods), "overshoot": outcome.overshoot})

    def verify(self, state: DeployState) -> Event:
        verification = self._verifier(self, self._flag_accepted(state)).gate(
            state.stage, self.gate_pods, self.config.rollout.gate_verify_seconds)
        return self._verdict(verification)

    def bake(self, state: DeployState) -> Event:
        verification = self._verifier(self, self._flag_accepted(state)).bake(
            "bake", self.current_pods, self.config.rollout.bake_seconds)
        return self._verdict(verification)

    def verify_current(self, state: DeployState) -> Event:
        assert self.rendered is not None
        applied = retry.call(lambda: Applier(self.api).apply(self.rendered.objects if self.rendered else []))
        verification = self._verifier(self, self._flag_accepted(state)).gate(
            "current pods", self.current_pods(), self.config.rollout.gate_verify_seconds)
        event = self._verdict(verification)
        if isinstance(event, Ok):
            return Ok(f"{self.result.image} already rolled out; verified "
                      f"({'; '.join(c.describe() for c in applied)})", event.data)
        return event

    # ------------------------------------------------------------------ rollback
    def rollback(self, state: DeployState) -> Event:
        failure = state.failure
        kind = failure.kind if failure and failure.kind in policy.FAILURE_KINDS else "verification_error"
        decision = policy.automatic(kind, self.config.rollback.via, self.result.commit,
                                    self.config.rollback.automatic)
        mechanisms = [m for m in decision.mechanisms if not (state.interrupted and m == "git")]
        if "undo" not in mechanisms:
            return Failed(kind, f"no rollout undo ({decision.why}; {'; '.join(decision.skipped) or '-'})")
        reason = f"automatic: {kind} at {failure.stage if failure else '?'}"
        built = factory.build(mechanisms, self.config, factory.Options(
            commit=self.result.commit, resume_paused=True, api_client=self.api, secrets=self.secrets,
            to_template=self.intent.from_template if self.intent else None,
            remove_created=self.intent.first_release if self.intent else None))
        run = runner.run(built.mechanisms, reason, on_result=self.on_action, scrub=self.scrub)
        flag_off = any(r.mechanism == "flag" and r.ok and r.data.get("on_before") for r in run.results)
        undone = any(r.mechanism == "undo" and r.ok for r in run.results)
        data = {"flag_turned_off": flag_off, "mechanisms": mechanisms, "summary": run.summary()}
        return Ok(run.summary(), data) if undone else Failed(kind, run.summary())

    def verify_rollback(self, state: DeployState) -> Event:
        if self.intent is not None and self.intent.first_release:
            gone = self._view().wait_until(lambda s: s if s.deployment is None else None,
                                           time.monotonic() + self.config.rollout.progress_deadline_seconds)
            if gone is None:
                return Failed("rollout_stuck", "the failed first release's Deployment is still in the deploy's view")
            return Ok("no release is serving, as before this first deploy: its Deployment is gone")
        settled = self._view().wait_until(lambda s: s if s.deployment and rollout_status(s.deployment).done
                                          else None, time.monotonic() + self.config.rollout.progress_deadline_seconds)
        if settled is None:
            return Failed("rollout_stuck", "the rollback's rollout did not complete in the deploy's view")
        # The previous release was verified when it was deployed; here its pods must be back and
        # healthy as far as they can tell. With the kill switch OFF (turned off by this rollback,
        # or by on-call meanwhile) they cannot probe Klaviyo: the restore-flag step proves that.
        verification = self._verifier(self, False).health("after rollback", self.current_pods(),
                                                          kill_switch_off_accepted=True)
        return self._verdict(verification)

    def restore_flag(self, state: DeployState) -> Event:
        flag = self._flag()
        restored = flag.turn_on("automatic rollback verified; restoring the integration as it was before the deploy")
        self.on_action(restored)
        if not restored.ok:
            return Failed("verification_error", f"could not turn the kill switch back on: {restored.detail}")
        if self.intent is not None and self.intent.first_release:
            return Ok("kill switch back ON; no release is serving, as before this first deploy")
        checked = self._verifier(self, False).health("flag restored", self.current_pods(),
                                                     kill_switch_off_accepted=False)
        if checked.passed:
            return Ok("kill switch back ON; the previous release verified with Klaviyo on")
        self.on_action(flag.execute("the previous version is unhealthy with the integration on"))
        return Failed("verification_error", f"previous release unhealthy with the kill switch ON: {checked.detail}")

    # ------------------------------------------------------------------ plumbing
    def _promotion(self, image: str) -> Any:
        """Promotion by digest (pipeline.promotion): None when the environment has no rule."""
        if not self.config.promote_from:
            return None
        from pipeline.promotion import decide

        records = self._source_records(self.config.promote_from)
        return decide(self.config.name, self.config.promote_from, image, records, self.request.promotion_override)

    def _source_records(self, env: str) -> list[Any]:
        """The deploys the source environment recorded, read from its release records in its cluster
        (the deploy job needs read access there: get/list configmaps, docs/rbac.md)."""
        from pipeline.config import load_config
        from pipeline.promotion import Record
        from pipeline.records import Records

        source = load_config(env, self.request.config_path, self.environ)
        api = self.api if source.kube == self.config.kube else make_api_client(source.kube)
        facts = Records.for_environment(source, api, None).facts()
        return [Record(r.image, r.digest, r.outcome, datetime.fromisoformat(r.time.replace("Z", "+00:00")))
                for r in facts.deploys]

    def current_pods(self) -> list[str]:
        """Ready pods of the Deployment's current template, from the shared informer's cache."""
        view = self._view()
        snapshot = view.wait_until(lambda s: s, time.monotonic() + 30)
        if snapshot is None or snapshot.deployment is None:
            return []
        current = new_replicaset(snapshot.deployment, list(snapshot.replica_sets))
        names = set(new_pods(current, list(snapshot.pods))) if current else set()
        return sorted(p["metadata"]["name"] for p in snapshot.pods if p["metadata"]["name"] in names and is_ready(p))

    def scrub(self, text: str) -> str:
        return redact(text, self.known_secrets())

    def known_secrets(self) -> list[Any]:
        if self.secrets is None:
            return []
        names = dataclasses.asdict(self.config.secrets)
        return [self.secrets.get(v) for k, v in names.items() if k not in ("source", "path") and v]

    def _view(self) -> ClusterView:
        if self.view is None:
            self.view = ClusterView.of(self.api, self.config.kube.namespace, self.config.kube.deployment,
                                       self.match_labels).__enter__()
        return self.view

    def _flag_accepted(self, state: DeployState) -> bool:
        return state.flag_before is False and self.request.allow_kill_switch_off

    def _verdict(self, verification: Verification) -> Event:
        verdicts = [{"stage": verification.stage, **v.to_json()} for v in verification.verdicts]
        self.result.verdicts += verdicts
        self.verification_requests += verification.requests
        if verification.passed:
            return Ok(verification.detail, {"verdicts": verdicts})
        return Failed(verification.failure_kind or "health_check", verification.detail)

    def _flag(self) -> Any:
        from pipeline.rollback.flag_kill_switch import FlagKillSwitch

        return FlagKillSwitch(self.config, self.secrets)

    def _read_deployment(self) -> dict[str, Any] | None:
        return read_deployment(self.api, self.config.kube.namespace, self.config.kube.deployment)

    def _sync_secrets(self, applier: Applier, dry_run: bool) -> list[str]:
        assert self.rendered is not None and self.secrets is not None
        if self.config.secrets.source == "kubernetes":
            return []                     # the cluster's Secret is the source: nothing to copy
        return retry.call(lambda: applier.sync_secrets(self.rendered.deployment if self.rendered else {},
                                                       self.secrets, self.config.kube.namespace, dry_run))  # type: ignore[arg-type]

    def _recovery_adapters(self) -> recovery.Adapters:
        return recovery.Adapters(self.config, self.api, self.secrets, self.on_action)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def head_commit(repo_path: str) -> str | None:
    """The commit being deployed: HEAD of the checkout (None outside a git repository)."""
    import git

    try:
        return git.Repo(repo_path, search_parent_directories=True).head.commit.hexsha
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return None

