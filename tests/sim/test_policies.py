"""Routing policies against naive, readable expectations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.sim import policies as pol


def _cfg(**kw):
    return pol.RoutingPolicy(**kw).to_array()


def _choose(name, state, ctx, now=0.0, cfg=None, exclude=-1):
    cfg = _cfg(name=name) if cfg is None else cfg
    return pol.choose_provider(pol.POLICIES[name], state, ctx, now, cfg, exclude)


def test_round_robin_cycles_and_skips_unavailable():
    state = pol.new_state([1, 1, 1])
    ctx = pol.new_ctx(0)
    assert [_choose("round_robin", state, ctx) for _ in range(6)] == [0, 1, 2, 0, 1, 2]
    state[1, pol.S_COOLDOWN_UNTIL] = 10.0
    assert [_choose("round_robin", state, ctx) for _ in range(4)] == [0, 2, 0, 2]
    # after the cooldown provider 1 is back
    assert [_choose("round_robin", state, ctx, now=11.0) for _ in range(3)] == [0, 1, 2]


def test_weighted_random_matches_weights():
    state = pol.new_state([1, 1, 1], weights=[1.0, 3.0, 0.0])
    ctx = pol.new_ctx(3)
    picks = np.array([_choose("weighted_random", state, ctx) for _ in range(20000)])
    assert not np.any(picks == 2)
    # binomial(20000, 0.75): sd 0.003 of the share, so 0.02 is > 6 sd
    assert abs(np.mean(picks == 1) - 0.75) < 0.02


def test_least_outstanding_picks_lowest_load_per_slot():
    state = pol.new_state([1, 4, 2])
    state[:, pol.S_OUTSTANDING] = [1, 2, 2]  # loads 1.0, 0.5, 1.0
    assert _choose("least_outstanding", state, pol.new_ctx(0)) == 1


def test_least_outstanding_breaks_ties_evenly():
    state = pol.new_state([1, 1, 1, 1])
    ctx = pol.new_ctx(5)
    picks = np.array([_choose("least_outstanding", state, ctx) for _ in range(8000)])
    counts = np.bincount(picks, minlength=4) / picks.size
    assert np.all(np.abs(counts - 0.25) < 0.03)


def test_p2c_never_picks_the_most_loaded_of_three():
    state = pol.new_state([1, 1, 1])
    state[:, pol.S_OUTSTANDING] = [0, 5, 9]
    ctx = pol.new_ctx(1)
    picks = [_choose("p2c", state, ctx) for _ in range(3000)]
    assert 2 not in picks
    # provider 0 loses only if it is not among the two sampled: pairs {1,2} = 1/3
    assert abs(picks.count(0) / 3000 - 2 / 3) < 0.04


def test_latency_ewma_prefers_fast_unless_saturated():
    state = pol.new_state([1, 1], prior_latency_s=[0.1, 0.3])
    ctx = pol.new_ctx(0)
    assert _choose("latency_ewma", state, ctx) == 0
    state[0, pol.S_OUTSTANDING] = 3  # predicted 0.4 s
    assert _choose("latency_ewma", state, ctx) == 1


def test_cost_slo_takes_cheapest_within_slo_else_fastest():
    state = pol.new_state([4, 4, 4], cost_per_1k=[2.0, 0.5, 0.1], prior_latency_s=[0.2, 0.5, 2.0])
    ctx = pol.new_ctx(0)
    assert _choose("cost_slo", state, ctx, cfg=_cfg(name="cost_slo", slo_s=1.0)) == 1
    assert _choose("cost_slo", state, ctx, cfg=_cfg(name="cost_slo", slo_s=0.1)) == 0
    assert _choose("cost_slo", state, ctx, cfg=_cfg(name="cost_slo", slo_s=5.0)) == 2


def test_exclude_falls_back_to_another_provider_but_not_to_nothing():
    state = pol.new_state([1, 1])
    ctx = pol.new_ctx(0)
    for name in pol.POLICIES:
        assert _choose(name, state, ctx, exclude=0) == 1
    state[1, pol.S_COOLDOWN_UNTIL] = 5.0
    for name in pol.POLICIES:
        assert _choose(name, state, ctx, exclude=0) == 0


def test_no_provider_available_returns_minus_one():
    state = pol.new_state([1, 1])
    state[:, pol.S_COOLDOWN_UNTIL] = 1.0
    for name in pol.POLICIES:
        assert _choose(name, state, pol.new_ctx(0)) == -1


def test_breaker_opens_half_opens_and_closes():
    cfg = _cfg(breaker_failures=3, breaker_open_s=10.0, half_open_probes=1)
    state = pol.new_state([2])
    ctx = pol.new_ctx(0)
    for t in (1.0, 2.0, 3.0):
        pol.on_dispatch(state, 0, t)
        pol.on_result(state, 0, pol.OUTCOME_ERROR, 0.1, t, cfg)
    assert state[0, pol.S_BREAKER] == pol.BREAKER_OPEN
    assert pol.choose_provider(pol.POLICIES["p2c"], state, ctx, 12.9, cfg, -1) == -1
    # time is up: half-open, exactly one probe goes through
    assert pol.choose_provider(pol.POLICIES["p2c"], state, ctx, 13.0, cfg, -1) == 0
    assert state[0, pol.S_BREAKER] == pol.BREAKER_HALF_OPEN
    pol.on_dispatch(state, 0, 13.0)
    assert pol.choose_provider(pol.POLICIES["p2c"], state, ctx, 13.0, cfg, -1) == -1
    # a failed probe re-opens
    pol.on_result(state, 0, pol.OUTCOME_TIMEOUT, 1.0, 14.0, cfg)
    assert state[0, pol.S_BREAKER] == pol.BREAKER_OPEN
    assert state[0, pol.S_OPEN_UNTIL] == 24.0
    # a successful probe closes
    assert pol.is_available(state, 0, 24.0, cfg)
    pol.on_dispatch(state, 0, 24.0)
    pol.on_result(state, 0, pol.OUTCOME_OK, 0.2, 24.2, cfg)
    assert state[0, pol.S_BREAKER] == pol.BREAKER_CLOSED
    assert state[0, pol.S_OUTSTANDING] == 0


def test_success_resets_consecutive_failures():
    cfg = _cfg(breaker_failures=3)
    state = pol.new_state([1])
    for outcome in (pol.OUTCOME_ERROR, pol.OUTCOME_ERROR, pol.OUTCOME_OK, pol.OUTCOME_ERROR):
        pol.on_result(state, 0, outcome, 0.1, 0.0, cfg)
    assert state[0, pol.S_BREAKER] == pol.BREAKER_CLOSED


def test_cooldown_after_repeated_429():
    cfg = _cfg(cooldown_after=2, cooldown_s=5.0)
    state = pol.new_state([1])
    pol.on_result(state, 0, pol.OUTCOME_RATE_LIMITED, 0.0, 1.0, cfg)
    assert pol.is_available(state, 0, 1.0, cfg)
    pol.on_result(state, 0, pol.OUTCOME_RATE_LIMITED, 0.0, 2.0, cfg)
    assert not pol.is_available(state, 0, 6.9, cfg)
    assert pol.is_available(state, 0, 7.0, cfg)


def test_ewma_update():
    cfg = _cfg(ewma_alpha=0.5)
    state = pol.new_state([1])
    pol.on_result(state, 0, pol.OUTCOME_OK, 1.0, 0.0, cfg)
    assert state[0, pol.S_EWMA_S] == 1.0  # first observation replaces the empty prior
    pol.on_result(state, 0, pol.OUTCOME_OK, 3.0, 0.0, cfg)
    assert state[0, pol.S_EWMA_S] == 2.0
    pol.on_result(state, 0, pol.OUTCOME_ERROR, 100.0, 0.0, cfg)
    assert state[0, pol.S_EWMA_S] == 2.0


@pytest.mark.parametrize(
    ("jitter", "lo", "hi"), [("none", 1.0, 1.0), ("full", 0.0, 1.0), ("equal", 0.5, 1.0)]
)
def test_backoff_is_exponential_capped_and_jittered(jitter, lo, hi):
    cfg = _cfg(backoff_base_s=0.25, backoff_max_s=2.0, jitter=jitter)
    ctx = pol.new_ctx(9)
    for attempt in range(1, 8):
        d = min(2.0, 0.25 * 2 ** (attempt - 1))
        for _ in range(50):
            x = pol.backoff_delay(attempt, ctx, cfg)
            assert lo * d <= x <= hi * d


def test_same_seed_same_choices():
    def run(seed):
        state = pol.new_state([1, 2, 3])
        ctx = pol.new_ctx(seed)
        return [_choose(name, state, ctx) for name in pol.POLICIES for _ in range(20)]

    assert run(4) == run(4)
    assert run(4) != run(5)


def test_live_router_round_trip():
    t = [0.0]
    router = pol.LiveRouter("least_outstanding", slots=[1, 1], seed=0, clock=lambda: t[0])
    a = router.choose()
    router.dispatched(a)
    b = router.choose()
    assert a != b
    router.completed(a, pol.OUTCOME_OK, 0.1)
    assert router.state[:, pol.S_OUTSTANDING].tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="provider"):
        router.dispatched(7)
    with pytest.raises(ValueError, match="outcome"):
        router.completed(a, 9, 0.1)
    assert 0 <= router.backoff(1) <= 0.1


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"name": "fastest"}, "policy name"),
        ({"jitter": "some"}, "jitter"),
        ({"ewma_alpha": 0.0}, "ewma_alpha"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"breaker_failures": -1}, "breaker_failures"),
        ({"slo_s": math.nan}, "slo_s"),
        ({"attempt_timeout_s": 0.0}, "attempt_timeout_s"),
    ],
)
def test_routing_policy_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        pol.RoutingPolicy(**kw)


def test_new_state_validation():
    with pytest.raises(ValueError, match="slots"):
        pol.new_state([])
    with pytest.raises(ValueError, match="slots"):
        pol.new_state([0, 1])
    with pytest.raises(ValueError, match="weights"):
        pol.new_state([1, 1], weights=[1.0])
    with pytest.raises(ValueError, match="cost_per_1k"):
        pol.new_state([1], cost_per_1k=[-1.0])
