"""Property-based invariants of the router engine on random small configurations."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.sim.distributions import Dist
from workbench.sim.policies import POLICIES, RoutingPolicy
from workbench.sim.providers import Provider
from workbench.sim.router import STATUSES, simulate
from workbench.sim.workload import Workload

_dists = st.sampled_from(
    [Dist.det(0.0), Dist.det(0.05), Dist.exp(0.1), Dist.lognormal(0.2, 1.5),
     Dist.empirical([0.01, 0.05, 0.3])]
)  # fmt: skip


@st.composite
def _providers(draw):
    n = draw(st.integers(1, 3))
    return [
        Provider(
            f"p{i}",
            slots=draw(st.integers(1, 4)),
            rtt=draw(_dists),
            ttft=draw(_dists),
            tokens_per_s=Dist.det(draw(st.sampled_from([10.0, 100.0]))),
            error_prob=draw(st.sampled_from([0.0, 0.1, 0.5])),
            timeout_prob=draw(st.sampled_from([0.0, 0.05])),
            rpm=draw(st.sampled_from([0.0, 5.0, 50.0])),
            outages=draw(st.sampled_from([(), ((1.0, 3.0),)])),
            cost_per_1k=draw(st.sampled_from([0.0, 1.0])),
        )
        for i in range(n)
    ]


@st.composite
def _policies(draw):
    return RoutingPolicy(
        draw(st.sampled_from(sorted(POLICIES))),
        max_attempts=draw(st.integers(1, 4)),
        backoff_base_s=draw(st.sampled_from([0.0, 0.05])),
        jitter=draw(st.sampled_from(["none", "full", "equal"])),
        attempt_timeout_s=draw(st.sampled_from([0.5, 5.0])),
        fallback=draw(st.booleans()),
        breaker_failures=draw(st.integers(0, 3)),
        breaker_open_s=1.0,
        cooldown_after=draw(st.integers(0, 2)),
        cooldown_s=0.5,
    )


def _max_concurrency(att: pl.DataFrame) -> int:
    # sweep line; at equal times an end frees the slot before a start takes it
    t = np.concatenate([att["send_s"].to_numpy(), att["end_s"].to_numpy()])
    d = np.concatenate([np.ones(att.height), -np.ones(att.height)])
    order = np.lexsort((d, t))
    return int(np.max(np.cumsum(d[order]), initial=0))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    providers=_providers(),
    policy=_policies(),
    rate=st.sampled_from([1.0, 10.0, 50.0]),
    overhead=st.sampled_from([0.0, 0.001, 0.02]),
    seed=st.integers(0, 2**32),
)
def test_engine_invariants(providers, policy, rate, overhead, seed):
    w = Workload.poisson(rate, 200, prompt_tokens=Dist.exp(50), completion_tokens=Dist.exp(20))
    res = simulate(providers, w, policy, seed, overhead_s=overhead, record_attempts=True)
    f = res.requests
    # every request finishes, after it arrived, with a known status
    end = f["end_s"].to_numpy()
    assert np.all(np.isfinite(end)) and np.all(end >= f["arrival_s"].to_numpy())
    assert set(f["status"].cast(pl.String)) <= set(STATUSES)
    assert f["attempts"].min() >= 1 and f["attempts"].max() <= policy.max_attempts
    # Little's law on the whole run (an exact identity of the event accounting)
    s = res.summary()
    assert s["littles_L"] == pytest.approx(s["littles_lambda_W"], rel=1e-9, abs=1e-12)
    # no provider ever has more attempts in flight than slots
    for p in providers:
        att = res.attempts.filter(pl.col("provider") == p.name)
        assert _max_concurrency(att) <= p.slots
        assert (att["end_s"] >= att["send_s"]).all()
        if p.rpm > 0:
            ok = att.filter(pl.col("outcome") != "rate_limited")
            per_window = ok.group_by(pl.col("send_s") // 60).len()["len"]
            assert per_window.len() == 0 or per_window.max() <= p.rpm
    # success is reported only with a first token between start and end
    ok = f.filter(pl.col("status") == "ok")
    assert (ok["first_token_s"] >= ok["start_s"]).all() and (
        ok["first_token_s"] <= ok["end_s"]
    ).all()
    # cost only for successes
    assert (f.filter(pl.col("status") != "ok")["cost"] == 0).all()
