"""Workload generators against their defining rates and distributions."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.sim.distributions import Dist, encode, sample
from workbench.sim.rng import new_ctx
from workbench.sim.workload import Arrivals, Workload


def test_poisson_interarrivals_are_exponential():
    a = Workload.poisson(4.0, 100_000).generate(seed=1)
    gaps = np.diff(a.arrival_s)
    assert gaps.mean() == pytest.approx(0.25, rel=0.01)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.02)


def test_bursty_long_run_rate_and_overdispersion():
    w = Workload.bursty(1.0, 20.0, mean_burst_s=2.0, mean_gap_s=8.0, n_requests=100_000)
    a = w.generate(seed=2)
    assert len(a) / a.arrival_s[-1] == pytest.approx(w.mean_rate_rps, rel=0.05)
    # counts per second are overdispersed (variance/mean >> 1), unlike Poisson (= 1)
    counts = np.bincount(a.arrival_s.astype(int))
    assert counts.var() / counts.mean() > 5


def test_diurnal_rate_follows_the_sine():
    w = Workload.diurnal(10.0, 200_000, amplitude=0.8, period_s=1000.0)
    t = w.generate(seed=3).arrival_s
    phase = (t % 1000.0) / 1000.0
    peak = np.mean((phase > 0.2) & (phase < 0.3))  # around sin = 1
    trough = np.mean((phase > 0.7) & (phase < 0.8))  # around sin = -1
    # rates 1 + 0.8 sin: ratio of the bucket integrals ~ (1 + 0.8 * 0.984) / (1 - 0.8 * 0.984)
    expected = (1 + 0.8 * 0.9836) / (1 - 0.8 * 0.9836)
    assert peak / trough == pytest.approx(expected, rel=0.1)


def test_token_counts_follow_their_distribution_and_seed():
    w = Workload.poisson(1.0, 50_000, prompt_tokens=Dist.det(7), completion_tokens=Dist.exp(30))
    a = w.generate(seed=4)
    assert (a.prompt_tokens == 7).all()
    assert a.completion_tokens.mean() == pytest.approx(30, rel=0.02)
    b = w.generate(seed=4)
    np.testing.assert_array_equal(a.completion_tokens, b.completion_tokens)
    np.testing.assert_array_equal(a.arrival_s, b.arrival_s)


def test_empirical_sampler_resamples_the_values():
    t = encode([Dist.empirical([1.0, 2.0, 10.0])])
    ctx = new_ctx(0)
    x = np.array([sample(t.kind, t.p, t.values, 0, ctx) for _ in range(30_000)])
    assert set(np.unique(x)) == {1.0, 2.0, 10.0}
    assert np.bincount(x.astype(int))[[1, 2, 10]] / x.size == pytest.approx([1 / 3] * 3, abs=0.02)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        # 2-D arrays used to reach the router's numba kernel (a typing error)
        (dict(arrival_s=np.zeros((2, 1))), ValueError, "arrival_s must be one-dimensional"),
        (dict(prompt_tokens=np.ones((2, 1))), ValueError, "prompt_tokens must be one-dim"),
        (dict(completion_tokens=np.ones((1, 2))), ValueError, "completion_tokens must be one"),
        # float token counts used to be truncated silently by the engine
        (dict(prompt_tokens=[1.5, 2.0]), ValueError, "prompt_tokens must hold whole"),
        (dict(completion_tokens=[1.0, np.nan]), ValueError, "completion_tokens must hold whole"),
        (dict(completion_tokens=[1, -1]), ValueError, "completion_tokens must be >= 0"),
        (dict(prompt_tokens=["a", "b"]), TypeError, "prompt_tokens must hold real"),
        (dict(arrival_s="01"), TypeError, "arrival_s"),
        (dict(model=["a"]), ValueError, "model must be one-dimensional"),
    ],
)
def test_arrivals_validates_its_arrays(kwargs, exc, match):
    args = dict(arrival_s=[0.0, 1.0], prompt_tokens=[1, 2], completion_tokens=[3, 4])
    with pytest.raises(exc, match=match):
        Arrivals(**{**args, **kwargs})


def test_arrivals_accepts_lists_and_whole_float_counts():
    from workbench.sim.policies import RoutingPolicy
    from workbench.sim.providers import Provider
    from workbench.sim.router import simulate

    # plain lists used to fail with "'list' object has no attribute 'shape'"
    a = Arrivals([0.0, 0.5, 1.0], [10.0, 20.0, 30.0], [1, 2, 3], ["m", "m", "n"])
    assert a.arrival_s.dtype == np.float64 and a.prompt_tokens.dtype == np.int64
    assert a.prompt_tokens.tolist() == [10, 20, 30] and a.completion_tokens.tolist() == [1, 2, 3]
    res = simulate([Provider("p", slots=2)], a, RoutingPolicy("round_robin"), seed=0)
    assert res.requests["prompt_tokens"].to_list() == [10, 20, 30]
