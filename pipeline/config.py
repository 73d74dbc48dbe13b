"""Per-environment configuration: one TOML file (``pipeline.toml``), validated into dataclasses.

The file has a ``[defaults]`` table and one ``[env.<name>]`` table per environment; an
environment's table is deep-merged over the defaults. String values may reference
environment variables as ``${NAME}``; for ``--env local`` the variables that
``invoke sandbox.up`` wrote to ``.sandbox/env`` are added. Secrets are never values in
this file: it names where they come from (see ``pipeline.secrets``).

Every error is a :class:`ConfigError` naming the setting (``env.prod.klaviyo.revision``)
and what is accepted. docs/configuration.md is the reference for every key.
"""
from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

DEFAULT_CONFIG_FILE = "pipeline.toml"
SANDBOX_ENV_FILE = Path(".sandbox") / "env"


class ConfigError(ValueError):
    """A setting is missing, unknown or malformed. The message names it."""


@dataclass(frozen=True)
class KubeSettings:
    kubeconfig: str = ""                 # empty: the default kubeconfig ($KUBECONFIG, ~/.kube/config)
    context: str = ""                    # empty: the kubeconfig's current context
    namespace: str = "default"
    deployment: str = "klaviyo-sync"
    container: str = "app"
    manifests: str = "k8s"               # directory of manifests rendered for the environment
    health_port: int = 8080
    health_path: str = "/health"
    metrics_path: str = "/metrics"
    webhook_path: str = "/webhooks/klaviyo"   # where synthetic webhooks are POSTed (rollout.synthetic_webhooks)


@dataclass(frozen=True)
class KlaviyoSettings:
    base_url: str = "https://a.klaviyo.com"
    status_page_url: str = "https://status.klaviyo.com"
    revision: str = "2026-10-15"
    components: tuple[str, ...] = ("Klaviyo API",)
    rate_limit_floor: int = 5            # minimum RateLimit-Remaining for preflight to pass
    maintenance_window_minutes: int = 60  # maintenance starting within this window blocks a deploy
    app_source: str = "examples/klaviyo-sync"  # the app's tree: SDK pin and hard-coded key checks
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class SecretSettings:
    source: str = "env"                  # env | file | kubernetes
    path: str = ""                       # file: a KEY=VALUE file; kubernetes: "<namespace>/<secret name>"
    private_key: str = "KLAVIYO_PRIVATE_KEY"
    webhook_secret: str = "KLAVIYO_WEBHOOK_SIGNING_SECRET"
    public_key: str = ""                 # empty: the app does not use a public key
    launchdarkly_api_token: str = "LAUNCHDARKLY_API_TOKEN"
    launchdarkly_sdk_key: str = "LAUNCHDARKLY_SDK_KEY"
    oauth_client_id: str = "KLAVIYO_OAUTH_CLIENT_ID"
    oauth_client_secret: str = "KLAVIYO_OAUTH_CLIENT_SECRET"
    records_signing_key: str = "PIPELINE_RECORDS_SIGNING_KEY"  # HMAC key of the release records; absent: unsigned


@dataclass(frozen=True)
class FlagSettings:
    api_url: str = "https://app.launchdarkly.com"
    stream_url: str = "https://stream.launchdarkly.com"
    events_url: str = "https://events.launchdarkly.com"
    project: str = "default"
    environment: str = "production"
    kill_switch: str = "klaviyo-enabled"
    observe_timeout_seconds: float = 10.0


@dataclass(frozen=True)
class Thresholds:
    """The checklist's alert thresholds; a verdict fails when a value exceeds its maximum."""
    auth_errors_max: int = 0             # any 401/403 from Klaviyo: P1
    server_errors_per_minute_max: float = 10.0   # 5xx from Klaviyo: P1
    throttled_per_minute_max: float = 5.0        # 429 from Klaviyo: P2
    p95_latency_seconds_max: float = 5.0         # P2
    webhook_signature_failures_max: int = 0      # any invalid signature: P2


@dataclass(frozen=True)
class RolloutSettings:
    gates: tuple[str, ...] = ("1", "50%", "100%")  # pod counts or percentages of spec.replicas
    bake_seconds: float = 60.0
    gate_verify_seconds: float = 10.0
    progress_deadline_seconds: int = 600
    metrics_source: str = "pods"         # pods (each pod's /metrics) | prometheus
    prometheus_url: str = ""
    lock_seconds: int = 30               # the deploy lock's lease; renewed with a third of it left
    min_requests: int = 5                # evidence floor: Klaviyo requests a verdict needs to pass
    scrape_interval_seconds: float = 5.0  # each pod's /metrics is scraped once per interval
    synthetic_webhooks: bool = True      # a genuine and a forged signed webhook to each new pod at each gate


@dataclass(frozen=True)
class RollbackSettings:
    via: tuple[str, ...] = ("flag", "undo", "git")  # on-demand default order
    automatic: bool = True
    restore_flag: bool = True            # after an automatic undo, turn the kill switch back on and re-verify
    git_repo: str = "."                  # the checkout whose deploy commit a git revert undoes
    git_remote: str = "origin"
    git_branch: str = "main"             # the branch the deploy commit is on; the revert is built on it
    git_push_branch: str = ""            # empty: a branch of its own + a pull request; else push there


@dataclass(frozen=True)
class NotifySettings:
    """Who hears about a rollback. The URLs are secrets: these name them in the secret source."""
    slack_webhook: str = ""              # name of the Slack-compatible incoming-webhook URL; empty: none
    webhook: str = ""                    # name of a generic JSON webhook URL; empty: none
    on: tuple[str, ...] = ("rolled_back", "rollback_failed", "abort")
    timeout_seconds: float = 3.0         # the longest a notification may delay the deploy
    runbook_url: str = ""                # empty: docs/runbook.md at the run's commit (in Actions)


@dataclass(frozen=True)
class GitHubSettings:
    deployments: bool = True             # in Actions: record GitHub Deployments and their statuses
    environment_url: str = ""            # the environment's URL shown on GitHub


@dataclass(frozen=True)
class OAuthSettings:
    """The app's Klaviyo OAuth install (KLAVIYO_AUTH=oauth): read by preflight ``oauth`` and ``invoke listing``."""
    enabled: bool = False                # false: the app runs with a private key (single account)
    public_url: str = ""                 # the app's public base URL: install page, <url>/oauth/callback


@dataclass(frozen=True)
class HttpsSettings:
    """HTTPS for service URLs, enforced at load for every environment but ``local``."""
    allow_http: tuple[str, ...] = ()     # the opt-out: settings (e.g. "klaviyo.status_page_url") left on http://
    reason: str = ""                     # why; required with allow_http, shown wherever the opt-out is reported


@dataclass(frozen=True)
class RecordSettings:
    """The release records kept in the cluster (pipeline/records, docs/audit.md)."""
    retention_days: int = 365            # records younger than this are never pruned


@dataclass(frozen=True)
class EnvConfig:
    name: str
    app: str = "klaviyo-sync"
    promote_from: str = ""               # images must carry a digest verified there first; empty: any image
    kube: KubeSettings = field(default_factory=KubeSettings)
    klaviyo: KlaviyoSettings = field(default_factory=KlaviyoSettings)
    secrets: SecretSettings = field(default_factory=SecretSettings)
    flags: FlagSettings = field(default_factory=FlagSettings)
    thresholds: Thresholds = field(default_factory=Thresholds)
    rollout: RolloutSettings = field(default_factory=RolloutSettings)
    rollback: RollbackSettings = field(default_factory=RollbackSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    github: GitHubSettings = field(default_factory=GitHubSettings)
    oauth: OAuthSettings = field(default_factory=OAuthSettings)
    https: HttpsSettings = field(default_factory=HttpsSettings)
    records: RecordSettings = field(default_factory=RecordSettings)
    variables: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)


ROLLBACK_MECHANISMS = ("flag", "undo", "git")
SECRET_SOURCES = ("env", "file", "kubernetes")
METRICS_SOURCES = ("pods", "prometheus")
NOTIFY_EVENTS = ("deployed", "rolled_back", "rollback_failed", "abort", "rollback")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def load_config(env: str, path: str | Path = DEFAULT_CONFIG_FILE,
                environ: Mapping[str, str] | None = None) -> EnvConfig:
    """Read ``path`` and return the validated settings of environment ``env``."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from None
    _reject_unknown(raw, {"defaults", "env"}, "")
    envs = raw.get("env", {})
    if env not in envs:
        known = ", ".join(sorted(envs)) or "none"
        raise ConfigError(f"unknown environment {env!r} (--env): {path} defines {known}")
    merged = _deep_merge(raw.get("defaults", {}), envs[env])
    variables = dict(os.environ if environ is None else environ)
    if env == "local":
        variables = {**read_env_file(SANDBOX_ENV_FILE), **variables}
    used = _referenced(merged)
    _secret_names_are_literal(merged.get("secrets", {}), f"env.{env}")
    merged = _interpolate(merged, variables, f"env.{env}")
    if "name" in merged:
        raise ConfigError(f"unknown setting env.{env}.name; an environment's name is its table name (--env)")
    try:
        config = _build(EnvConfig, merged, f"env.{env}", name=env)
        validate(config)
        require_https(config)
    except ConfigError as error:
        raise ConfigError(_unechoed(str(error), {n: variables[n] for n in used if n in variables})) from None
    if config.promote_from and config.promote_from not in envs:
        raise ConfigError(f"env.{env}.promote_from: {config.promote_from!r} is not an environment in this file "
                          f"(defined: {', '.join(sorted(envs))})")
    return dataclasses.replace(config, variables=variables)


def environments(path: str | Path = DEFAULT_CONFIG_FILE) -> list[str]:
    """The environment names the file defines."""
    return sorted(tomllib.loads(Path(path).read_text()).get("env", {}))


def read_env_file(path: Path) -> dict[str, str]:
    """Parse shell ``KEY=VALUE`` lines (as ``.sandbox/env`` holds); a missing file is empty."""
    if not path.exists():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def validate(config: EnvConfig) -> None:
    """Cross-field rules that types alone do not express."""
    prefix = f"env.{config.name}"
    for mechanism in config.rollback.via:
        if mechanism not in ROLLBACK_MECHANISMS:
            raise ConfigError(f"{prefix}.rollback.via: unknown mechanism {mechanism!r}; "
                              f"accepted: {', '.join(ROLLBACK_MECHANISMS)}")
    if config.secrets.source not in SECRET_SOURCES:
        raise ConfigError(f"{prefix}.secrets.source: {config.secrets.source!r} is not one of "
                          f"{', '.join(SECRET_SOURCES)}")
    if config.rollout.metrics_source not in METRICS_SOURCES:
        raise ConfigError(f"{prefix}.rollout.metrics_source: {config.rollout.metrics_source!r} "
                          f"is not one of {', '.join(METRICS_SOURCES)}")
    if config.rollout.metrics_source == "prometheus" and not config.rollout.prometheus_url:
        raise ConfigError(f"{prefix}.rollout.prometheus_url is required when metrics_source = 'prometheus'")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(\.pre)?", config.klaviyo.revision):
        raise ConfigError(f"{prefix}.klaviyo.revision: {config.klaviyo.revision!r} is not a "
                          "revision date YYYY-MM-DD (optionally .pre)")
    if config.promote_from == config.name:
        raise ConfigError(f"{prefix}.promote_from: an environment cannot promote from itself")
    for key in ("slack_webhook", "webhook"):
        if "://" in getattr(config.notify, key):
            raise ConfigError(f"{prefix}.notify.{key} names the secret holding the URL (e.g. SLACK_WEBHOOK_URL), "
                              "not the URL itself")
    for event in config.notify.on:
        if event not in NOTIFY_EVENTS:
            raise ConfigError(f"{prefix}.notify.on: unknown event {event!r}; accepted: {', '.join(NOTIFY_EVENTS)}")
    if config.rollout.min_requests < 1:
        raise ConfigError(f"{prefix}.rollout.min_requests must be at least 1 (a verdict passes only on evidence), "
                          f"got {config.rollout.min_requests}")
    if config.rollout.scrape_interval_seconds <= 0:
        raise ConfigError(f"{prefix}.rollout.scrape_interval_seconds must be greater than 0, "
                          f"got {config.rollout.scrape_interval_seconds!r}")
    if config.records.retention_days < 1:
        raise ConfigError(f"{prefix}.records.retention_days must be at least 1 (days), "
                          f"got {config.records.retention_days}")
    for gate in config.rollout.gates:
        if not re.fullmatch(r"[1-9]\d*%?", gate) or (gate.endswith("%") and int(gate[:-1]) > 100):
            raise ConfigError(f"{prefix}.rollout.gates: {gate!r} is neither a pod count (\"1\") "
                              "nor a percentage from 1% to 100% (\"50%\")")


# --- HTTPS and secrets in errors -------------------------------------------------------------
# Every non-local environment talks to its services over https://. A setting may stay on
# http:// only when the environment names it in ``https.allow_http`` with a ``https.reason``
# (the recorded opt-out). Errors never echo a value that came from a ${VAR}: the variable's
# name is shown instead, so a secret interpolated into the wrong setting does not leak.

LOCAL_ENV = "local"
SERVICE_URLS = ("klaviyo.base_url", "klaviyo.status_page_url", "flags.api_url", "flags.stream_url",
                "flags.events_url", "rollout.prometheus_url", "oauth.public_url")
SECRET_NAME_SETTINGS = ("private_key", "webhook_secret", "public_key", "launchdarkly_api_token",
                        "launchdarkly_sdk_key", "oauth_client_id", "oauth_client_secret")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def setting(config: EnvConfig, key: str) -> Any:
    """A dotted setting's value: ``setting(config, "klaviyo.base_url")``."""
    value: Any = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


def http_opt_outs(config: EnvConfig) -> tuple[str, ...]:
    """The service URL settings this environment leaves on http:// under its recorded opt-out."""
    return tuple(k for k in config.https.allow_http if str(setting(config, k)).startswith("http://"))


def require_https(config: EnvConfig) -> None:
    """Refuse an http:// service URL outside ``local`` unless the environment opted out for it."""
    prefix = f"env.{config.name}"
    unknown = [k for k in config.https.allow_http if k not in SERVICE_URLS]
    if unknown:
        raise ConfigError(f"{prefix}.https.allow_http: {unknown[0]!r} is not a service URL setting; "
                          f"accepted: {', '.join(SERVICE_URLS)}")
    if config.https.allow_http and not config.https.reason.strip():
        raise ConfigError(f"{prefix}.https.reason is required when https.allow_http is set: say why "
                          "this environment may send traffic unencrypted")
    for name in SECRET_NAME_SETTINGS:
        value = getattr(config.secrets, name)
        if value and (not _ENV_NAME.fullmatch(value) or value.startswith("pk_")):
            raise ConfigError(f"{prefix}.secrets.{name} must be the NAME a secret is stored under "
                              "(letters, digits, _, e.g. KLAVIYO_PRIVATE_KEY), not its value")
    if config.name == LOCAL_ENV:
        return
    for key in SERVICE_URLS:
        url = str(setting(config, key))
        if url.startswith("http://") and key not in config.https.allow_http:
            raise ConfigError(f"{prefix}.{key} must be an https:// URL outside the local sandbox (it is "
                              f"http://...); or list {key!r} in {prefix}.https.allow_http with a reason")


def _secret_names_are_literal(secrets: Any, where: str) -> None:
    """``secrets.private_key = "${KLAVIYO_PRIVATE_KEY}"`` would make the key's value its name."""
    if not isinstance(secrets, Mapping):
        return
    for name in SECRET_NAME_SETTINGS:
        value = secrets.get(name)
        if isinstance(value, str) and _VAR.search(value):
            raise ConfigError(f"{where}.secrets.{name} names the secret (e.g. KLAVIYO_PRIVATE_KEY); write the "
                              "name itself, not a ${VAR}: interpolation would put the secret's value there")


def _referenced(value: Any) -> set[str]:
    """The ${VAR} names a raw table refers to."""
    if isinstance(value, Mapping):
        return set().union(*(_referenced(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_referenced(v) for v in value)) if value else set()
    return set(_VAR.findall(value)) if isinstance(value, str) else set()


def _unechoed(message: str, values: Mapping[str, str]) -> str:
    """``message`` with each interpolated value replaced by its ``${NAME}`` (longest first)."""
    for name, value in sorted(values.items(), key=lambda item: -len(item[1])):
        if value:
            message = message.replace(value, "${%s}" % name)
    return message


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _interpolate(value: Any, variables: Mapping[str, str], where: str) -> Any:
    if isinstance(value, Mapping):
        return {k: _interpolate(v, variables, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, variables, where) for v in value]
    if isinstance(value, str):
        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in variables:
                raise ConfigError(f"{where}: variable ${{{name}}} is not set "
                                  "(for --env local, run `invoke sandbox.up` first)")
            return variables[name]
        return _VAR.sub(substitute, value)
    return value


def _reject_unknown(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        name = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(f"unknown setting {name}; accepted here: {', '.join(sorted(allowed))}")


def _build(cls: type, data: Any, where: str, **fixed: Any) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a table, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "variables"}
    _reject_unknown(data, set(fields) - set(fixed), where)
    kwargs = {name: _coerce(hints[name], value, f"{where}.{name}")
              for name, value in data.items() if name in fields}
    return cls(**kwargs, **fixed)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings, got {value!r}")
        return tuple(value)
    if origin in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if hint in (str, int, float, bool) and (type(value) is not hint):
        raise ConfigError(f"{where} must be {hint.__name__}, got {value!r}")
    if hint in (int, float) and value < 0:
        raise ConfigError(f"{where} must not be negative, got {value!r}")
    return value
