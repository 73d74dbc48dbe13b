"""Rollback of a first release: there was no release before it, so "the last verified release"
is none, and the rollback deletes what the failed deploy created (as ``helm install --atomic``
uninstalls a failed install).

The deploy records, in its intent, the objects its plan found absent (``Kind/name``, e.g.
``Deployment/klaviyo-sync``); only those are deleted, with ``propagationPolicy=Background`` so
Kubernetes' garbage collector removes the ReplicaSets and pods. The mechanism is the deploy's
``undo`` (same name, same place in the rollback policy): a deploy that fails before any
release existed ends rolled back, and the next deploy starts from nothing instead of finding
a release it must never trust and nothing to return to. Verified by reading each object
back until it is gone (404), within ``timeout_seconds``.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Sequence

from kubernetes.client.exceptions import ApiException

from pipeline.kube import retry
from pipeline.kube.api import KIND_KEYS, KubeApi, path_of
from pipeline.rollback.result import Outcome, Plan, RollbackResult

NAME = "undo"


def parse(objects: Sequence[str]) -> list[tuple[str, str]]:
    """``["Deployment/web"]`` -> ``[("Deployment", "web")]``; a kind this module cannot delete is refused."""
    parsed = []
    for text in objects:
        kind, _, name = text.partition("/")
        if kind not in KIND_KEYS or not name:
            raise ValueError(f"cannot remove {text!r}: expected Kind/name with Kind one of {', '.join(KIND_KEYS)}")
        parsed.append((kind, name))
    return parsed


class RemoveCreated:
    """``RemoveCreated(KubeApi(api_client), namespace, ["Deployment/web"]).execute(reason)``."""

    name = NAME

    def __init__(self, api: KubeApi, namespace: str, objects: Sequence[str], timeout_seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.api, self.namespace, self.objects = api, namespace, parse(objects)
        self.timeout_seconds, self.clock, self.sleep = timeout_seconds, clock, sleep

    def plan(self) -> Plan:
        present = [f"{kind}/{name}" for kind, name in self.objects if self._exists(kind, name)]
        target = "no release (there was none before the failed first deploy)"
        return Plan(NAME, ", ".join(present) + " (created by the failed deploy)" if present else "nothing left",
                    f"delete {', '.join(present)}: {target}" if present else target, noop=not present,
                    data={"remove": present})

    def execute(self, reason: str, dry_run: bool = False) -> RollbackResult:
        start = self.clock()
        try:
            return self._remove(start, dry_run)
        except ApiException as exc:
            return self._result(Outcome.FAILED, f"removing {', '.join(f'{k}/{n}' for k, n in self.objects)} failed: "
                                f"HTTP {exc.status} {exc.reason}", start)

    def _remove(self, start: float, dry_run: bool) -> RollbackResult:
        present = [(kind, name) for kind, name in self.objects if self._exists(kind, name)]
        if not present:
            return self._result(Outcome.ALREADY, f"{', '.join(f'{k}/{n}' for k, n in self.objects)} already gone: "
                                "no release, as before", start)
        listed = ", ".join(f"{kind}/{name}" for kind, name in present)
        if dry_run:
            return self._result(Outcome.DRY_RUN, f"would delete {listed}", start)
        for kind, name in present:
            self._delete(kind, name)
        remaining = self._wait_gone(present)
        if remaining:
            return self._result(Outcome.FAILED, f"{', '.join(remaining)} still present after "
                                f"{self.timeout_seconds:g} s (a finalizer?)", start)
        return self._result(Outcome.DONE, f"deleted {listed}, which the failed first deploy created: no release "
                            "is serving, as before it", start)

    # -- plumbing
    def _path(self, kind: str, name: str) -> str:
        return path_of(KIND_KEYS[kind], self.namespace, name)

    def _exists(self, kind: str, name: str) -> bool:
        try:
            retry.call(lambda: self.api.request("GET", self._path(kind, name)))
            return True
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise

    def _delete(self, kind: str, name: str) -> None:
        def once() -> Any:
            try:
                return self.api.request("DELETE", self._path(kind, name), propagation_policy="Background")
            except ApiException as exc:
                if exc.status == 404:      # gone already (a retried DELETE that had landed)
                    return None
                raise
        retry.call(once)

    def _wait_gone(self, objects: Sequence[tuple[str, str]]) -> list[str]:
        deadline = self.clock() + self.timeout_seconds
        while True:
            remaining = [f"{kind}/{name}" for kind, name in objects if self._exists(kind, name)]
            if not remaining or self.clock() >= deadline:
                return remaining
            self.sleep(0.2)

    def _result(self, outcome: Outcome, detail: str, start: float) -> RollbackResult:
        return RollbackResult(NAME, outcome, detail, self.clock() - start,
                              {"removed": [f"{k}/{n}" for k, n in self.objects], "first_release": True})
