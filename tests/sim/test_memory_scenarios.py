"""Notebook helpers of the memory simulator: detector comparison, result rows, plots."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import polars as pl
import pytest

from workbench.results import Recorder, read_run
from workbench.sim.memory import PressureDetector, Workload, compare_runtimes, summary_table
from workbench.sim.memory_calibration import claim_sensitivity, memory_table
from workbench.sim.memory_measure import MEASURE_SCHEMA
from workbench.sim.memory_plots import plot_rss, plot_sensitivity, plot_table1
from workbench.sim.memory_scenarios import (
    detector_comparison,
    leak_records,
    measured_records,
    record_all,
    seed_records,
    sensitivity_records,
    summary_records,
    table_records,
)

W = Workload(200, 20_000, 30.0, leak_bytes_per_request=1_000, cache_mb=10.0, name="svc")


def test_detector_comparison_pairs_runs():
    det = PressureDetector(budget_mb=60.0, window_s=30.0, cooldown_s=5.0)
    table, runs = detector_comparison(W, det, ("go", "rust"), duration_s=120)
    assert table.select("runtime", "detector").rows() == [
        ("go", False), ("go", True), ("rust", False), ("rust", True),
    ]  # fmt: skip
    assert set(runs) == {("go", False), ("go", True), ("rust", False), ("rust", True)}
    with_det = table.filter(pl.col("detector"))
    assert (with_det["leak_detected_at_s"].is_not_null()).all()
    assert table.filter(~pl.col("detector"))["leak_detected_at_s"].is_null().all()


def test_records_are_valid_results(tmp_path):
    rec = Recorder(tmp_path / "run", suite="test", notebook="memory_simulation")
    table = memory_table(duration_s=30)
    summary = summary_table(compare_runtimes(W, duration_s=30))
    grid = claim_sensitivity((0.5,), (0.0,), duration_s=30)
    det_table, _ = detector_comparison(W, PressureDetector(100.0, window_s=10), ("rust",),
                                       duration_s=30)  # fmt: skip
    measured = pl.DataFrame(
        [{"service": "gateway", "pid": 1, "source": "psutil", "samples": 2, "rss_mean_mb": 50.0,
          "rss_max_mb": 51.0, "error": None},
         {"service": "llm", "pid": None, "source": "/v1/memory", "samples": 0,
          "rss_mean_mb": None, "rss_max_mb": None, "error": "ConnectError"}],
        schema=MEASURE_SCHEMA,
    )  # fmt: skip
    rows = (
        table_records(table, {"seed": 0}) + seed_records() + summary_records(summary, {})
        + sensitivity_records(grid, {}) + leak_records(det_table, "memory/leak/svc", {})
        + measured_records(measured)
    )  # fmt: skip
    n = record_all(rec, rows)
    stored = read_run(tmp_path / "run")
    assert stored.height == n
    assert set(stored["provenance"]) == {"seed", "simulated", "measured"}
    seed_total = stored.filter(
        (pl.col("provenance") == "seed") & (pl.col("implementation") == "typescript")
    )["value"].sum()
    assert seed_total == pytest.approx(1050.0)
    pauses = stored.filter(pl.col("metric") == "p99_pause")
    assert set(pauses["unit"]) == {"s"}
    assert stored.filter(pl.col("provenance") == "measured").height == 1


def test_plots_draw():
    res = compare_runtimes(W, duration_s=20)
    ax = plot_rss(res, title="x")
    assert len(ax.get_lines()) == 3
    ax = plot_sensitivity(claim_sensitivity((0.5, 1.0), (0.0,), duration_s=20))
    assert len(ax.get_lines()) == 2  # one leak line and the claim line
    ax = plot_table1(memory_table(duration_s=20))
    assert len(ax.patches) == 16
    import matplotlib.pyplot as plt

    plt.close("all")
