"""Build a ``kubernetes`` ApiClient for an environment (its kubeconfig file and context)."""
from __future__ import annotations

import json
from typing import Any

from kubernetes import client, config as kube_config

from pipeline.config import KubeSettings


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


def apps_api(api: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


def read_json(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Call a generated API method and return the reply as the server sent it (a camelCase dict).

    Rollback compares and re-sends objects exactly; the pydantic models would drop fields and
    rename keys, so the reply is read raw."""
    response = call(*args, _preload_content=False, **kwargs)
    try:
        return json.loads(response.data)
    finally:
        response.release_conn()
