"""Script the Kubernetes stand-in's faults from tests and scripts (see ``faults.py`` for the rules).

``base_url`` is the stand-in's own URL, the one the kubeconfig points at:
``Sandbox(...).urls["kube"]`` in a test, ``SANDBOX_KUBE_URL`` from ``.sandbox/env`` after
``invoke sandbox.up``.

    fault_id = inject(url, method="PATCH", path=r"/deployments/web$", action="status", status=409, times=1)
    with injected(url, path=r"/pods/web-.*/proxy/health", action="status", status=503):
        ...
    listing(url)   # [{"id": "f1", ..., "remaining": 0, "hits": 1}]
    clear(url)
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import httpx

ROUTE = "/_sandbox/faults"


def _client(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url.rstrip("/"), timeout=10, trust_env=False)


def inject(base_url: str, **fault: Any) -> str:
    """Register one fault; returns its id. A bad fault raises ``ValueError`` with the server's reason."""
    with _client(base_url) as http:
        response = http.post(ROUTE, json=fault)
    if response.status_code == 400:
        raise ValueError(response.json()["error"])
    response.raise_for_status()
    return str(response.json()["id"])


def clear(base_url: str, fault_id: str | None = None) -> None:
    """Remove every fault, or only ``fault_id`` (a ``KeyError`` when it does not exist)."""
    with _client(base_url) as http:
        response = http.delete(ROUTE if fault_id is None else f"{ROUTE}/{fault_id}")
    if response.status_code == 404:
        raise KeyError(fault_id)
    response.raise_for_status()


def listing(base_url: str) -> list[dict[str, Any]]:
    """Every registered fault, with ``remaining`` (None: unlimited) and ``hits``."""
    with _client(base_url) as http:
        response = http.get(ROUTE)
    response.raise_for_status()
    return list(response.json()["faults"])


@contextmanager
def injected(base_url: str, **fault: Any) -> Iterator[str]:
    """A fault that lasts for a ``with`` block."""
    fault_id = inject(base_url, **fault)
    try:
        yield fault_id
    finally:
        try:
            clear(base_url, fault_id)
        except KeyError:
            pass
