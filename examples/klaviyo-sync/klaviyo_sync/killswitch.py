"""The ``klaviyo-enabled`` kill switch, read with the LaunchDarkly server SDK.

The flag is evaluated locally by the SDK on every check (it keeps a streamed copy of the
flag), so turning it off in LaunchDarkly stops Klaviyo calls within one sync interval of
the stream delivering the change. Without ``LAUNCHDARKLY_SDK_KEY``, or while LaunchDarkly
is unreachable and the SDK has no data, the flag's default applies: **enabled** (the
integration keeps working; the kill switch is an opt-in emergency brake).
"""
from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from typing import Protocol

from klaviyo_sync.config import LaunchDarklySettings

log = logging.getLogger(__name__)
DEFAULT_ENABLED = True


class KillSwitch(Protocol):
    def enabled(self) -> bool: ...

    def source(self) -> str: ...

    def close(self) -> None: ...


@dataclass
class StaticKillSwitch:
    """LaunchDarkly not configured: always the default."""
    value: bool = DEFAULT_ENABLED

    def enabled(self) -> bool:
        return self.value

    def source(self) -> str:
        return "default (LaunchDarkly not configured)"

    def close(self) -> None:
        return None


@dataclass
class LaunchDarklyKillSwitch:
    client: object                        # ldclient.LDClient
    flag_key: str
    context: object = field(default=None)  # ldclient.Context

    def enabled(self) -> bool:
        value = self.client.variation(self.flag_key, self.context, DEFAULT_ENABLED)  # type: ignore[attr-defined]
        return bool(value)

    def source(self) -> str:
        initialized = self.client.is_initialized()  # type: ignore[attr-defined]
        return f"launchdarkly flag {self.flag_key}" + ("" if initialized else " (not initialized: default)")

    def close(self) -> None:
        self.client.close()  # type: ignore[attr-defined]


def build_kill_switch(settings: LaunchDarklySettings, app_name: str = "klaviyo-sync") -> KillSwitch:
    if settings.sdk_key is None:
        return StaticKillSwitch()
    from ldclient import Context, LDClient
    from ldclient.config import Config

    config = Config(settings.sdk_key.reveal(), base_uri=settings.base_uri,
                    stream_uri=settings.stream_uri, events_uri=settings.events_uri,
                    diagnostic_opt_out=True)
    client = LDClient(config=config, start_wait=settings.start_wait_seconds)
    if not client.is_initialized():
        log.warning("LaunchDarkly did not initialize within %.0f s; flag %s uses its default "
                    "(enabled) until it does", settings.start_wait_seconds, settings.flag_key)
    context = Context.builder(socket.gethostname() or app_name).kind("service") \
        .set("app", app_name).build()
    return LaunchDarklyKillSwitch(client, settings.flag_key, context)
