"""Rollout gates: pure arithmetic for holding a Kubernetes rolling update at pod counts.

A gate is written in config as a pod count (``"1"``) or a percentage of ``spec.replicas``
(``"50%"``). :func:`plan_gates` turns the configured list into increasing pod counts whose
last entry is always ``spec.replicas`` (the rollout is never left half done by config).

The orchestrator lets the Deployment controller roll, WATCHES the Deployment and its new
ReplicaSet, and pauses the Deployment (``spec.paused = true``) as soon as
:func:`gate_reached` says so; it verifies, then resumes. Nothing here sleeps or polls.

Overshoot
---------
Pausing is not instantaneous and a rolling update creates new pods in steps, so a rollout
held at gate *g* may have more than *g* new pods. The controller keeps the invariant
``updated <= new_available + maxSurge + maxUnavailable`` (it scales the new ReplicaSet up
to ``replicas + maxSurge - Σ spec`` and keeps ``Σ available >= replicas - maxUnavailable``),
so when the gate is reached (*g* new pods available) at most ``g + maxSurge +
maxUnavailable`` new pods exist, and the extra ones are still starting. With the default
25 %/25 % strategy and 10 replicas, gate ``"1"`` can therefore land 5 new pods before the
first one is even ready. The plan accounts for it by defining a gate as a floor: *reached*
means **at least** *g* updated pods and at least *g* of them available; verification then
covers every new pod (selected by ``pod-template-hash``), not just *g*.
:func:`overshoot_bound` gives the number of extra pods to expect; a Deployment whose
strategy is ``maxSurge: 1, maxUnavailable: 0`` holds gates to within one pod.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

DEFAULT_MAX_SURGE = "25%"
DEFAULT_MAX_UNAVAILABLE = "25%"
_GATE = re.compile(r"[1-9]\d*%?")
_PERCENT = re.compile(r"(\d+)%")


class GateError(ValueError):
    """A gate or strategy value is malformed; the message names it and what is accepted."""


# --------------------------------------------------------------------------- gate plan

def gate_count(gate: str, replicas: int) -> int:
    """Pod count of one configured gate for ``replicas``: percentages round up, >= 1, <= replicas."""
    text = str(gate).strip()
    if not _GATE.fullmatch(text) or (text.endswith("%") and int(text[:-1]) > 100):
        raise GateError(f"rollout gate {gate!r} is neither a pod count (\"1\") nor a "
                        "percentage from 1% to 100% (\"50%\")")
    if text.endswith("%"):
        count = math.ceil(int(text[:-1]) * replicas / 100)
    else:
        count = int(text)
    return min(max(count, 1), replicas)


def plan_gates(gates: Sequence[str], replicas: int) -> tuple[int, ...]:
    """Configured gates -> strictly increasing pod counts, always ending at ``replicas``.

    ``plan_gates(["1", "50%", "100%"], 10) == (1, 5, 10)``; duplicates collapse
    (``["1", "10%"]`` for 4 replicas is ``(1, 4)``). Zero replicas: nothing to gate, ``()``.
    """
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        raise GateError(f"spec.replicas must be a non-negative integer, got {replicas!r}")
    if isinstance(gates, str):
        raise GateError(f"rollout gates must be a list of strings, got the string {gates!r}")
    counts = {gate_count(gate, replicas) for gate in gates} if replicas else set()
    if replicas:
        counts.add(replicas)
    return tuple(sorted(counts))


# --------------------------------------------------------------------------- strategy

@dataclass(frozen=True)
class RollingStrategy:
    """A Deployment's rolling-update fenceposts resolved to pod counts for ``replicas``."""
    replicas: int
    max_surge: int
    max_unavailable: int

    @property
    def min_available(self) -> int:
        return self.replicas - self.max_unavailable


def scaled_value(value: int | str | None, replicas: int, round_up: bool, field: str) -> int:
    """Kubernetes ``GetScaledValueFromIntOrPercent``: ints as is, ``"25%"`` of replicas rounded."""
    if isinstance(value, bool):
        raise GateError(f"{field} must be an integer or a percentage like \"25%\", got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise GateError(f"{field} must not be negative, got {value}")
        return value
    match = _PERCENT.fullmatch(str(value).strip()) if isinstance(value, str) else None
    if not match:
        raise GateError(f"{field} must be an integer or a percentage like \"25%\", got {value!r}")
    scaled = int(match.group(1)) * replicas / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


def resolve_strategy(replicas: int, max_surge: int | str | None = DEFAULT_MAX_SURGE,
                     max_unavailable: int | str | None = DEFAULT_MAX_UNAVAILABLE) -> RollingStrategy:
    """Kubernetes ``ResolveFenceposts``: surge rounds up, unavailable down, both 0 -> unavailable 1.

    ``None`` means the API default (25 %). Unavailable is capped at ``replicas``.
    """
    surge = scaled_value(DEFAULT_MAX_SURGE if max_surge is None else max_surge,
                         replicas, True, "strategy.rollingUpdate.maxSurge")
    unavailable = scaled_value(DEFAULT_MAX_UNAVAILABLE if max_unavailable is None else max_unavailable,
                               replicas, False, "strategy.rollingUpdate.maxUnavailable")
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return RollingStrategy(replicas, surge, min(unavailable, replicas))


def strategy_of(deployment: Mapping[str, Any]) -> RollingStrategy:
    """The resolved strategy of a Deployment given as API JSON (camelCase keys)."""
    spec = deployment.get("spec") or {}
    replicas = spec.get("replicas", 1)
    strategy = spec.get("strategy") or {}
    kind = strategy.get("type", "RollingUpdate")
    if kind != "RollingUpdate":
        raise GateError(f"deployment strategy {kind!r} cannot be held at gates; "
                        "gated rollouts need strategy.type RollingUpdate")
    rolling = strategy.get("rollingUpdate") or {}
    return resolve_strategy(replicas, rolling.get("maxSurge"), rolling.get("maxUnavailable"))


def overshoot_bound(strategy: RollingStrategy) -> int:
    """How many new pods beyond the available ones the controller may have created.

    When a gate of *g* is reached, up to ``g + overshoot_bound`` new pods exist (capped at
    replicas); see the module docstring.
    """
    return strategy.max_surge + strategy.max_unavailable


def first_step(strategy: RollingStrategy) -> int:
    """New pods created before any is available, starting from a settled Deployment.

    The controller scales the new ReplicaSet to ``maxSurge``, scales old ones down by
    ``maxUnavailable`` and scales the new one up again by as much, without waiting for
    readiness: a gate below this number is overshot at once.
    """
    return min(strategy.replicas, strategy.max_surge + strategy.max_unavailable)


# --------------------------------------------------------------------------- progress

@dataclass(frozen=True)
class RolloutProgress:
    """What the watch shows of a rollout: the Deployment's status and its new ReplicaSet's."""
    generation: int
    observed_generation: int
    replicas: int                 # spec.replicas
    total: int                    # status.replicas: pods of every ReplicaSet
    updated: int                  # status.updatedReplicas: pods of the new ReplicaSet
    updated_ready: int            # new ReplicaSet status.readyReplicas
    updated_available: int        # new ReplicaSet status.availableReplicas
    available: int                # status.availableReplicas (all ReplicaSets)

    @property
    def observed(self) -> bool:
        return self.observed_generation >= self.generation

    @property
    def complete(self) -> bool:
        """``kubectl rollout status`` success: everything updated, available, old pods gone."""
        return (self.observed and self.updated == self.replicas == self.total
                and self.available >= self.replicas)


def progress_from(deployment: Mapping[str, Any], new_replicaset: Mapping[str, Any] | None) -> RolloutProgress:
    """Build :class:`RolloutProgress` from API JSON (zero-valued status ints are omitted there)."""
    metadata = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    rs_status = (new_replicaset or {}).get("status") or {}
    return RolloutProgress(
        generation=int(metadata.get("generation", 0)),
        observed_generation=int(status.get("observedGeneration", 0)),
        replicas=int(spec.get("replicas", 1)),
        total=int(status.get("replicas", 0)),
        updated=int(status.get("updatedReplicas", 0)),
        updated_ready=int(rs_status.get("readyReplicas", 0)),
        updated_available=int(rs_status.get("availableReplicas", 0)),
        available=int(status.get("availableReplicas", 0)),
    )


@dataclass(frozen=True)
class GateCheck:
    gate: int
    reached: bool
    overshoot: int                # updated pods beyond the gate (>= 0)
    detail: str


def gate_reached(progress: RolloutProgress, gate: int) -> GateCheck:
    """Has the rollout reached ``gate`` new pods? At least ``gate`` updated AND available.

    The last gate (``gate >= replicas``) additionally needs the rollout complete (old pods
    gone), exactly as ``kubectl rollout status`` reports success. An unobserved spec change
    (``observedGeneration < generation``) never counts: the status describes the old spec.
    """
    if not progress.observed:
        return GateCheck(gate, False, 0, f"waiting for the controller to observe generation "
                         f"{progress.generation} (observed {progress.observed_generation})")
    overshoot = max(0, progress.updated - gate)
    if progress.updated < gate:
        return GateCheck(gate, False, 0, f"{progress.updated} of {gate} pods updated")
    if progress.updated_available < gate:
        return GateCheck(gate, False, overshoot, f"{progress.updated_available} of {gate} updated "
                         f"pods available ({progress.updated} updated)")
    if gate >= progress.replicas and not progress.complete:
        pending = max(0, progress.total - progress.updated)
        return GateCheck(gate, False, overshoot, f"all {progress.replicas} pods updated; "
                         f"{pending} old pods pending termination")
    extra = f" (+{overshoot} past the gate)" if overshoot else ""
    return GateCheck(gate, True, overshoot, f"{progress.updated_available} updated pods available, "
                     f"gate {gate} reached{extra}")


def next_gate(plan: Sequence[int], progress: RolloutProgress) -> int | None:
    """The first gate of ``plan`` not yet reached, or ``None`` when every gate is reached.

    If the watch shows several gates passed at once (overshoot), they are all skipped: the
    orchestrator pauses and verifies once at the highest reached gate.
    """
    for gate in plan:
        if not gate_reached(progress, gate).reached:
            return gate
    return None


def highest_reached(plan: Sequence[int], progress: RolloutProgress) -> int | None:
    """The largest gate of ``plan`` that ``progress`` has reached, if any."""
    reached = [gate for gate in plan if gate_reached(progress, gate).reached]
    return max(reached) if reached else None
