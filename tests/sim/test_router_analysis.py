"""Notebook helpers and the benchmark grid of the router simulator."""

from __future__ import annotations

import math

import polars as pl
import pytest

from workbench.results import Recorder
from workbench.sim import router_analysis as ra
from workbench.sim.queueing import erlang_c_wait
from workbench.sim.router_bench import bench_grid, run_router_benchmark, simpy_mmc_wait


def test_claim_improvement_and_required_overhead_are_inverse():
    for s in (2.0, 10.0, math.inf):
        o = ra.required_overhead_s(0.180, 0.090, s)
        assert ra.claim_improvement(0.180 - o, o, s) == pytest.approx(0.5)
    assert ra.claim_improvement(0.175, 0.005, 5.0) == pytest.approx(0.004 / 0.180)
    with pytest.raises(ValueError, match="target_s"):
        ra.required_overhead_s(0.09, 0.18)
    with pytest.raises(ValueError, match="speedup"):
        ra.claim_improvement(0.1, 0.01, 0.5)


def test_knee_interpolates_and_reports_never():
    f = pl.DataFrame(
        {
            "policy": ["a", "a", "a", "b", "b"],
            "rate_rps": [1.0, 2.0, 3.0, 1.0, 2.0],
            "p99_latency_s": [1.0, 1.5, 2.5, 1.0, 1.1],
        }
    )
    k = dict(ra.knee(f).select("policy", "knee_rps").iter_rows())
    assert k["a"] == pytest.approx(2.5)
    assert k["b"] is None
    with pytest.raises(ValueError, match="metric"):
        ra.knee(f, metric="nope")
    with pytest.raises(ValueError, match="factor"):
        ra.knee(f, factor=1.0)


def test_sensitivity_matches_closed_form_at_low_load_and_exceeds_it_near_saturation():
    g = ra.sensitivity_grid([0.2], [0.002, 0.15], 10.0, rate_rps=5.0, n_requests=8000)
    low, high = g.sort("overhead_s").iter_rows(named=True)
    # router busy 1% of the time: queueing is negligible, the closed form holds
    assert low["improvement_pct"] == pytest.approx(low["closed_form_pct"], abs=0.3)
    # router busy 75%: the single-threaded baseline queues, so the gain is larger
    assert high["router_utilisation"] == pytest.approx(0.75)
    assert high["improvement_pct"] > high["closed_form_pct"] + 5
    sat = ra.sensitivity_grid([0.2], [0.5], 10.0, rate_rps=5.0, n_requests=100)
    assert sat["improvement_pct"][0] is None


def test_inference_rederivation_reproduces_baseline():
    f = ra.inference_rederivation(0.18, 0.09, 0.005, 10.0, rate_rps=2.0, n_requests=5000)
    vals = dict(f.select("figure", "value_s").iter_rows())
    assert vals["simulated: TypeScript router"] == pytest.approx(0.18, rel=0.03)
    assert vals["overhead needed for the plan's target"] == pytest.approx(0.1)
    imp = f.filter(pl.col("figure") == "simulated: Rust router")["improvement_pct"][0]
    assert imp == pytest.approx(100 * ra.claim_improvement(0.175, 0.005, 10.0), abs=0.5)


def test_load_sweep_grid_and_common_random_numbers():
    provs = ra.providers_preset("single")
    f = ra.load_sweep(provs, ["round_robin", "p2c"], [2.0, 8.0], n_requests=2000)
    assert f.height == 4
    assert set(f["policy"]) == {"round_robin", "p2c"}
    # one provider: every policy routes identically, so the same seed gives the same numbers
    a = f.filter(pl.col("policy") == "round_robin").drop("policy")
    b = f.filter(pl.col("policy") == "p2c").drop("policy")
    assert a.equals(b)
    with pytest.raises(ValueError, match="rates_rps"):
        ra.load_sweep(provs, ["p2c"], [0.0])
    with pytest.raises(ValueError, match="providers"):
        ra.providers_preset("cloud")


def test_record_frame_writes_rows(tmp_path):
    rec = Recorder(tmp_path / "run", suite="test", notebook="router_simulation")
    f = pl.DataFrame({"policy": ["p2c"], "rate_rps": [2.0], "p99_latency_s": [0.5],
                      "knee": [None]}, schema_overrides={"knee": pl.Float64})  # fmt: skip
    n = ra.record_frame(rec, f, "router/{policy}/{rate_rps:g}rps", "sim",
                        {"p99_latency_s": "s", "knee": "1/s"})  # fmt: skip
    assert n == 1
    row = rec.frame.row(0, named=True)
    assert row["case"] == "router/p2c/2rps" and row["provenance"] == "simulated"


def test_simpy_reference_agrees_with_erlang_c():
    # sd of the relative error at 20,000 customers, rho 0.5, M/M/1: about 4.5%
    w = simpy_mmc_wait(1, 0.5, 1.0, 20_000, seed=3)
    assert w == pytest.approx(erlang_c_wait(1, 0.5, 1.0), rel=0.15)


def test_run_router_benchmark_records_both_implementations(tmp_path):
    rec = Recorder(tmp_path / "run", suite="benchmark", notebook="bench_router")
    f = run_router_benchmark(bench_grid((5000,), (2,), (0.5,)), rec, repeat=1)
    assert set(f["implementation"]) == {"numba-engine", "simpy"}
    assert (f["rel_error"].abs() < 0.25).all()
    assert f.filter(pl.col("implementation") == "numba-engine")["speedup_vs_simpy"][0] > 0
    metrics = set(rec.frame["metric"])
    assert {"time", "first_call_time", "requests_per_s", "mean_wait", "speedup_vs_simpy"} <= metrics
    assert {"cpu_time", "requests_per_cpu_s", "speedup_vs_simpy_cpu"} <= metrics
    assert (f["cpu_s"] > 0).all()
    with pytest.raises(ValueError, match="sizes"):
        bench_grid((10,))
