"""The Deployment controller's replica arithmetic, as pure functions (rolling.go, sync.go).

Every decision here takes plain numbers and :class:`RSState` snapshots and returns the
sizes to set, ``{rs name: new spec.replicas}``; the adapter in ``deployment.py`` writes them.
The formulas follow kubernetes/pkg/controller/deployment and util/deployment_util.go:

- fenceposts: maxSurge rounds a percentage **up**, maxUnavailable **down**; both 0 ->
  unavailable 1; unavailable is capped at replicas (and is 0 when replicas is 0).
- scale up (NewRSNewReplicas): up to min(replicas + surge - sum(spec), replicas - new).
- scale down (reconcileOldReplicaSets): budget = sum(spec) - minAvailable - new's
  unavailable; first unhealthy old pods (oldest RS first), then available ones beyond
  minAvailable.
- proportional scaling (scale()) when spec.replicas changes in the middle of a rollout.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class RSState:
    """What the arithmetic needs to know about one ReplicaSet."""
    name: str
    replicas: int                 # spec.replicas
    available: int = 0            # status.availableReplicas
    created: str = ""             # metadata.creationTimestamp (ordering; ties by name)
    max_replicas: int | None = None   # deployment.kubernetes.io/max-replicas
    desired: int | None = None        # deployment.kubernetes.io/desired-replicas


@dataclass(frozen=True)
class Fenceposts:
    surge: int
    unavailable: int


class BadIntOrPercent(ValueError):
    pass


def scaled_value(value: int | str, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if isinstance(value, bool):
        raise BadIntOrPercent(f"invalid value {value!r}: must be an integer or percentage")
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        try:
            return int(text)
        except ValueError:
            raise BadIntOrPercent(f"invalid value for IntOrString: invalid type: string is not a percentage: {text!r}")
    try:
        percent = int(text[:-1])
    except ValueError:
        raise BadIntOrPercent(f"invalid value {text!r}: must be an integer or percentage (e.g. '5%')")
    exact = percent * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def resolve_fenceposts(max_surge: int | str, max_unavailable: int | str, desired: int) -> Fenceposts:
    surge = scaled_value(max_surge, desired, True)
    unavailable = scaled_value(max_unavailable, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return Fenceposts(surge, unavailable)


def deployment_fenceposts(max_surge: int | str, max_unavailable: int | str, replicas: int,
                          rolling: bool = True) -> Fenceposts:
    """MaxSurge / MaxUnavailable as the controller uses them (Recreate: 0/0)."""
    if not rolling:
        return Fenceposts(0, 0)
    posts = resolve_fenceposts(max_surge, max_unavailable, replicas)
    unavailable = 0 if replicas == 0 else min(posts.unavailable, replicas)
    return Fenceposts(posts.surge, unavailable)


def total_replicas(rss: list[RSState]) -> int:
    return sum(rs.replicas for rs in rss)


def total_available(rss: list[RSState]) -> int:
    return sum(rs.available for rs in rss)


def by_creation(rss: list[RSState]) -> list[RSState]:
    return sorted(rss, key=lambda rs: (rs.created, rs.name))


def new_rs_new_replicas(replicas: int, posts: Fenceposts, all_rss: list[RSState], new: RSState,
                        rolling: bool = True) -> int:
    """NewRSNewReplicas: the size the new ReplicaSet may grow to now."""
    if not rolling:
        return replicas
    max_total = replicas + posts.surge
    current = total_replicas(all_rss)
    if current >= max_total:
        return new.replicas
    return new.replicas + min(max_total - current, replicas - new.replicas)


def reconcile_new(replicas: int, posts: Fenceposts, all_rss: list[RSState], new: RSState) -> int | None:
    """reconcileNewReplicaSet: new size for the new RS, or None when it stays."""
    if new.replicas == replicas:
        return None
    if new.replicas > replicas:
        return replicas
    target = new_rs_new_replicas(replicas, posts, all_rss, new)
    return None if target == new.replicas else target


def reconcile_old(replicas: int, posts: Fenceposts, olds: list[RSState], new: RSState) -> dict[str, int]:
    """reconcileOldReplicaSets: cleanupUnhealthyReplicas then scaleDownOldReplicaSetsForRollingUpdate."""
    active = [rs for rs in olds if rs.replicas > 0]
    if total_replicas(active) == 0:
        return {}
    all_count = total_replicas(active) + new.replicas
    min_available = replicas - posts.unavailable
    budget = all_count - min_available - (new.replicas - new.available)
    if budget <= 0:
        return {}
    sizes: dict[str, int] = {}
    cleaned = 0
    current = []
    for rs in by_creation(active):
        if cleaned < budget and rs.replicas != 0 and rs.replicas != rs.available:
            down = min(budget - cleaned, rs.replicas - rs.available)
            rs = RSState(rs.name, rs.replicas - down, rs.available, rs.created, rs.max_replicas, rs.desired)
            sizes[rs.name] = rs.replicas
            cleaned += down
        current.append(rs)
    available = total_available(current) + new.available
    if available <= min_available:
        return sizes
    to_scale = available - min_available
    scaled = 0
    for rs in by_creation(current):
        if scaled >= to_scale:
            break
        if rs.replicas == 0:
            continue
        down = min(rs.replicas, to_scale - scaled)
        sizes[rs.name] = rs.replicas - down
        scaled += down
    return sizes


def rolling_pass(replicas: int, posts: Fenceposts, new: RSState, olds: list[RSState]) -> dict[str, int]:
    """One rolloutRolling pass after the new RS exists: scale up if possible, else down."""
    target = reconcile_new(replicas, posts, [new, *olds], new)
    if target is not None:
        return {new.name: target}
    return reconcile_old(replicas, posts, olds, new)


# --- proportional scaling (DeploymentController.scale) ------------------------------------

def _older_first(a: RSState, b: RSState) -> int:
    ka, kb = (a.created, a.name), (b.created, b.name)
    return -1 if ka < kb else (1 if ka > kb else 0)


def _size_newer(a: RSState, b: RSState) -> int:
    if a.replicas == b.replicas:
        return _older_first(b, a)
    return -1 if a.replicas > b.replicas else 1


def _size_older(a: RSState, b: RSState) -> int:
    if a.replicas == b.replicas:
        return _older_first(a, b)
    return -1 if a.replicas > b.replicas else 1


def find_active_or_latest(new: RSState | None, olds: list[RSState]) -> RSState | None:
    if new is None and not olds:
        return None
    olds_newest_first = sorted(olds, key=lambda rs: (rs.created, rs.name), reverse=True)
    active = [rs for rs in [*olds_newest_first, new] if rs is not None and rs.replicas > 0]
    if not active:
        return new if new is not None else olds_newest_first[0]
    return active[0] if len(active) == 1 else None


def is_saturated(replicas: int, new: RSState | None) -> bool:
    return (new is not None and new.desired is not None and new.replicas == replicas
            and new.desired == replicas and new.available == replicas)


def _fraction(rs: RSState, replicas: int, surge: int, status_replicas: int) -> int:
    if replicas == 0:
        return -rs.replicas
    max_now = replicas + surge
    before = rs.max_replicas if rs.max_replicas else status_replicas
    if not before:
        return 0
    return _round_half_away(rs.replicas * max_now / before) - rs.replicas


def _round_half_away(value: float) -> int:
    return int(math.floor(value + 0.5)) if value >= 0 else -int(math.floor(-value + 0.5))


def _proportion(rs: RSState, replicas: int, surge: int, status_replicas: int, to_add: int, added: int) -> int:
    if rs.replicas == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = _fraction(rs, replicas, surge, status_replicas)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def scale_plan(replicas: int, posts: Fenceposts, new: RSState | None, olds: list[RSState],
               status_replicas: int, rolling: bool = True) -> dict[str, int]:
    """DeploymentController.scale: sizes after spec.replicas changed (sync())."""
    single = find_active_or_latest(new, olds)
    if single is not None:
        return {} if single.replicas == replicas else {single.name: replicas}
    if is_saturated(replicas, new):
        return {rs.name: 0 for rs in olds if rs.replicas > 0}
    if not rolling:
        return {}
    active = [rs for rs in [*olds, new] if rs is not None and rs.replicas > 0]
    allowed = replicas + posts.surge if replicas > 0 else 0
    to_add = allowed - total_replicas(active)
    if to_add > 0:
        active.sort(key=functools.cmp_to_key(_size_newer))
    elif to_add < 0:
        active.sort(key=functools.cmp_to_key(_size_older))
    sizes: dict[str, int] = {}
    added = 0
    for rs in active:
        if to_add != 0:
            part = _proportion(rs, replicas, posts.surge, status_replicas, to_add, added)
            sizes[rs.name] = rs.replicas + part
            added += part
        else:
            sizes[rs.name] = rs.replicas
    if active and to_add != 0:
        first = active[0].name
        sizes[first] = max(0, sizes[first] + to_add - added)
    return sizes


def recreate_scale_down(olds: list[RSState]) -> dict[str, int]:
    return {rs.name: 0 for rs in olds if rs.replicas > 0}
