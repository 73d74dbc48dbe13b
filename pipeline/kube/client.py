"""Build a ``kubernetes`` ApiClient for an environment (its kubeconfig file and context)."""
from __future__ import annotations

import json
from typing import Any

from kubernetes import client, config as kube_config

from pipeline.config import KubeSettings
from pipeline.kube.api import KubeApi


class KubeConfigError(ValueError):
    """The kubeconfig cannot be read or lacks the configured context. The message says which."""


def api_client(settings: KubeSettings) -> client.ApiClient:
    """An ApiClient for ``settings.kubeconfig`` (empty: $KUBECONFIG / ~/.kube/config) and
    ``settings.context`` (empty: the kubeconfig's current context)."""
    try:
        return kube_config.new_client_from_config(config_file=settings.kubeconfig or None,
                                                  context=settings.context or None,
                                                  persist_config=False)
    except (kube_config.ConfigException, OSError) as exc:
        where = settings.kubeconfig or "the default kubeconfig"
        context = f" (context {settings.context!r})" if settings.context else ""
        raise KubeConfigError(f"cannot use {where}{context}: {exc}") from None


def read_json(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Call a generated API method and return the reply as the server sent it (a camelCase dict).

    Rollback compares and re-sends objects exactly; the pydantic models would drop fields and
    rename keys, so the reply is read raw."""
    response = call(*args, _preload_content=False, **kwargs)
    try:
        return json.loads(response.data)
    finally:
        response.release_conn()


class RequestCounter:
    """Counts every request an ApiClient sends (reads, writes, watches, pod proxy), by verb.

    ``RequestCounter.attach(api)`` wraps the client's ``call_api``: the one door every
    generated method, watch stream and raw call goes through. The deploy prints the total per
    deploy in its result JSON, so a change that makes verification cost more shows up."""

    def __init__(self) -> None:
        self.by_verb: dict[str, int] = {}

    @classmethod
    def attach(cls, api: client.ApiClient) -> "RequestCounter":
        counter = cls()
        original = api.call_api

        def counted(method: str, *args: Any, **kwargs: Any) -> Any:
            counter.by_verb[method] = counter.by_verb.get(method, 0) + 1
            return original(method, *args, **kwargs)

        api.call_api = counted  # type: ignore[method-assign]
        return counter

    @property
    def total(self) -> int:
        return sum(self.by_verb.values())


def read_deployment(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    """The Deployment as the server sent it, or None when it does not exist (reads retried)."""
    from kubernetes.client.exceptions import ApiException

    from pipeline.kube import retry

    try:
        return retry.call(lambda: read_json(KubeApi(api).read_namespaced_deployment, name, namespace))
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
