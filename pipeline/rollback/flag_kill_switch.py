"""Rollback by kill switch: turn the LaunchDarkly flag OFF, then watch the app's SDK serve OFF.

``plan()`` reads the flag (REST). ``execute()`` sends a semantic patch ``turnFlagOff`` with a
comment naming the reason on the same HTTP client, then starts a ``launchdarkly-server-sdk``
client on the streaming connection (as the running app has one) and waits (condition, with a
deadline of ``config.flags.observe_timeout_seconds``) until it serves
``variation_detail(...).reason == {"kind": "OFF"}``. The result reports the time from the
PATCH being sent to that observation (the SDK client connects after the PATCH, so that
nothing delays the PATCH; the figure includes its connection).

Refusals are decided by :func:`next_step` (pure): 409 is retried with backoff, 429 waits as
long as ``Retry-After`` / ``X-Ratelimit-Reset`` say (a wait over the cap fails, stating it),
an unreachable API is retried twice. 405 (approvals required) creates an approval request
and returns PENDING_APPROVAL with its id; 401/403 fail with a message naming the secret,
never its value. :meth:`FlagKillSwitch.turn_on` re-enables the flag after a fix.
"""
from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from pipeline.config import EnvConfig, FlagSettings
from pipeline.launchdarkly import FlagState, LaunchDarklyApi, LaunchDarklyError, flag_state, instruction
from pipeline.rollback.result import Outcome, Plan, RollbackResult
from pipeline.secrets import Secret, SecretSource, redact, secret_source

T = TypeVar("T")
NAME = "flag"
READY_WAIT_CAP_SECONDS = 3.0   # how long the SDK's first connection is waited for (then it keeps trying)
RECHECK_SECONDS = 0.5          # the observer also re-evaluates this often, besides its listener


# ================================================================ decisions (pure)


@dataclass(frozen=True)
class RetryPolicy:
    max_conflict_retries: int = 5
    backoff_initial_seconds: float = 0.2
    backoff_max_seconds: float = 3.0
    max_rate_limit_retries: int = 5
    max_rate_limit_wait_seconds: float = 30.0   # one 429 asking for longer than this: FAILED
    default_rate_limit_wait_seconds: float = 1.0  # a 429 without Retry-After / X-Ratelimit-Reset
    max_unreachable_retries: int = 2           # no answer, or 5xx
    jitter_seconds: float = 0.1


@dataclass(frozen=True)
class Retry:
    wait_seconds: float
    why: str


@dataclass(frozen=True)
class GiveUp:
    why: str


def backoff(attempt: int, policy: RetryPolicy) -> float:
    return min(policy.backoff_max_seconds, policy.backoff_initial_seconds * 2 ** attempt)


def next_step(error: LaunchDarklyError, attempt: int, policy: RetryPolicy, jitter: float = 0.0) -> Retry | GiveUp:
    """What to do after ``error``, the ``attempt``-th (0-based) refusal of its kind."""
    if error.status == 409:
        if attempt >= policy.max_conflict_retries:
            return GiveUp(f"LaunchDarkly still reports a conflicting change (409) after "
                          f"{policy.max_conflict_retries} retries")
        return Retry(backoff(attempt, policy) + jitter, "409 conflict with a concurrent change")
    if error.status == 429:
        wait = error.retry_after_seconds
        wait = policy.default_rate_limit_wait_seconds if wait is None else wait
        if wait > policy.max_rate_limit_wait_seconds:
            return GiveUp(f"rate limited (429): LaunchDarkly asks to wait {wait:.0f} s, more than the "
                          f"{policy.max_rate_limit_wait_seconds:.0f} s this command waits; retry after that "
                          "or use another mechanism (--via undo)")
        if attempt >= policy.max_rate_limit_retries:
            return GiveUp(f"still rate limited (429) after {policy.max_rate_limit_retries} waits")
        return Retry(wait + jitter, f"429 rate limited: waiting {wait:.1f} s as the server asks")
    if error.status == 0 or error.status >= 500:
        if attempt >= policy.max_unreachable_retries:
            return GiveUp(f"LaunchDarkly API unavailable after {policy.max_unreachable_retries} retries: "
                          f"{error.message}")
        return Retry(backoff(attempt, policy) + jitter, f"API unavailable ({error.status or 'no answer'})")
    return GiveUp(explain(error))


def explain(error: LaunchDarklyError, token_name: str = "the API access token") -> str:
    """A sentence for a refusal that retrying cannot fix."""
    if error.status == 401:
        return (f"LaunchDarkly rejected {token_name} (401 {error.code}): it is missing, revoked or not an "
                "API access token (an SDK key is not one)")
    if error.status == 403:
        return (f"{token_name} may not make this change (403 {error.code}): it needs a role allowing "
                "updateOn for this flag and environment")
    if error.status == 404:
        return f"not found (404): {error.message}"
    return f"LaunchDarkly answered {error.status} {error.code}: {error.message}"


def switch_word(on: bool) -> str:
    return "ON" if on else "OFF"


def served_as_wanted(target_on: bool) -> Callable[[Any], bool]:
    """The evaluation the app sees once the switch took: reason OFF when off, anything else when on."""
    def check(detail: Any) -> bool:
        kind = (detail.reason or {}).get("kind")
        return kind == "OFF" if not target_on else kind not in ("OFF", "ERROR")
    return check


# ================================================================ SDK observer (adapter)


@dataclass(frozen=True)
class Observation:
    at: float                # time.monotonic() when the SDK first served the target
    value: Any
    reason: dict[str, Any]
    via_listener: bool       # seen in a flag-change listener (False: already so when we looked)


class SdkObserver:
    """A launchdarkly-server-sdk client on the streaming connection: the flag as the app sees it."""

    def __init__(self, settings: FlagSettings, sdk_key: Secret, context_key: str = "klaviyo-pipeline") -> None:
        self._settings = settings
        self._sdk_key = sdk_key
        self._context_key = context_key
        self._condition = threading.Condition()
        self._predicate: Callable[[Any], bool] | None = None
        self._observation: Observation | None = None
        self.listener_calls = 0
        self._client: Any = None

    def start(self, ready_timeout: float) -> bool:
        """Connect; wait up to ``ready_timeout`` for the first ``put``. True when initialised."""
        from ldclient import Config, LDClient

        config = Config(self._sdk_key.reveal(), stream_uri=self._settings.stream_url,
                        events_uri=self._settings.events_url, send_events=False, diagnostic_opt_out=True)
        self._client = LDClient(config=config, start_wait=ready_timeout)
        self._client.flag_tracker.add_listener(self._on_change)
        return bool(self._client.is_initialized())

    def detail(self) -> Any:
        from ldclient import Context

        return self._client.variation_detail(self._settings.kill_switch, Context.create(self._context_key), None)

    def expect(self, predicate: Callable[[Any], bool]) -> None:
        """From now on, record the first moment the flag's evaluation satisfies ``predicate``."""
        with self._condition:
            self._predicate, self._observation = predicate, None
        self._check(via_listener=False)

    def wait(self, timeout: float) -> Observation | None:
        """Until the expected evaluation is seen, or ``timeout``. Woken by the flag-change listener;
        re-evaluates now and then too, in case the change arrived in a ``put`` (a reconnect)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._condition:
                remaining = deadline - time.monotonic()
                if self._observation is not None or remaining <= 0:
                    return self._observation
                self._condition.wait_for(lambda: self._observation is not None, min(remaining, RECHECK_SECONDS))
            self._check(via_listener=False)

    def status(self) -> str:
        status = self._client.data_source_status_provider.status
        error = f" ({status.error.kind}, status {status.error.status_code})" if status.error else ""
        return f"SDK data source {status.state.value}{error}"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _on_change(self, change: Any) -> None:
        if change.key == self._settings.kill_switch:
            with self._condition:
                self.listener_calls += 1
            self._check(via_listener=True)

    def _check(self, via_listener: bool) -> None:
        if self._predicate is None or self._observation is not None:
            return
        detail = self.detail()
        if self._predicate(detail):
            with self._condition:
                if self._observation is None:
                    self._observation = Observation(time.monotonic(), detail.value, dict(detail.reason or {}),
                                                    via_listener)
                self._condition.notify_all()


# ================================================================ the mechanism


class _Stop(Exception):
    """Ends an execution early with a finished result."""

    def __init__(self, result: RollbackResult) -> None:
        super().__init__(result.detail)
        self.result = result


@dataclass
class _Run:
    target_on: bool
    reason: str
    started: float = field(default_factory=time.monotonic)
    data: dict[str, Any] = field(default_factory=dict)
    retries: list[str] = field(default_factory=list)


class FlagKillSwitch:
    """Mechanism "flag": ``FlagKillSwitch(config).execute(reason)`` turns the kill switch OFF."""

    name = NAME

    def __init__(self, config: EnvConfig, secrets: SecretSource | None = None, *,
                 policy: RetryPolicy = RetryPolicy(), sleep: Callable[[float], None] = time.sleep,
                 api_factory: Callable[[str, Secret], LaunchDarklyApi] | None = None,
                 observer_factory: Callable[[FlagSettings, Secret], SdkObserver] | None = None,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self.settings = config.flags
        self._secrets = secrets
        self.policy = policy
        self._sleep = sleep
        self._api_factory = api_factory or (lambda url, token: LaunchDarklyApi(url, token))
        self._observer_factory = observer_factory or SdkObserver
        self._rng = rng or random.Random()
        self._http: LaunchDarklyApi | None = None   # one client for plan and execute (built once)

    # ------------------------------------------------------------ Mechanism

    def plan(self) -> Plan:
        s = self.settings
        target = f"flag {s.kill_switch} OFF in {s.project}/{s.environment}: the app serves its off variation"
        try:
            state = self._read(self._api(), _Run(False, "plan"))   # the client stays open for execute
        except _Stop as stop:
            return Plan(NAME, f"unknown: {stop.result.detail}", target, data={"error": stop.result.detail})
        return Plan(NAME, state.describe(), target, noop=not state.on, data=_state_data(state))

    def execute(self, reason: str, dry_run: bool = False) -> RollbackResult:
        return self._switch(_Run(False, reason), dry_run)

    def turn_on(self, reason: str, dry_run: bool = False) -> RollbackResult:
        """Re-enable the flag after a fix (turnFlagOn), verified the same way."""
        return self._switch(_Run(True, reason), dry_run)

    # ------------------------------------------------------------ steps

    def _switch(self, run: _Run, dry_run: bool) -> RollbackResult:
        s = self.settings
        run.data.update(project=s.project, flag=s.kill_switch, environment=s.environment,
                        target=switch_word(run.target_on))
        try:
            api = self._api()
            before = self._read(api, run)
            run.data.update(version_before=before.version, on_before=before.on)
            if dry_run:
                return self._dry_run(run, before)
            return self._act_and_verify(api, run, before)
        except _Stop as stop:
            return stop.result
        finally:
            self.close()

    def close(self) -> None:
        """Close the HTTP client plan() and execute() share (execute closes it itself)."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def _dry_run(self, run: _Run, before: FlagState) -> RollbackResult:
        word = switch_word(run.target_on)
        if before.on == run.target_on:
            return self._result(run, Outcome.ALREADY, f"{before.describe()}: already {word}, nothing to do")
        return self._result(run, Outcome.DRY_RUN, f"would turn {before.describe()} {word} "
                            f"(semantic patch {instruction(run.target_on)['kind']}, comment {self._comment(run)!r})")

    def _act_and_verify(self, api: LaunchDarklyApi, run: _Run, before: FlagState) -> RollbackResult:
        # The PATCH goes first: every millisecond before it, customers are served the bad path. The
        # verifying SDK client connects after it; a client that connects after the change serves
        # the new state from its first payload, so the verification holds either way.
        observer: SdkObserver | None = None
        try:
            if before.on == run.target_on:
                observer, why_unverifiable = self._start_observer(run)
                return self._verify(run, observer, why_unverifiable, before, Outcome.ALREADY,
                                    f"{before.describe()}: already {switch_word(run.target_on)}")
            after, sent = self._patch(api, run)
            run.data.update(version_after=after.version)
            if after.on != run.target_on:
                return self._result(run, Outcome.FAILED, f"the PATCH was accepted but {after.describe()}")
            observer, why_unverifiable = self._start_observer(run)
            if after.version == before.version:
                return self._verify(run, observer, why_unverifiable, after, Outcome.ALREADY,
                                    f"{after.describe()}: already {switch_word(run.target_on)} (changed meanwhile)")
            changed = (f"turned flag {after.key} {switch_word(run.target_on)} in {after.project}/"
                       f"{after.environment} (version {before.version} -> {after.version})")
            return self._verify(run, observer, why_unverifiable, after, Outcome.DONE, changed, sent)
        finally:
            if observer is not None:
                observer.close()

    def _start_observer(self, run: _Run) -> tuple[SdkObserver | None, str]:
        key_name = self.config.secrets.launchdarkly_sdk_key
        sdk_key = self._source().get(key_name)
        if sdk_key is None:
            return None, f"SDK key {key_name} not found in {self._source().describe()}"
        observer = self._observer_factory(self.settings, sdk_key)
        run.data["sdk_ready"] = observer.start(min(READY_WAIT_CAP_SECONDS, self.settings.observe_timeout_seconds))
        observer.expect(served_as_wanted(run.target_on))
        return observer, ""

    def _patch(self, api: LaunchDarklyApi, run: _Run) -> tuple[FlagState, float]:
        s = self.settings
        sent = [0.0]

        def send() -> dict[str, Any]:
            sent[0] = time.monotonic()
            return api.turn_flag(s.project, s.kill_switch, s.environment, run.target_on, self._comment(run))

        try:
            body = self._with_retries(run, send, "PATCH")
        except _Refused as refused:
            if refused.error.status == 405:
                raise _Stop(self._request_approval(api, run)) from None
            raise _Stop(self._result(run, Outcome.FAILED, refused.why)) from None
        try:
            return flag_state(body, s.project, s.environment), sent[0]
        except LaunchDarklyError:  # a response without this environment: read it back
            return self._read(api, run), sent[0]

    def _request_approval(self, api: LaunchDarklyApi, run: _Run) -> RollbackResult:
        s = self.settings
        description = f"{'Re-enable' if run.target_on else 'Kill switch'}: {run.reason}"
        try:
            approval = self._with_retries(run, lambda: api.create_approval_request(
                s.project, s.kill_switch, s.environment, [instruction(run.target_on)], description,
                self._comment(run)), "approval request")
        except _Refused as refused:
            return self._result(run, Outcome.FAILED, f"environment {s.environment} requires approval (405) and "
                                f"creating the approval request failed: {refused.why}")
        request_id = str(approval.get("_id", ""))
        run.data.update(approval_request_id=request_id, approval_status=approval.get("status"))
        return self._result(run, Outcome.PENDING_APPROVAL,
                            f"environment {s.environment} requires approval to change flags (405): created "
                            f"approval request {request_id} (status {approval.get('status')}) to turn "
                            f"{s.kill_switch} {switch_word(run.target_on)}; nothing changes until a reviewer "
                            "approves and applies it in LaunchDarkly")

    def _verify(self, run: _Run, observer: SdkObserver | None, why_unverifiable: str, state: FlagState,
                outcome: Outcome, done: str, sent: float | None = None) -> RollbackResult:
        if observer is None:
            return self._result(run, Outcome.FAILED, f"{done}, but not verified: {why_unverifiable}",
                                flag_changed=outcome is Outcome.DONE)
        seen = observer.wait(self.settings.observe_timeout_seconds)
        run.data["listener_fired"] = observer.listener_calls > 0
        if seen is None:
            return self._result(run, Outcome.FAILED, f"{done}, but the SDK did not serve "
                                f"{switch_word(run.target_on)} within {self.settings.observe_timeout_seconds:g} s "
                                f"({observer.status()})", flag_changed=outcome is Outcome.DONE)
        run.data.update(served_value=seen.value, served_reason=seen.reason, observed_via_listener=seen.via_listener)
        latency = ""
        if sent is not None:
            run.data["observed_after_seconds"] = round(max(0.0, seen.at - sent), 4)
            latency = f" {run.data['observed_after_seconds']:.3f} s after the PATCH was sent"
        return self._result(run, outcome, f"{done}; the SDK served {seen.value!r} "
                            f"(reason {seen.reason.get('kind')}){latency}")

    # ------------------------------------------------------------ plumbing

    def _read(self, api: LaunchDarklyApi, run: _Run) -> FlagState:
        s = self.settings
        try:
            body = self._with_retries(run, lambda: api.get_flag(s.project, s.kill_switch, s.environment), "GET")
            return flag_state(body, s.project, s.environment)
        except _Refused as refused:
            raise _Stop(self._result(run, Outcome.FAILED, f"could not read flag {s.kill_switch}: {refused.why}")) from None
        except LaunchDarklyError as error:
            raise _Stop(self._result(run, Outcome.FAILED, error.message)) from None

    def _with_retries(self, run: _Run, call: Callable[[], T], what: str) -> T:
        attempts: Counter[str] = Counter()
        while True:
            try:
                return call()
            except LaunchDarklyError as error:
                kind = "429" if error.status == 429 else "409" if error.status == 409 else "other"
                step = next_step(error, attempts[kind], self.policy, self._rng.uniform(0, self.policy.jitter_seconds))
                if isinstance(step, GiveUp):
                    raise _Refused(error, self._explain(error, step)) from None
                attempts[kind] += 1
                run.retries.append(f"{what}: {step.why}; retrying in {step.wait_seconds:.2f} s")
                self._sleep(step.wait_seconds)

    def _explain(self, error: LaunchDarklyError, step: GiveUp) -> str:
        if error.status in (401, 403):
            return explain(error, f"the API access token {self.config.secrets.launchdarkly_api_token} "
                                  f"(from {self._source().describe()})")
        return step.why

    def _api(self) -> LaunchDarklyApi:
        if self._http is not None:
            return self._http
        name = self.config.secrets.launchdarkly_api_token
        token = self._source().get(name)
        if token is None:
            raise _Stop(RollbackResult(NAME, Outcome.FAILED, f"LaunchDarkly API access token {name} not found in "
                                       f"{self._source().describe()}"))
        self._http = self._api_factory(self.settings.api_url, token)
        return self._http

    def _source(self) -> SecretSource:
        if self._secrets is None:
            self._secrets = secret_source(self.config)
        return self._secrets

    def _comment(self, run: _Run) -> str:
        action = "re-enabled" if run.target_on else "kill switch"
        return f"klaviyo-pipeline rollback ({action}, env {self.config.name}): {run.reason}"

    def _result(self, run: _Run, outcome: Outcome, detail: str, **data: Any) -> RollbackResult:
        if run.retries:
            run.data["retries"] = list(run.retries)
        secrets = [self._source().get(self.config.secrets.launchdarkly_api_token),
                   self._source().get(self.config.secrets.launchdarkly_sdk_key)]
        return RollbackResult(NAME, outcome, redact(detail, secrets), time.monotonic() - run.started,
                              {**run.data, **data})


class _Refused(Exception):
    def __init__(self, error: LaunchDarklyError, why: str) -> None:
        super().__init__(why)
        self.error = error
        self.why = why


def _state_data(state: FlagState) -> dict[str, Any]:
    return {"project": state.project, "flag": state.key, "environment": state.environment, "on": state.on,
            "version": state.version, "flag_version": state.flag_version, "off_value": state.off_value}
