"""Property-based checks of the memory simulator's invariants on random workloads."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.sim.memory import Workload, simulate

workloads = st.builds(
    Workload,
    rate_rps=st.floats(0.0, 2000.0),
    alloc_bytes_per_request=st.floats(0.0, 200_000.0),
    live_set_mb=st.floats(0.0, 300.0),
    leak_bytes_per_request=st.sampled_from([0.0, 100.0, 5_000.0]),
    request_duration_s=st.floats(0.001, 2.0),
    survival_fraction=st.floats(0.0, 1.0),
    survivor_lifetime_s=st.floats(0.01, 600.0),
)

_settings = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(w=workloads, runtime=st.sampled_from(["v8", "go", "rust"]), seed=st.integers(0, 2**31))
def test_heap_holds_at_least_the_live_bytes(w, runtime, seed):
    res = simulate(w, runtime, duration_s=5.0, dt_s=0.01, seed=seed)
    tr = res.trace
    heap = tr["heap_mb"].to_numpy()
    live = tr["live_mb"].to_numpy()
    rss = tr["rss_mb"].to_numpy()
    assert np.all(np.isfinite(rss)) and np.all(rss > 0)
    assert np.all(heap >= live - 1e-6 * (1 + live))  # garbage is never negative
    assert np.all(live >= w.live_set_mb - 1e-9)
    assert np.all(rss >= heap - 1e-6 * (1 + heap))  # V8's young space is committed
    s = res.summary()
    assert 0.0 <= s["gc_cpu_fraction"] <= 1.0
    assert s["peak_rss_mb"] >= s["mean_rss_mb"] - 1e-9


@_settings
@given(w=workloads, gogc=st.sampled_from([0, 25, 100, 400]))
def test_go_heap_never_exceeds_goal_by_more_than_one_step(w, gogc):
    res = simulate(w, "go", duration_s=5.0, dt_s=0.01, arrivals="uniform", gogc=gogc)
    step_mb = (w.rate_rps * 0.01 + 1) * (w.alloc_bytes_per_request + w.leak_bytes_per_request) / 1e6
    tr = res.trace
    assert np.all(tr["heap_mb"].to_numpy() <= tr["goal_mb"].to_numpy() + step_mb + 1e-9)


@_settings
@given(
    rate=st.floats(0.0, 5000.0), duration=st.floats(0.5, 20.0),
    runtime=st.sampled_from(["v8", "go", "rust"]),
)  # fmt: skip
def test_uniform_arrivals_deliver_the_rate(rate, duration, runtime):
    w = Workload(rate, 1_000.0, 10.0)
    s = simulate(w, runtime, duration_s=duration, dt_s=0.01, arrivals="uniform").summary()
    steps = round(duration / 0.01)
    assert s["requests"] == pytest.approx(rate * steps * 0.01, abs=1.0 + 1e-6 * rate * duration)
