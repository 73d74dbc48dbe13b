"""Run the preflight checks concurrently and collect a :class:`PreflightReport`.

``run_preflight(config, skip=...)`` is the public entry (``invoke deploy`` calls it first);
``preflight(...)`` is its coroutine form. Bad configuration raises
:class:`pipeline.config.ConfigError` before anything is requested (exit code USAGE).
Every check runs with its own timeout; an exception or a timeout is an ERROR, never a pass.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import httpx

from pipeline.config import ConfigError, EnvConfig
from pipeline.exit_codes import ExitCode
from pipeline.preflight.check import Check, CheckResult, Finding, Verdict, worst
from pipeline.preflight.checks import CHECK_NAMES, all_checks
from pipeline.preflight.context import PreflightContext, SecretBundle
from pipeline.secrets import Secret, SecretSource, redact, secret_source

NEEDS_PRIVATE_KEY = {"api-auth", "rate-limit"}
NEEDS_APP_SOURCE = {"sdk-pin", "hardcoded-keys"}
HTTP_TIMEOUT_MARGIN = 1.0


@dataclass(frozen=True)
class PreflightReport:
    env: str
    revision: str
    started_at: str                     # ISO 8601 UTC
    duration: float                     # seconds, wall time of the whole preflight
    results: tuple[CheckResult, ...]    # in check order, skipped ones included
    skipped: tuple[str, ...]            # names given to --skip

    @property
    def verdict(self) -> Verdict:
        return worst([r.verdict for r in self.results])

    @property
    def failed(self) -> list[str]:
        return [r.name for r in self.results if r.verdict is Verdict.FAIL]

    @property
    def errored(self) -> list[str]:
        return [r.name for r in self.results if r.verdict is Verdict.ERROR]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.errored

    @property
    def exit_code(self) -> ExitCode:
        if self.failed:
            return ExitCode.FAILED_CHECK
        if self.errored:
            return ExitCode.CHECK_ERROR
        return ExitCode.OK

    def result(self, name: str) -> CheckResult:
        return next(r for r in self.results if r.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {"env": self.env, "revision": self.revision, "started_at": self.started_at,
                "duration": round(self.duration, 4), "verdict": self.verdict.value,
                "exit_code": int(self.exit_code), "skipped": list(self.skipped),
                "failed": self.failed, "errored": self.errored,
                "checks": [r.to_dict() for r in self.results]}


def parse_skip(values: Iterable[str] | None) -> tuple[str, ...]:
    """``--skip a --skip b,c`` -> ("a", "b", "c"); an unknown name is a ConfigError."""
    names = [n.strip() for v in values or () for n in v.split(",") if n.strip()]
    unknown = [n for n in names if n not in CHECK_NAMES]
    if unknown:
        raise ConfigError(f"--skip: unknown check {unknown[0]!r}; accepted: {', '.join(CHECK_NAMES)}")
    return tuple(dict.fromkeys(names))


def run_preflight(config: EnvConfig, skip: Iterable[str] = (), **options: Any) -> PreflightReport:
    """Run every check not skipped; see :func:`preflight` for ``options``."""
    return asyncio.run(preflight(config, skip, **options))


async def preflight(config: EnvConfig, skip: Iterable[str] = (), *,
                    checks: Sequence[Check] | None = None,
                    source: SecretSource | None = None,
                    now: datetime | None = None,
                    app_source: Path | None = None,
                    clock: Callable[[], float] = time.perf_counter,
                    retry_after_max_seconds: float | None = None) -> PreflightReport:
    """Validate the configuration, then run the checks concurrently.

    ``checks`` replaces the standard list (tests); ``source`` the configured secret source;
    ``now`` the current UTC time; ``app_source`` the configured app tree.
    """
    skipped = parse_skip(skip)
    checks = list(checks) if checks is not None else all_checks(config.klaviyo.timeout_seconds)
    active = [c for c in checks if c.name not in skipped]
    names = {c.name for c in active}
    root = Path(app_source or config.klaviyo.app_source)
    _validate(config, names, root)
    secrets = load_secrets(config, source)
    if names & NEEDS_PRIVATE_KEY and secrets.private_key is None and not secrets.error:
        raise ConfigError(f"env.{config.name}.secrets.private_key: {config.secrets.private_key} is not "
                          f"set in {secrets.source} (needed by {', '.join(sorted(names & NEEDS_PRIVATE_KEY))})")
    started_at = (now or datetime.now(timezone.utc))
    t0 = clock()
    # The client's own timeout is a backstop: each check's timeout (asyncio) decides first.
    async with httpx.AsyncClient(timeout=config.klaviyo.timeout_seconds + HTTP_TIMEOUT_MARGIN) as http:
        ctx = PreflightContext(config, http, secrets, started_at, root)
        if retry_after_max_seconds is not None:
            ctx.retry_after_max_seconds = retry_after_max_seconds
        ran = await asyncio.gather(*(run_check(c, ctx, t0, clock) for c in active))
    by_name = {r.name: r for r in ran}
    results = tuple(by_name.get(c.name) or _skipped(c, clock() - t0) for c in checks)
    return PreflightReport(config.name, config.klaviyo.revision, started_at.isoformat(),
                           clock() - t0, results, skipped)


async def run_check(check: Check, ctx: PreflightContext, t0: float,
                    clock: Callable[[], float]) -> CheckResult:
    """Run one check under its timeout; exceptions and timeouts become ERROR results."""
    started = clock() - t0
    try:
        finding = await asyncio.wait_for(check.run(ctx), check.timeout)
    except TimeoutError:
        finding = Finding(Verdict.ERROR, f"timed out after {check.timeout:g} s (its timeout)",
                          {"timeout": check.timeout})
    except Exception as exc:  # noqa: BLE001 - any failure to run is an ERROR verdict
        finding = Finding(Verdict.ERROR, f"could not run: {describe_exception(exc, ctx.secrets.all())}",
                          {"exception": type(exc).__name__})
    finding = Finding(finding.verdict, redact(finding.detail, ctx.secrets.all()), finding.measured)
    return CheckResult(check.name, check.title, finding.verdict, finding.detail, finding.measured,
                       started, clock() - t0, check.timeout)


def describe_exception(exc: BaseException, secrets: list[Secret | None]) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, httpx.RequestError):
        try:
            text += f" ({exc.request.method} {exc.request.url.copy_with(query=None)})"
        except RuntimeError:
            pass
    return redact(text, secrets)


def load_secrets(config: EnvConfig, source: SecretSource | None = None) -> SecretBundle:
    """Read the three secrets by their configured names; a source that cannot be read is
    recorded (the secrets check reports it), a misconfigured one raises ConfigError."""
    names = config.secrets
    try:
        source = source or _configured_source(config)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. the cluster holding the Secret is unreachable
        label = f"{names.source} secret source"
        return SecretBundle(label, None, None, None, error=describe_exception(exc, []))
    return SecretBundle(source.describe(), source.get(names.private_key), source.get(names.webhook_secret),
                        source.get(names.public_key) if names.public_key else None, reader=source)


def _configured_source(config: EnvConfig) -> SecretSource:
    if config.secrets.source != "kubernetes":
        return secret_source(config)
    from kubernetes import config as kube_config

    api_client = kube_config.new_client_from_config(config_file=config.kube.kubeconfig or None,
                                                    context=config.kube.context or None)
    return secret_source(config, api_client)


def _validate(config: EnvConfig, names: set[str], root: Path) -> None:
    prefix = f"env.{config.name}.klaviyo"
    for setting in ("base_url", "status_page_url"):
        url = getattr(config.klaviyo, setting)
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{prefix}.{setting}: {url!r} is not an http(s) URL")
    if names & NEEDS_APP_SOURCE and not root.is_dir():
        raise ConfigError(f"{prefix}.app_source: directory {str(root)!r} not found (needed by "
                          f"{', '.join(sorted(names & NEEDS_APP_SOURCE))}; or --skip them)")


def _skipped(check: Check, at: float) -> CheckResult:
    return CheckResult(check.name, check.title, Verdict.SKIPPED, "skipped by --skip", {}, at, at,
                       check.timeout)
