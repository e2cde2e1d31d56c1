"""Calibration of the memory simulator to the plan's Table 1, and what the targets require."""

from __future__ import annotations

import doctest
import importlib

import polars as pl
import pytest

from workbench.sim.memory import Workload, simulate
from workbench.sim.memory_calibration import (
    SERVICE_WORKLOADS,
    calibrate_live_set,
    claim_sensitivity,
    gogc_requirements,
    memory_table,
    seed_memory_table,
    services,
)

SEED_CURRENT = {"api_gateway": 150, "database_layer": 200, "ai_processing": 400, "graphrag": 300}


@pytest.mark.parametrize("sid", sorted(SEED_CURRENT))
def test_default_workloads_reproduce_current_ts_column_within_5_percent(sid):
    s = simulate(SERVICE_WORKLOADS[sid], "v8", duration_s=600, dt_s=0.01, seed=0).summary()
    assert s["mean_rss_mb"] == pytest.approx(SEED_CURRENT[sid], rel=0.05)


@pytest.mark.parametrize("seed", [1, 2])
def test_calibration_is_not_a_seed_artefact(seed):
    w = SERVICE_WORKLOADS["api_gateway"]
    s = simulate(w, "v8", duration_s=600, dt_s=0.01, seed=seed).summary()
    assert s["mean_rss_mb"] == pytest.approx(150, rel=0.05)


def test_seed_table_matches_the_plan():
    t = seed_memory_table()
    assert t["current_mb"].sum() == 1050
    by_rt = t.group_by("target_runtime").agg(pl.col("target_mb").sum())
    assert dict(by_rt.iter_rows()) == {"go": 175.0, "rust": 210.0}
    assert set(services()) == set(SEED_CURRENT)


def test_calibrate_live_set_rust_closed_form():
    w = Workload(200, 50_000, 10.0, request_duration_s=0.1, survival_fraction=0.0)
    live = calibrate_live_set(
        w,
        "rust",
        60.0,
        duration_s=60,
        baseline_mb=4.0,
        fragmentation=0.25,
        retention_s=0.0,
        tol_mb=0.01,
    )
    # Without retention, mean RSS = baseline + (1 + fragmentation) x (live set + in flight)
    assert live == pytest.approx((60.0 - 4.0) / 1.25 - w.in_flight_mb, abs=0.1)


def test_calibrate_live_set_hits_its_target_for_go():
    w = SERVICE_WORKLOADS["api_gateway"]
    live = calibrate_live_set(w, "go", 75.0, duration_s=120, gogc=100)
    s = simulate(w.replace(live_set_mb=live, cache_mb=0), "go", 120, 0.01, gogc=100).summary()
    assert s["mean_rss_mb"] == pytest.approx(75.0, abs=0.5)


def test_calibrate_live_set_rejects_unreachable_target():
    with pytest.raises(ValueError, match="unreachable"):
        calibrate_live_set(SERVICE_WORKLOADS["api_gateway"], "v8", 50.0, duration_s=30)
    with pytest.raises(ValueError, match="target_mb"):
        calibrate_live_set(SERVICE_WORKLOADS["api_gateway"], "v8", -1.0)
    with pytest.raises(ValueError, match="metric"):
        calibrate_live_set(SERVICE_WORKLOADS["api_gateway"], "v8", 100.0, metric="gc_cycles")


def test_memory_table_columns_and_totals():
    t = memory_table(duration_s=120)
    total = t.filter(pl.col("id") == "total").row(0, named=True)
    rows = t.filter(pl.col("id") != "total")
    assert total["seed_current_mb"] == 1050 and total["seed_target_mb"] == 385
    assert total["sim_current_mb"] == pytest.approx(rows["sim_current_mb"].sum())
    assert total["seed_improvement_pct"] == pytest.approx(100 * (1 - 385 / 1050))
    smaller = memory_table(duration_s=120, live_set_factor=0.3)
    assert (smaller["sim_target_mb"] < t["sim_target_mb"]).all()
    assert smaller["sim_current_mb"].to_list() == t["sim_current_mb"].to_list()


def test_claim_sensitivity_is_monotone():
    grid = claim_sensitivity((0.25, 0.5, 1.0), (0.0, 1000.0), duration_s=120)
    assert grid.height == 6
    for _, g in grid.group_by("leak_bytes_per_request"):
        red = g.sort("live_set_factor")["reduction_pct"].to_list()
        assert red == sorted(red, reverse=True)
    by_leak = grid.filter(pl.col("live_set_factor") == 0.25).sort("leak_bytes_per_request")
    # Go's heap goal doubles a leak: leaks eat into the saving.
    assert by_leak["reduction_pct"][1] < by_leak["reduction_pct"][0]
    with pytest.raises(ValueError, match="live_set_factors"):
        claim_sensitivity((-1.0,), (0.0,), duration_s=10)


def test_gogc_requirements_trade_live_set_for_cpu():
    g = gogc_requirements("api_gateway", (50, 100), duration_s=60)
    live = g["required_live_set_mb"].to_list()
    cpu = g["gc_cpu_fraction"].to_list()
    assert live[0] > live[1] and cpu[0] > cpu[1]
    with pytest.raises(ValueError, match="service"):
        gogc_requirements("nope")


@pytest.mark.parametrize(
    "module",
    [
        "workbench.sim.memory",
        "workbench.sim.memory_workload",
        "workbench.sim.memory_runtimes",
        "workbench.sim.memory_detector",
        "workbench.sim.memory_calibration",
        "workbench.sim.memory_measure",
        "workbench.sim.memory_bench",
        "workbench.sim.memory_scenarios",
    ],
)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
