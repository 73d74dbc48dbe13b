"""Gate arithmetic: plans, Kubernetes fenceposts, reaching a gate, and the overshoot bound."""
from __future__ import annotations

import random

import pytest

from pipeline.rollout.gates import (GateError, RollingStrategy, RolloutProgress, first_step, gate_count,
                                    gate_reached, highest_reached, next_gate, overshoot_bound, plan_gates,
                                    progress_from, resolve_strategy, strategy_of)


@pytest.mark.parametrize("gates,replicas,expected", [
    (["1", "50%", "100%"], 10, (1, 5, 10)),
    (["1", "50%", "100%"], 4, (1, 2, 4)),
    (["1", "50%", "100%"], 3, (1, 2, 3)),          # 1.5 rounds up
    (["1", "50%", "100%"], 2, (1, 2)),             # 50% of 2 == 1: deduplicated
    (["1", "50%", "100%"], 1, (1,)),
    (["1", "25%", "50%", "100%"], 10, (1, 3, 5, 10)),
    (["1", "25%", "50%", "100%"], 7, (1, 2, 4, 7)),
    (["1%"], 10, (1, 10)),                          # at least 1, last always replicas
    (["50%"], 10, (5, 10)),                         # no 100%: appended
    (["20"], 5, (5,)),                              # capped at replicas
    (["100%", "1", "50%"], 10, (1, 5, 10)),         # order does not matter
    ([], 6, (6,)),
    (["1", "50%"], 0, ()),                          # nothing to roll
    (["33%", "66%"], 100, (33, 66, 100)),
    (["33%", "66%"], 10, (4, 7, 10)),               # 3.3 -> 4, 6.6 -> 7
])
def test_plan_gates(gates, replicas, expected):
    assert plan_gates(gates, replicas) == expected


@pytest.mark.parametrize("bad", ["0", "0%", "101%", "-1", "abc", "1.5", "%", "50 %x", "", "05"])
def test_malformed_gate_is_named(bad):
    with pytest.raises(GateError, match=repr(bad).replace("\\", "\\\\")):
        plan_gates(["1", bad], 4)


def test_plan_rejects_bad_replicas_and_a_string():
    with pytest.raises(GateError, match="spec.replicas"):
        plan_gates(["1"], -1)
    with pytest.raises(GateError, match="spec.replicas"):
        plan_gates(["1"], True)
    with pytest.raises(GateError, match="list of strings"):
        plan_gates("50%", 4)


def test_gate_count_percent_rounds_up():
    assert gate_count("10%", 11) == 2
    assert gate_count("100%", 11) == 11


@pytest.mark.parametrize("replicas,surge,unavailable,expected", [
    (1, None, None, (1, 0)),          # the reference's fenceposts
    (4, None, None, (1, 1)),
    (10, None, None, (3, 2)),
    (3, "25%", "25%", (1, 0)),
    (10, 0, 0, (0, 1)),               # both zero -> unavailable 1
    (10, "0%", "0%", (0, 1)),
    (0, "25%", "25%", (0, 0)),        # unavailable 1 capped at 0 replicas
    (10, 1, 0, (1, 0)),
    (10, "100%", "100%", (10, 10)),
    (5, 2, 9, (2, 5)),                # unavailable capped at replicas
    (10, "33%", "33%", (4, 3)),
])
def test_resolve_strategy(replicas, surge, unavailable, expected):
    strategy = resolve_strategy(replicas, surge, unavailable)
    assert (strategy.max_surge, strategy.max_unavailable) == expected


@pytest.mark.parametrize("value", ["25", "x%", -1, True, 1.5, "25%%"])
def test_bad_strategy_values_are_named(value):
    with pytest.raises(GateError, match="maxSurge"):
        resolve_strategy(10, value, 1)


def test_strategy_of_deployment_json():
    deployment = {"spec": {"replicas": 10, "strategy": {"type": "RollingUpdate",
                                                        "rollingUpdate": {"maxSurge": 2, "maxUnavailable": "10%"}}}}
    assert strategy_of(deployment) == RollingStrategy(10, 2, 1)
    assert strategy_of({"spec": {}}) == RollingStrategy(1, 1, 0)   # API defaults
    with pytest.raises(GateError, match="Recreate"):
        strategy_of({"spec": {"strategy": {"type": "Recreate"}}})


def test_overshoot_figures():
    default10 = resolve_strategy(10)
    assert overshoot_bound(default10) == 5 and first_step(default10) == 5
    assert first_step(resolve_strategy(10, 1, 0)) == 1
    assert first_step(resolve_strategy(10, 0, 1)) == 1
    assert first_step(resolve_strategy(2, "100%", "100%")) == 2


def progress(updated=0, avail_new=0, replicas=10, total=None, gen=2, observed=2, available=None):
    return RolloutProgress(gen, observed, replicas, replicas if total is None else total, updated,
                           avail_new, avail_new, replicas if available is None else available)


def test_gate_needs_updated_and_available():
    assert not gate_reached(progress(updated=0), 1).reached
    check = gate_reached(progress(updated=3, avail_new=0, total=13), 1)
    assert not check.reached and check.overshoot == 2 and "0 of 1 updated pods available" in check.detail
    check = gate_reached(progress(updated=3, avail_new=1, total=13), 1)
    assert check.reached and check.overshoot == 2 and "+2 past the gate" in check.detail


def test_unobserved_generation_never_reaches():
    check = gate_reached(progress(updated=10, avail_new=10, gen=3, observed=2), 1)
    assert not check.reached and "observe generation 3" in check.detail


def test_last_gate_waits_for_old_pods_to_go():
    check = gate_reached(progress(updated=10, avail_new=10, total=12), 10)
    assert not check.reached and "2 old pods pending termination" in check.detail
    assert gate_reached(progress(updated=10, avail_new=10, total=10), 10).reached


def test_next_and_highest_gate_skip_overshot_gates():
    plan = (1, 5, 10)
    assert next_gate(plan, progress(updated=0)) == 1
    state = progress(updated=7, avail_new=6, total=12)
    assert next_gate(plan, state) == 10 and highest_reached(plan, state) == 5
    assert next_gate(plan, progress(updated=10, avail_new=10)) is None
    assert highest_reached(plan, progress()) is None


def test_progress_from_api_json_omitted_zeros():
    deployment = {"metadata": {"generation": 4}, "spec": {"replicas": 4},
                  "status": {"observedGeneration": 4, "replicas": 5, "updatedReplicas": 2, "availableReplicas": 3}}
    rs = {"status": {"replicas": 2, "readyReplicas": 1, "availableReplicas": 1}}
    assert progress_from(deployment, rs) == RolloutProgress(4, 4, 4, 5, 2, 1, 1, 3)
    assert progress_from({"metadata": {"generation": 1}, "spec": {}}, None) == RolloutProgress(1, 0, 1, 0, 0, 0, 0, 0)


# ---- the overshoot bound against a spec-level model of the Deployment controller (rolling.go)

def simulate(replicas: int, strategy: RollingStrategy, rng: random.Random):
    """Yield (new_spec, new_available) after every controller pass, pods becoming ready at random."""
    old_spec, old_avail = replicas, replicas
    new_spec, new_avail = 0, 0
    for _ in range(500):
        total = old_spec + new_spec
        scale_up = min(replicas + strategy.max_surge - total, replicas - new_spec)
        if new_spec < replicas and scale_up > 0:
            new_spec += scale_up
        else:
            budget = total - strategy.min_available - (new_spec - new_avail)
            down = min(max(0, old_avail + new_avail - strategy.min_available), old_spec)
            if budget > 0 and down > 0:
                old_spec -= down
                old_avail = min(old_avail, old_spec)
            elif new_avail < new_spec:
                new_avail += rng.randint(1, new_spec - new_avail)   # some new pods become ready
        yield new_spec, new_avail
        if new_avail == replicas and old_spec == 0:
            return


@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 5, 10, 17])
@pytest.mark.parametrize("surge,unavailable", [(None, None), (1, 0), (0, 1), ("50%", "0%"), (2, 3), ("100%", 0)])
def test_updated_never_exceeds_available_plus_bound(replicas, surge, unavailable):
    strategy = resolve_strategy(replicas, surge, unavailable)
    rng = random.Random(replicas * 31 + strategy.max_surge)
    finished = False
    for new_spec, new_avail in simulate(replicas, strategy, rng):
        # whenever the watch sees a gate reached, the pods past it are bounded by the strategy
        assert new_spec <= min(replicas, new_avail + overshoot_bound(strategy))
        finished = new_avail == replicas
    assert finished


def test_first_step_matches_the_model():
    for replicas, surge, unavailable in [(10, None, None), (10, 1, 0), (4, 0, 1), (3, "100%", 0)]:
        strategy = resolve_strategy(replicas, surge, unavailable)
        states = list(simulate(replicas, strategy, random.Random(0)))
        before_ready = [spec for spec, avail in states if avail == 0]
        assert max(before_ready) == first_step(strategy)
