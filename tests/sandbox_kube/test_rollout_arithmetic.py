"""Pure arithmetic of the Deployment controller (rolling.go / sync.go), no loop, no cluster."""
from __future__ import annotations

import pytest

from pipeline.sandbox.kube.controllers.rolling import (
    BadIntOrPercent, Fenceposts, RSState, deployment_fenceposts, reconcile_new, reconcile_old,
    resolve_fenceposts, rolling_pass, scale_plan, scaled_value)


@pytest.mark.parametrize("replicas, surge, unavailable", [(1, 1, 0), (4, 1, 1), (10, 3, 2), (0, 0, 1), (3, 1, 0)])
def test_default_fenceposts_round_surge_up_and_unavailable_down(replicas, surge, unavailable):
    assert resolve_fenceposts("25%", "25%", replicas) == Fenceposts(surge, unavailable)


def test_both_zero_means_one_unavailable_and_cap_at_replicas():
    assert resolve_fenceposts(0, 0, 5) == Fenceposts(0, 1)
    assert resolve_fenceposts("0%", "0%", 5) == Fenceposts(0, 1)
    assert deployment_fenceposts(0, 7, 3) == Fenceposts(0, 3)
    assert deployment_fenceposts("25%", "25%", 0) == Fenceposts(0, 0)
    assert deployment_fenceposts("25%", "25%", 10, rolling=False) == Fenceposts(0, 0)


def test_int_or_percent_parsing():
    assert scaled_value("50%", 3, True) == 2
    assert scaled_value("50%", 3, False) == 1
    assert scaled_value("2", 3, True) == 2
    with pytest.raises(BadIntOrPercent):
        scaled_value("x%", 3, True)


def _run(replicas, posts, old, new, ready_between_passes):
    """Drive rolling passes; pods become available per ``ready_between_passes`` policy."""
    sizes = [(old.replicas, new.replicas)]
    for _ in range(20):
        plan = rolling_pass(replicas, posts, new, [old])
        if not plan:
            break
        old = RSState(old.name, plan.get(old.name, old.replicas), min(old.available, plan.get(old.name, old.replicas)), "1")
        new = RSState(new.name, plan.get(new.name, new.replicas), new.available, "2")
        sizes.append((old.replicas, new.replicas))
        if ready_between_passes:
            new = RSState(new.name, new.replicas, new.replicas, "2")
    return sizes, old, new


def test_ten_replica_rollout_with_instantly_ready_pods():
    # New RS created at 3 (10 + 3 surge - 10 existing), then: olds down to minAvailable 8 - ...
    old = RSState("web-old", 10, 10, "1")
    new = RSState("web-new", 3, 3, "2")
    sizes, old, new = _run(10, Fenceposts(3, 2), old, new, ready_between_passes=True)
    assert sizes == [(10, 3), (5, 3), (5, 8), (0, 8), (0, 10)]


def test_ten_replica_rollout_when_new_pods_lag_one_pass():
    """The sequence a real cluster shows when new pods are not yet available at each pass."""
    old = RSState("web-old", 10, 10, "1")
    new = RSState("web-new", 3, 0, "2")
    seq = [(10, 3)]
    # pass: new pods not ready -> budget 13-8-3 = 2 -> olds 10 -> 8
    plan = rolling_pass(10, Fenceposts(3, 2), new, [old])
    assert plan == {"web-old": 8}
    old = RSState("web-old", 8, 8, "1"); seq.append((8, 3))
    new = RSState("web-new", 3, 3, "2")            # the 3 become available
    assert rolling_pass(10, Fenceposts(3, 2), new, [old]) == {"web-new": 5}
    new = RSState("web-new", 5, 3, "2"); seq.append((8, 5))
    assert rolling_pass(10, Fenceposts(3, 2), new, [old]) == {"web-old": 5}   # 13-8-2 = 3
    old = RSState("web-old", 5, 5, "1"); new = RSState("web-new", 5, 5, "2"); seq.append((5, 5))
    assert rolling_pass(10, Fenceposts(3, 2), new, [old]) == {"web-new": 8}
    new = RSState("web-new", 8, 5, "2"); seq.append((5, 8))
    assert rolling_pass(10, Fenceposts(3, 2), new, [old]) == {"web-old": 3}   # 13-8-3 = 2
    old = RSState("web-old", 3, 3, "1"); new = RSState("web-new", 8, 8, "2"); seq.append((3, 8))
    assert rolling_pass(10, Fenceposts(3, 2), new, [old]) == {"web-new": 10}
    new = RSState("web-new", 10, 8, "2"); seq.append((3, 10))
    assert rolling_pass(10, Fenceposts(3, 2), new, [old]) == {"web-old": 0}   # 13-8-2=3 >= 3
    seq.append((0, 10))
    assert seq == [(10, 3), (8, 3), (8, 5), (5, 5), (5, 8), (3, 8), (3, 10), (0, 10)]


def test_one_replica_surges_before_removing_the_old_pod():
    old = RSState("a", 1, 1, "1")
    new = RSState("b", 1, 0, "2")
    assert rolling_pass(1, Fenceposts(1, 0), new, [old]) == {}          # nothing may go until b is available
    new = RSState("b", 1, 1, "2")
    assert rolling_pass(1, Fenceposts(1, 0), new, [old]) == {"a": 0}


def test_four_replicas_one_surge_one_unavailable():
    assert reconcile_new(4, Fenceposts(1, 1), [RSState("a", 4, 4), RSState("b", 0)], RSState("b", 0)) == 1
    assert reconcile_old(4, Fenceposts(1, 1), [RSState("a", 4, 4, "1")], RSState("b", 1, 0, "2")) == {"a": 3}


def test_unhealthy_old_pods_are_trimmed_first_oldest_rs_first():
    olds = [RSState("older", 2, 0, "1"), RSState("old", 8, 8, "2")]
    plan = reconcile_old(10, Fenceposts(3, 2), olds, RSState("new", 3, 0, "3"))
    # budget = 13 - 8 - 3 = 2: both unready pods of "older" go; available 8 == minAvailable -> stop
    assert plan == {"older": 0}


def test_new_rs_above_replicas_is_scaled_down_to_replicas():
    assert reconcile_new(3, Fenceposts(1, 0), [RSState("n", 5)], RSState("n", 5)) == 3


def test_proportional_scaling_mid_rollout():
    # 10 replicas mid-rollout (old 8, new 5, max-replicas 13) scaled to 20 (max 25):
    olds = [RSState("old", 8, 8, "1", max_replicas=13, desired=10)]
    new = RSState("new", 5, 0, "2", max_replicas=13, desired=10)
    posts = deployment_fenceposts("25%", "25%", 20)
    plan = scale_plan(20, posts, new, olds, status_replicas=13)
    assert sum(plan.values()) == 25
    assert plan == {"old": 15, "new": 10}


def test_scale_single_active_rs_to_replicas():
    assert scale_plan(5, Fenceposts(2, 1), RSState("n", 3, 3, "2"), [RSState("o", 0, 0, "1")], 3) == {"n": 5}
    assert scale_plan(3, Fenceposts(1, 0), RSState("n", 3, 3, "2"), [], 3) == {}
