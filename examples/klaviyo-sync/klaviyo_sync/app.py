"""Wiring and process lifecycle.

Start order: parse the version (a ``-crash`` tag exits here, code 3), load the config (a
bad variable exits with code 2, naming it), in OAuth mode open the token database and keyring
(re-encrypting tokens under the current key; a bad keyring or database exits 2), serve HTTP at
once (``/live`` answers, ``/ready`` is 503), build the Klaviyo and LaunchDarkly SDK clients,
mark ready (unless the ``-never-ready`` fault), start the sync loop. SIGTERM/SIGINT: stop the
loop, close the clients, exit 0.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Mapping

from sqlalchemy.exc import SQLAlchemyError

from klaviyo_sync import faults, health
from klaviyo_sync.config import AppConfig, ConfigError, OAuthSettings, load_config
from klaviyo_sync.crypto import Keyring, KeyringError
from klaviyo_sync.db import DatabaseUrlError, engine_for
from klaviyo_sync.health import Evidence, HealthProbe, KlaviyoHealth
from klaviyo_sync.install_pages import InstallPages
from klaviyo_sync.installs import Installs
from klaviyo_sync.killswitch import KillSwitch, build_kill_switch
from klaviyo_sync.klaviyo_client import KlaviyoClient, build_client, describe_error
from klaviyo_sync.logs import setup_logging
from klaviyo_sync.metrics import Metrics
from klaviyo_sync.oauth import OAuthClient
from klaviyo_sync.server import Request, Response, make_server
from klaviyo_sync.store import InstallationStore
from klaviyo_sync.sync import Identity, SyncLoop, Targets, single
from klaviyo_sync.webhooks import Result, WebhookReceiver

log = logging.getLogger("klaviyo_sync")
EXIT_OK, EXIT_CONFIG = 0, 2


@dataclass
class Service:
    """What the HTTP routes answer; the SDK clients arrive after the server starts."""
    config: AppConfig
    release: faults.Release
    metrics: Metrics
    webhooks: WebhookReceiver
    installs: Installs | None = None     # OAuth mode
    pages: InstallPages | None = None
    client: KlaviyoClient | None = None  # private-key mode
    kill_switch: KillSwitch | None = None
    probe: HealthProbe | None = None
    evidence: Evidence = field(default_factory=Evidence)
    ready_flag: threading.Event = field(default_factory=threading.Event)

    def attach(self, client: KlaviyoClient | None, kill_switch: KillSwitch) -> None:
        self.client, self.kill_switch = client, kill_switch
        self.probe = HealthProbe(self._probe_account, describe_error, self.config.health_cache_seconds,
                                 self.evidence)
        if faults.blocks_readiness(self.release.fault):
            log.warning("fault %s: /ready stays 503 (sandbox staging behaviour)", self.release.fault.value)
            return
        self.ready_flag.set()

    def live(self) -> Response:
        return Response.json(200, {"status": "alive", "version": self.config.version})

    def ready(self) -> Response:
        if self.ready_flag.is_set():
            return Response.json(200, {"ready": True})
        return Response.json(503, {"ready": False, "reason": self._not_ready_reason()})

    def _not_ready_reason(self) -> str:
        if self.kill_switch is None:
            return "starting: SDK clients not built yet"
        return "fault never-ready (sandbox staging behaviour)"

    def targets(self) -> Targets:
        if self.installs is not None:
            return self.installs.clients
        assert self.client is not None
        return single(self.client)

    def _probe_account(self) -> str:
        if self.installs is None:
            assert self.client is not None
            return self.client.account_id()
        return self.installs.clients()[0][1].account_id()

    def health(self) -> Response:
        now = datetime.now(timezone.utc)
        if self.probe is None or self.kill_switch is None:
            return Response.json(503, {"status": "starting", "version": self.config.version,
                                       "timestamp": now.isoformat().replace("+00:00", "Z")})
        enabled = self.kill_switch.enabled()
        self.metrics.kill_switch_enabled.set(1 if enabled else 0)
        klaviyo, tokens = self._klaviyo_health() if enabled else (health.disabled(), None)
        body = health.response_body(klaviyo, self.config.version, now, tokens)
        body["killSwitch"] = {"klaviyoEnabled": enabled, "source": self.kill_switch.source()}
        return Response.json(health.http_status_for(klaviyo.status), body)

    def _klaviyo_health(self) -> tuple[KlaviyoHealth, dict[str, object] | None]:
        assert self.probe is not None
        if self.installs is None:
            return self.probe.check(), None
        tokens = self.installs.token_health()
        if tokens.problems:
            return health.token_trouble(tokens.problems), tokens.as_json()
        if not self.installs.clients():
            return health.nothing_installed(), tokens.as_json()
        return self.probe.check(), tokens.as_json()

    def metrics_text(self) -> Response:
        if self.kill_switch is not None:
            self.metrics.kill_switch_enabled.set(1 if self.kill_switch.enabled() else 0)
        body, content_type = self.metrics.render()
        return Response(200, body, content_type)

    def webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> Response:
        outcome = self.webhooks.receive(raw_body, headers)
        result = outcome.verdict.result
        self.metrics.webhook_requests.labels(result=result.value).inc()
        if result is Result.INVALID_SIGNATURE:
            self.metrics.webhook_signature_failures.inc()
        if result is Result.ACCEPTED:
            self.metrics.webhook_events.labels(outcome="new").inc(outcome.new)
            self.metrics.webhook_events.labels(outcome="duplicate").inc(outcome.duplicates)
        else:
            log.warning("webhook rejected (%s): %s", result.value, outcome.verdict.reason)
        return Response.json(outcome.verdict.status, outcome.body())

    def webhook_rejected(self, status: int, reason: str) -> Response:
        self.metrics.webhook_requests.labels(result=Result.MALFORMED.value).inc()
        return Response.json(status, {"result": Result.MALFORMED.value, "error": reason})

    def page(self, request: Request) -> Response | None:
        return self.pages.handle(request) if self.pages is not None else None


class _Routes:
    """Adapts :class:`Service` to ``server.Routes`` (``metrics`` is a route name there)."""

    def __init__(self, service: Service) -> None:
        self.live, self.ready, self.health = service.live, service.ready, service.health
        self.metrics = service.metrics_text
        self.webhook, self.webhook_rejected = service.webhook, service.webhook_rejected
        self.page = service.page


def build_service(config: AppConfig, release: faults.Release) -> Service:
    metrics = Metrics()
    metrics.app_info.labels(version=config.version).set(1)
    secret = faults.webhook_secret(release.fault, config.webhook_secret.reveal())
    service = Service(config, release, metrics, WebhookReceiver(secret, config.webhook_max_age_seconds))
    if config.oauth is not None:
        service.installs = build_installs(config, config.oauth, release.fault, metrics)
        service.pages = InstallPages(service.installs, config.oauth.public_url.startswith("https://"),
                                     config.oauth.session_seconds)
    return service


def build_installs(config: AppConfig, settings: OAuthSettings, fault: faults.Fault, metrics: Metrics) -> Installs:
    """The token database (tokens re-encrypted under the current key) and the OAuth client."""
    store = InstallationStore(engine_for(settings.database_url.reveal()), Keyring.parse(settings.token_keys.reveal()))
    rotated = store.rotate()
    if rotated:
        log.info("re-encrypted %d stored token(s) under key %s", rotated, store.keyring.current)
    return Installs(settings, store, OAuthClient(settings, config.request_timeout_seconds),
                    lambda tokens: build_client(config, fault, metrics, tokens))


def main(environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    release = faults.parse_version(env.get("APP_VERSION", "") or "dev")
    setup_logging()
    if faults.crashes_at_start(release.fault):
        log.error("version %s: fault crash, exiting with code %d (sandbox staging behaviour)",
                  release.version, faults.CRASH_EXIT_CODE)
        return faults.CRASH_EXIT_CODE
    try:
        config = load_config(env)
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return EXIT_CONFIG
    setup_logging(config.secrets())
    return run(config, release, env.get("HOSTNAME") or socket.gethostname())


def run(config: AppConfig, release: faults.Release, instance: str) -> int:
    try:
        service = build_service(config, release)
    except (KeyringError, DatabaseUrlError) as exc:
        log.error("configuration error: %s", exc)
        return EXIT_CONFIG
    except SQLAlchemyError as exc:
        log.error("configuration error: DATABASE_URL: cannot open the token database (%s)", type(exc).__name__)
        return EXIT_CONFIG
    try:
        server = make_server(config.host, config.port, _Routes(service))
    except OSError as exc:
        log.error("cannot listen on %s:%d (HOST/PORT): %s", config.host, config.port, exc.strerror or exc)
        return EXIT_CONFIG
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    log.info("klaviyo-sync %s listening on %s:%d (fault: %s)", config.version, config.host,
             config.port, release.fault.value)
    client = build_client(config, release.fault, service.metrics) if config.oauth is None else None
    kill_switch = build_kill_switch(config.launchdarkly)
    service.attach(client, kill_switch)
    loop = SyncLoop(service.targets(), kill_switch, service.metrics, Identity.for_instance(instance),
                    config.sync_interval_seconds, config.version, describe_error, service.evidence)
    worker = threading.Thread(target=loop.run, name="sync", daemon=True)
    worker.start()
    log.info("ready: Klaviyo %s (%s), kill switch from %s", config.klaviyo_base_url or "default host",
             config.auth_mode, kill_switch.source())
    stop.wait()
    log.info("shutting down")
    service.ready_flag.clear()
    loop.stop()
    worker.join(timeout=config.request_timeout_seconds)
    server.shutdown()
    kill_switch.close()
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
