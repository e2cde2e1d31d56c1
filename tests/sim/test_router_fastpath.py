"""The router engine's fast paths against straightforward references.

The summary is computed in one compiled pass and the percentiles from one sort; without
retries the kernel keeps no per-request retry state; arrivals are checked for order in a
compiled loop. Each is compared here with the plain computation it replaces.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from workbench.sim.distributions import Dist
from workbench.sim.policies import RoutingPolicy
from workbench.sim.providers import Provider
from workbench.sim.router import _sorted_percentiles, simulate
from workbench.sim.workload import Arrivals, Workload


def _messy(max_attempts=3, error_prob=0.2, seed=5):
    # errors, timeouts, an outage with a breaker (requests that never start: NaN waits),
    # a router stage, and a warm-up
    a = Provider(
        "a", slots=2, rtt=Dist.det(0.01), ttft=Dist.exp(0.2), error_prob=error_prob,
        cost_per_1k=0.5, outages=[(20.0, 40.0)] if error_prob else (),
    )  # fmt: skip
    b = Provider(
        "b", slots=3, ttft=Dist.lognormal(0.3, 1.0), timeout_prob=error_prob / 4,
        outages=[(25.0, 40.0)] if error_prob else (),
    )  # fmt: skip
    w = Workload.poisson(8.0, 6000, prompt_tokens=Dist.det(100), completion_tokens=Dist.det(0))
    policy = RoutingPolicy(
        "least_outstanding", max_attempts=max_attempts, attempt_timeout_s=5.0,
        breaker_failures=3 if error_prob else 0, breaker_open_s=5.0,
    )  # fmt: skip
    return simulate(
        [a, b], w, policy, seed=seed, overhead_s=0.01, warmup_s=30.0, record_attempts=True
    )


def _reference_summary(res):
    """The summary as the polars filters it replaced computed it."""
    f = res.requests
    m = f.filter(pl.col("arrival_s") >= res.warmup_s)
    ok = m.filter(pl.col("status") == "ok")
    lat = ok["latency_s"].to_numpy()
    wait = m["wait_s"].drop_nans().to_numpy()
    horizon = res.stats["horizon_s"]
    span = horizon - res.warmup_s
    q = np.percentile(lat, [50, 95, 99, 99.9])
    all_start = f["start_s"].fill_nan(None).fill_null(f["end_s"]).to_numpy()
    lam = f.height / horizon
    return {
        "n_measured": m.height,
        "mean_wait_s": wait.mean(),
        "mean_latency_s": lat.mean(),
        "p50_latency_s": q[0],
        "p95_latency_s": q[1],
        "p99_latency_s": q[2],
        "p999_latency_s": q[3],
        "throughput_rps": ok.height / span,
        "error_rate": 1 - ok.height / m.height,
        "mean_attempts": m["attempts"].mean(),
        "cost_total": m["cost"].sum(),
        "cost_per_request": m["cost"].mean(),
        "littles_lambda_W": lam * np.mean(f["end_s"].to_numpy() - f["arrival_s"].to_numpy()),
        "littles_lambda_Wq": lam * np.mean(all_start - f["arrival_s"].to_numpy()),
    }


def test_summary_matches_the_polars_reference_on_a_messy_run():
    res = _messy()
    f = res.requests
    # the scenario exercises what the one-pass summary must get right
    assert f["start_s"].is_nan().sum() > 10  # requests that never started
    assert (f["status"] != "ok").sum() > 100
    assert (f["arrival_s"] < res.warmup_s).sum() > 100
    s = res.summary()
    for key, want in _reference_summary(res).items():
        assert s[key] == pytest.approx(want, rel=1e-12), key
        assert type(s[key]) is float, key
    # the percentiles are exactly numpy's
    ref = _reference_summary(res)
    assert [s[k] for k in ("p50_latency_s", "p95_latency_s", "p99_latency_s")] == [
        ref["p50_latency_s"], ref["p95_latency_s"], ref["p99_latency_s"],
    ]  # fmt: skip


@pytest.mark.parametrize("n", [1, 2, 3, 7, 100, 1001, 25_000])
def test_percentiles_of_the_sorted_values_equal_numpy_bit_for_bit(n):
    rng = np.random.default_rng(n)
    q = (0.0, 50.0, 95.0, 99.0, 99.9, 100.0)
    for scale in (1e-3, 1.0, 1e6):
        x = rng.lognormal(size=n) * scale
        assert _sorted_percentiles(np.sort(x), q) == np.percentile(x, q).tolist()


def test_records_without_retries_equal_records_with_unused_retries():
    # with no failures a second attempt is never made, so max_attempts=1 (no retry
    # bookkeeping in the kernel) and max_attempts=2 must give the same run
    one = _messy(max_attempts=1, error_prob=0.0)
    two = _messy(max_attempts=2, error_prob=0.0)
    assert (one.requests["attempts"] == 1).all()
    assert one.requests.equals(two.requests)
    assert one.attempts.equals(two.attempts)
    assert one.stats == two.stats


def test_single_attempt_log_uses_the_send_time():
    res = _messy(max_attempts=1)
    f = res.requests.with_row_index("request")
    att = res.attempts.join(f.select("request", "start_s"), on="request")
    assert att.height > 0
    assert (att["send_s"] == att["start_s"]).all()
    failed = f.filter(pl.col("status").is_in(["error", "timeout"]))
    assert failed.height > 50 and (failed["attempts"] == 1).all()


@pytest.mark.parametrize(
    "times",
    [[0.0, 2.0, 1.0], [0.0, np.nan, 1.0], [0.0, 1.0, np.inf], [-np.inf, 0.0], [np.nan]],
)
def test_arrivals_reject_unsorted_or_non_finite_times(times):
    with pytest.raises(ValueError, match="finite and sorted"):
        Arrivals(times, [0] * len(times), [0] * len(times))


def test_arrivals_accept_ties():
    assert len(Arrivals([0.0, 1.0, 1.0, 2.0], [0] * 4, [0] * 4)) == 4
