"""``invoke deploy``: the stages in order, and what each outcome means.

lock -> recover (a dead deploy's leftovers) -> preflight -> plan (server-side dry run;
``--dry-run`` stops here) -> gated rollout (pause at each gate, verify, resume) -> bake ->
deployed. A failed gate or verdict triggers the automatic rollback the policy chooses,
then verification that the previous version is healthy again. Every stage is recorded in
the :class:`DeployResult`, which one release record in the cluster keeps (pipeline/records);
the exit code follows from the outcome.
"""
from __future__ import annotations

import dataclasses
import os
import threading
import time
import uuid
from datetime import datetime, timezone
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Protocol

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from pipeline import ci
from pipeline.config import ConfigError, EnvConfig
from pipeline.deploy import recovery
from pipeline.deploy.apply import Applier, Change
from pipeline.deploy.gated_rollout import GateOutcome, Rollout, is_ready
from pipeline.deploy.image import parse_image
from pipeline.deploy.observe import RolloutObserver
from pipeline.deploy.render import Rendered, current_image, find_deployment, load_manifests, render
from pipeline.deploy.result import DeployOutcome, DeployResult, StageRecord
from pipeline.deploy.verification import Verification, Verifier
from pipeline.exit_codes import ExitCode
from pipeline.kube.client import api_client as make_api_client, read_json
from pipeline.kube.rollout import revision
from pipeline.lock import DeployLock, LockHeld
from pipeline.preflight.runner import run_preflight
from pipeline.records import Records
from pipeline.records.writers import record_deploy
from pipeline.rollback import factory, policy, runner
from pipeline.rollout.gates import GateCheck, RolloutProgress, plan_gates
from pipeline.secrets import SecretSource, redact, secret_source
from pipeline.verify.podproxy import PodProxy
from pipeline.verify.pods import new_pods, new_replicaset
from pipeline.verify.providers.pods import PodMetricsProvider
from pipeline.verify.providers.prometheus import PrometheusProvider


@dataclass(frozen=True)
class DeployRequest:
    image: str | None = None             # None: the image the manifests name
    dry_run: bool = False
    skip_checks: tuple[str, ...] = ()
    commit: str | None = None            # None: HEAD of rollback.git_repo


@dataclass(frozen=True)
class Failure:
    kind: str                            # a rollback-policy failure kind
    stage: str
    detail: str


class Events(Protocol):
    """What a front end (terminal, JSON) is told as the deploy goes."""

    def stage_started(self, name: str, detail: str) -> None: ...

    def stage_finished(self, record: StageRecord) -> None: ...

    def progress(self, stage: str, progress: RolloutProgress, check: GateCheck) -> None: ...


class QuietEvents:
    def stage_started(self, name: str, detail: str) -> None:
        pass

    def stage_finished(self, record: StageRecord) -> None:
        pass

    def progress(self, stage: str, progress: RolloutProgress, check: GateCheck) -> None:
        pass


class StageFailed(Exception):
    def __init__(self, outcome: DeployOutcome, reason: str, exit_code: int) -> None:
        super().__init__(reason)
        self.outcome, self.reason, self.exit_code = outcome, reason, exit_code


class Deploy:
    def __init__(self, config: EnvConfig, request: DeployRequest, events: Events | None = None,
                 environ: Mapping[str, str] | None = None, api: client.ApiClient | None = None,
                 secrets: SecretSource | None = None) -> None:
        self.config, self.request = config, request
        self.events = events or QuietEvents()
        self.environ = dict(os.environ if environ is None else environ)
        self.run_context = ci.detect(self.environ)
        self._api, self._secrets = api, secrets
        self.stop = threading.Event()
        self.deploy_id = uuid.uuid4().hex[:12]
        self.result = DeployResult(config.name, config.app, request.image or "", actor=self.run_context.actor,
                                   run_url=self.run_context.run_url)
        self.records: Records | None = None   # the release record store (one record per deploy)
        self.lock: DeployLock | None = None
        self.rendered: Rendered | None = None
        self.live: dict[str, Any] | None = None
        self.from_revision: int | None = None
        self.changed = False                 # set once the cluster was written to

    # ================================================================= the whole run
    def run(self) -> DeployResult:
        start = time.monotonic()
        try:
            self._prepare()
            self._locked_run()
        except StageFailed as stop:
            self.result.finish(stop.outcome, stop.reason, stop.exit_code)
        except ConfigError as exc:
            self.result.finish(DeployOutcome.REFUSED, redact(str(exc), self._known_secrets()), ExitCode.USAGE)
        except Exception as exc:  # noqa: BLE001 - an unexpected failure still ends in a result and exit code
            why = redact(f"{type(exc).__name__}: {exc}", self._known_secrets())
            if self.changed:
                self.result.finish(DeployOutcome.ROLLBACK_FAILED, f"unexpected error after the cluster was "
                                   f"changed: {why}; the lock's record lets the next deploy or rollback "
                                   "finish or undo the rollout", ExitCode.ROLLBACK_FAILED)
            else:
                self.result.finish(DeployOutcome.REFUSED, f"could not run: {why}; nothing was changed",
                                   ExitCode.CHECK_ERROR)
        except KeyboardInterrupt:
            self.stop.set()
            self.result.finish(DeployOutcome.ROLLBACK_FAILED, "interrupted (Ctrl-C); the lock's record lets the "
                               "next deploy or rollback finish or undo the rollout", ExitCode.INTERRUPTED)
        self.result.duration_seconds = time.monotonic() - start
        self._write_release_record()
        return self.result

    def _locked_run(self) -> None:
        with self._stage("lock", f"deploy-lock-{self.config.app}-{self.config.name}") as stage:
            self._acquire_lock(stage)
        try:
            self._recover()
            self._preflight()
            changes = self._plan()
            if self.request.dry_run:
                self.result.finish(DeployOutcome.DRY_RUN, "dry run: planned, nothing changed")
                return
            self._record("deploy_started", {"image": self.result.image, "commit": self.result.commit,
                                            "previous_image": self.result.previous_image,
                                            "previous_revision": self.from_revision,
                                            "changes": [c.describe() for c in changes]})
            failure = self._deliver(changes)
            if failure is None and self.result.outcome is not DeployOutcome.NOTHING_TO_DO:
                self.result.finish(DeployOutcome.DEPLOYED, f"{self.result.image} rolled out through every "
                                   "gate and baked")
            else:
                self._roll_back(failure)
        finally:
            assert self.lock is not None
            # A rollout that failed and was not rolled back keeps its record in the Lease, so the
            # next deploy or rollback undoes it instead of trusting it.
            self.lock.release(keep_record=self.result.outcome is DeployOutcome.ROLLBACK_FAILED)

    # ================================================================= stages
    def _prepare(self) -> None:
        with self._stage("validate", "image, manifests, cluster connection", refuse=ExitCode.USAGE):
            objects = load_manifests(self.config.kube.manifests)
            default = current_image(find_deployment(objects, self.config.kube.deployment),
                                    self.config.kube.container)
            image = parse_image(self.request.image or default or "").raw
            self.result.image = image
            self.result.commit = self.request.commit or head_commit(self.config.rollback.git_repo)
            cause = f"deploy {image} ({(self.result.commit or 'no commit')[:12]}) by {self.run_context.actor}"
            self.rendered = render(objects, self.config, image, cause)
            self._secrets = self._secrets or secret_source(
                self.config, self.api if self.config.secrets.source == "kubernetes" else None)
            self.api  # a bad kubeconfig or context is a usage error, found before anything else
            self.records = Records.for_environment(self.config, self.api, self._secrets)

    def _acquire_lock(self, stage: StageRecord) -> None:
        self.lock = DeployLock.for_environment(self.config, self.api, info={"image": self.result.image})
        try:
            status = self.lock.acquire()
        except LockHeld as held:
            raise StageFailed(DeployOutcome.REFUSED, str(held), ExitCode.LOCKED) from None
        previous = self.lock.previous
        taken = f"; took over from {previous.holder} ({previous.reason})" if previous and previous.holder else ""
        stage.detail = f"held by {self.lock.identity} until renewed{taken}"
        stage.data = {"lease": self.lock.name, "transitions": status.transitions}

    def _recover(self) -> None:
        in_flight = recovery.in_flight_of(self.lock.previous.info if self.lock and self.lock.previous else None)
        live = self._read_deployment()
        state = recovery.ClusterState(live is not None, bool(live and live["spec"].get("paused")),
                                      revision(live) if live else None,
                                      current_image(live, self.config.kube.container))
        decision = recovery.decide(in_flight, state)
        if decision.action is recovery.Action.NONE:
            return
        with self._stage("recover", decision.reason) as stage:
            if decision.action is recovery.Action.RESUME:
                Rollout(self.api, self.config.kube.namespace, self.config.kube.deployment).set_paused(False)
            else:
                outcome = self._undo_to(decision.to_revision or 0, f"recovering: {decision.reason}")
                stage.data = outcome.to_json()
                if not outcome.ok:
                    raise StageFailed(DeployOutcome.ROLLBACK_FAILED, f"could not recover the interrupted deploy: "
                                      f"{outcome.detail}", ExitCode.ROLLBACK_FAILED)

    def _preflight(self) -> None:
        with self._stage("preflight", "the production checklist, concurrently") as stage:
            report = run_preflight(self.config, skip=self.request.skip_checks, source=self._secrets)
            self.result.preflight = report.to_dict()
            stage.detail = f"{len(report.results)} checks: " + (
                "all passed" if report.ok else f"failed {', '.join(report.failed) or '-'}; "
                f"errors {', '.join(report.errored) or '-'}")
            if not report.ok:
                stage.status = "failed"
                raise StageFailed(DeployOutcome.REFUSED, f"preflight: {stage.detail}; nothing was changed",
                                  report.exit_code)

    def _plan(self) -> list[Change]:
        assert self.rendered is not None
        with self._stage("plan", "server-side dry run", refuse=ExitCode.USAGE) as stage:
            self.live = self._read_deployment()
            self.result.previous_image = current_image(self.live, self.config.kube.container)
            self.from_revision = revision(self.live) if self.live else None
            applier = Applier(self.api)
            synced = self._sync_secrets(applier, dry_run=True)
            changes = applier.plan(self.rendered.objects)
            stage.detail = "; ".join(c.describe() for c in changes) + (f"; secrets {', '.join(synced)}" if synced else "")
            stage.data = {"changes": [dataclasses.asdict(c) for c in changes], "synced_from_source": synced}
        return changes

    def _deliver(self, changes: list[Change]) -> Failure | None:
        assert self.rendered is not None and self.lock is not None
        template_changes = any(p.startswith("spec.template") for c in changes if c.kind == "Deployment"
                               for p in c.paths) or self.live is None
        self.changed = True
        self.lock.record(in_flight=dataclasses.asdict(recovery.InFlight(
            self.deploy_id, self.result.image, self.from_revision, self.result.previous_image,
            self.lock.identity, datetime.now(timezone.utc).isoformat(timespec="seconds"))))
        applier = Applier(self.api)
        self._sync_secrets(applier, dry_run=False)
        if template_changes:
            self.rendered.deployment["spec"]["paused"] = True     # nothing moves until the first gate opens
        with self._stage("apply", "server-side apply", refuse=ExitCode.ROLLBACK_FAILED) as stage:
            applied = applier.apply(self.rendered.objects)
            stage.detail = "; ".join(c.describe() for c in applied)
        if not template_changes:
            verification = self._verify_stage("current pods", self._current_pods(),
                                              self.config.rollout.gate_verify_seconds)
            if verification.passed:
                self.result.finish(DeployOutcome.NOTHING_TO_DO, f"{self.result.image} already rolled out; verified")
            return None if verification.passed else Failure(verification.failure_kind or "health_check",
                                                             "verify", verification.detail)
        return self._gated_rollout()

    def _gated_rollout(self) -> Failure | None:
        assert self.rendered is not None
        ns, name = self.config.kube.namespace, self.config.kube.deployment
        labels = self.rendered.deployment["spec"]["selector"]["matchLabels"]
        gates = plan_gates(self.config.rollout.gates, int(self.rendered.deployment["spec"].get("replicas", 1)))
        rollout = Rollout(self.api, ns, name)
        with RolloutObserver(self.api, ns, name, labels) as observer:
            for index, gate in enumerate(gates, start=1):
                label = f"gate {index}/{len(gates)}"
                outcome = self._advance(rollout, observer, label, gate, index == len(gates))
                if not outcome.reached:
                    return Failure(outcome.failure_kind or "rollout_stuck", label, outcome.detail)
                verification = self._verify_stage(label, list(outcome.new_pods),
                                                  self.config.rollout.gate_verify_seconds)
                if not verification.passed:
                    return Failure(verification.failure_kind or "health_check", label, verification.detail)
            return self._bake()

    def _advance(self, rollout: Rollout, observer: RolloutObserver, label: str, gate: int,
                 last: bool) -> GateOutcome:
        with self._stage(label, f"resume until {gate} new pods are available") as stage:
            outcome = rollout.advance(observer, gate, last, float(self.config.rollout.progress_deadline_seconds),
                                      lambda progress, check: self.events.progress(label, progress, check))
            stage.detail, stage.data = outcome.detail, {"gate": gate, "pods": list(outcome.new_pods),
                                                        "overshoot": outcome.overshoot}
            stage.status = "passed" if outcome.reached else "failed"
        return outcome

    def _bake(self) -> Failure | None:
        seconds = self.config.rollout.bake_seconds
        with self._stage("bake", f"{seconds:.0f}s of verification at 100%") as stage:
            verification = self._verifier().bake("bake", self._current_pods, seconds,
                                                 self.config.rollout.gate_verify_seconds)
            self._take_verdicts(verification, stage)
        return None if verification.passed else Failure(verification.failure_kind or "health_check", "bake",
                                                         verification.detail)

    def _verify_stage(self, label: str, pods: list[str], seconds: float) -> Verification:
        with self._stage(f"verify {label}", f"{len(pods)} new pods: health, then metrics over {seconds:.0f}s") as stage:
            verification = self._verifier().window(label, pods, seconds)
            self._take_verdicts(verification, stage)
        return verification

    def _take_verdicts(self, verification: Verification, stage: StageRecord) -> None:
        verdicts = [{"stage": verification.stage, **v.to_json()} for v in verification.verdicts]
        self.result.verdicts += verdicts
        stage.status = "passed" if verification.passed else "failed"
        stage.detail = verification.detail
        stage.data = {"verdicts": verdicts}

    # ================================================================= rollback
    def _roll_back(self, failure: Failure) -> None:
        decision = policy.automatic(failure.kind, self.config.rollback.via, self.result.commit,
                                    self.config.rollback.automatic)
        reason = f"automatic: {failure.kind} at {failure.stage}: {failure.detail}"
        self._record("rollback_started", {"via": list(decision.mechanisms), "reason": reason, "automatic": True,
                                          "why": decision.why, "skipped": list(decision.skipped)})
        if not decision.mechanisms:
            self.result.finish(DeployOutcome.ROLLBACK_FAILED, f"{reason}; no rollback: {decision.why}")
            return
        with self._stage("rollback", f"{', '.join(decision.mechanisms)}: {decision.why}") as stage:
            built = factory.build(decision.mechanisms, self.config, factory.Options(
                to_revision=self.from_revision or 0, commit=self.result.commit, resume_paused=True,
                api_client=self.api, secrets=self._secrets))
            run = runner.run(built.mechanisms, reason, on_result=self._rollback_action,
                             scrub=lambda text: redact(text, self._known_secrets()))
            stage.detail, stage.status = run.summary(), "passed" if run.ok else "failed"
        healthy = run.ok and self._after_rollback(built, "flag" in decision.mechanisms)
        if healthy:
            self.result.finish(DeployOutcome.ROLLED_BACK, f"{reason}; {run.summary()}")
        else:
            self.result.finish(DeployOutcome.ROLLBACK_FAILED, f"{reason}; {run.summary()}; the previous "
                               "version is not verified healthy: page someone")

    def _rollback_action(self, result: Any) -> None:
        self.result.rollback.append(result.to_json())
        self._record("rollback_action", result.to_json())

    def _after_rollback(self, built: factory.Built, flag_was_turned_off: bool) -> bool:
        """The previous version must be healthy again; with the policy's restore, with Klaviyo on."""
        with self._stage("verify rollback", "the previous version's pods") as stage:
            verification = self._verifier().health("after rollback", self._current_pods())
            self._take_verdicts(verification, stage)
        if not verification.passed or not (flag_was_turned_off and self.config.rollback.restore_flag):
            return verification.passed
        flag = next(m for m in built.mechanisms if m.name == "flag")
        with self._stage("restore flag", "the previous version with the integration on again") as stage:
            restored = flag.turn_on("automatic rollback verified; restoring the integration on the previous version")
            self._rollback_action(restored)
            checked = self._verifier(disabled_ok=False).health("flag restored", self._current_pods())
            self._take_verdicts(checked, stage)
            if restored.ok and not checked.passed:
                self._rollback_action(flag.execute("the previous version is unhealthy with the integration on"))
            stage.status = "passed" if restored.ok and checked.passed else "failed"
        return restored.ok and checked.passed

    def _undo_to(self, to_revision: int, reason: str) -> Any:
        built = factory.build(["undo"], self.config, factory.Options(to_revision=to_revision, resume_paused=True,
                                                                      api_client=self.api, secrets=self._secrets))
        return runner.run(built.mechanisms, reason).results[0]

    # ================================================================= plumbing
    @property
    def api(self) -> client.ApiClient:
        if self._api is None:
            self._api = make_api_client(self.config.kube)
        return self._api

    def _verifier(self, disabled_ok: bool = True) -> Verifier:
        settings, kube = self.config.rollout, self.config.kube
        proxy = PodProxy(self.api, kube.namespace)
        provider = (PrometheusProvider(settings.prometheus_url, kube.namespace, self.config.thresholds)
                    if settings.metrics_source == "prometheus"
                    else PodMetricsProvider(proxy, kube.health_port, self.config.thresholds, kube.metrics_path))
        return Verifier(proxy, provider, kube.health_port, kube.health_path, self.stop, disabled_ok)

    def _read_deployment(self) -> dict[str, Any] | None:
        try:
            return read_json(client.AppsV1Api(self.api).read_namespaced_deployment,
                             self.config.kube.deployment, self.config.kube.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _current_pods(self) -> list[str]:
        live = self._read_deployment()
        if live is None:
            return []
        apps, core = client.AppsV1Api(self.api), client.CoreV1Api(self.api)
        selector = ",".join(f"{k}={v}" for k, v in live["spec"]["selector"]["matchLabels"].items())
        ns = self.config.kube.namespace
        replica_sets = read_json(apps.list_namespaced_replica_set, ns, label_selector=selector)["items"]
        pods = read_json(core.list_namespaced_pod, ns, label_selector=selector)["items"]
        current = new_replicaset(live, replica_sets)
        names = set(new_pods(current, pods)) if current else set()
        return sorted(p["metadata"]["name"] for p in pods if p["metadata"]["name"] in names and is_ready(p))

    def _sync_secrets(self, applier: Applier, dry_run: bool) -> list[str]:
        assert self.rendered is not None and self._secrets is not None
        if self.config.secrets.source == "kubernetes":
            return []                     # the cluster's Secret is the source: nothing to copy
        try:
            return applier.sync_secrets(self.rendered.deployment, self._secrets, self.config.kube.namespace, dry_run)
        except KeyError as exc:
            raise StageFailed(DeployOutcome.REFUSED, f"{exc.args[0]}; nothing was changed", ExitCode.USAGE) from None

    def _known_secrets(self) -> list[Any]:
        if self._secrets is None:
            return []
        names = dataclasses.asdict(self.config.secrets)
        return [self._secrets.get(v) for k, v in names.items() if k not in ("source", "path") and v]

    def _record(self, kind: str, data: dict[str, Any]) -> None:
        """Fine-grained events are no longer written anywhere: the stages, verdicts and rollback
        actions are in the DeployResult, which the one release record keeps (_write_release_record)."""

    # ---- the release record (pipeline/records): one per deploy, written at its end -------------
    def _write_release_record(self) -> None:
        if self.records is None or self.request.dry_run:
            return
        try:
            self.result.audit_head = record_deploy(self.records, self.result.to_json(), self.api,
                                                   self.config.kube)["hash"]
        except Exception as exc:  # noqa: BLE001 - an unrecorded deploy is reported, its outcome stands
            why = redact(f"{type(exc).__name__}: {exc}", self._known_secrets())
            self.result.reason += f"; WARNING: the release record was not written: {why}"

    @contextmanager
    def _stage(self, name: str, detail: str, refuse: int | None = None) -> Iterator[StageRecord]:
        """Time a stage, record it, and turn input errors into a refusal with ``refuse`` as exit code."""
        record = StageRecord(name, "passed", detail)
        self.events.stage_started(name, detail)
        start = time.monotonic()
        try:
            yield record
        except StageFailed:
            record.status = "failed" if record.status == "passed" else record.status
            raise
        except (ValueError, KeyError, OSError, ApiException) as exc:
            if refuse is None:
                raise
            record.status, record.detail = "error", redact(str(exc), self._known_secrets())
            outcome = DeployOutcome.ROLLBACK_FAILED if refuse == ExitCode.ROLLBACK_FAILED else DeployOutcome.REFUSED
            raise StageFailed(outcome, f"{name}: {record.detail}", refuse) from None
        finally:
            record.duration_seconds = time.monotonic() - start
            self.result.stages.append(record)
            self.events.stage_finished(record)
            if name not in ("validate",):
                self._record("stage", {"stage": name, "status": record.status, "detail": record.detail,
                                       "duration_seconds": round(record.duration_seconds, 3), **record.data})


def head_commit(repo_path: str) -> str | None:
    """The commit being deployed: HEAD of the checkout (None outside a git repository)."""
    import git

    try:
        return git.Repo(repo_path, search_parent_directories=True).head.commit.hexsha
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return None
