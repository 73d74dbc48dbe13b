"""Secrets: read from the configured source, carried as :class:`Secret` so they never print.

A ``Secret``'s ``str``/``repr``/format is a fixed mask; the value is only reachable through
``.reveal()``, which code calls at the one place the value goes on the wire (an
``Authorization`` header). Use :func:`redact` on any text that might echo a secret back
(a server's error body, an exception message) before it reaches output or the audit log.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Protocol

from pipeline.config import ConfigError, EnvConfig, read_env_file

MASK = "***"


@dataclass(frozen=True)
class Secret:
    name: str
    _value: str

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({self.name!r}, {MASK})"

    def __format__(self, spec: str) -> str:
        return MASK


class SecretSource(Protocol):
    """Where secrets are read from; ``describe`` names it without revealing anything."""

    def get(self, name: str) -> Secret | None: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class MappingSource:
    values: Mapping[str, str]
    label: str

    def get(self, name: str) -> Secret | None:
        value = self.values.get(name)
        return Secret(name, value) if value else None

    def describe(self) -> str:
        return self.label


@dataclass(frozen=True)
class ChainedSource:
    """The first source that has a secret wins (e.g. the app's cluster Secret, then the
    pipeline's own credentials from the environment)."""
    sources: tuple[SecretSource, ...]

    def get(self, name: str) -> Secret | None:
        return next((s for s in (src.get(name) for src in self.sources) if s is not None), None)

    def describe(self) -> str:
        return ", then ".join(src.describe() for src in self.sources)


def kubernetes_secret_source(path: str, api_client: object) -> MappingSource:
    """Read a Kubernetes Secret ``namespace/name`` once; its keys are the secret names."""
    from pipeline.kube.api import KubeApi

    namespace, _, name = path.partition("/")
    if not namespace or not name:
        raise ConfigError(f"secrets.path {path!r} must be <namespace>/<secret name> for source kubernetes")
    secret = KubeApi(api_client).read_namespaced_secret(name, namespace)  # type: ignore[arg-type]
    values = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    return MappingSource(values, f"kubernetes secret {path}")


def secret_source(config: EnvConfig, api_client: object | None = None) -> SecretSource:
    """The source ``config.secrets`` names. ``env`` includes ``.sandbox/env`` for --env local."""
    settings = config.secrets
    if settings.source == "env":
        return MappingSource(dict(config.variables), "environment variables")
    if settings.source == "file":
        path = Path(settings.path)
        if not path.is_file():
            raise ConfigError(f"env.{config.name}.secrets.path: file {settings.path!r} not found")
        return MappingSource(read_env_file(path), f"file {settings.path}")
    if api_client is None:
        raise ConfigError(f"env.{config.name}.secrets.source = kubernetes needs a cluster connection")
    # The app's secrets live in the cluster; the pipeline's own credentials (the LaunchDarkly
    # API token) come from the runner's environment (a CI secret), never from the app's Secret.
    return ChainedSource((kubernetes_secret_source(settings.path, api_client),
                          MappingSource(dict(config.variables), "environment variables")))


def redact(text: str, secrets: Iterable[Secret | None]) -> str:
    """Replace every secret value (and any ``pk_`` key shape) occurring in ``text`` with the mask."""
    import re

    for secret in secrets:
        if secret is not None and secret.reveal():
            text = text.replace(secret.reveal(), MASK)
    return re.sub(r"pk_[A-Za-z0-9]{6,}", "pk_" + MASK, text)
