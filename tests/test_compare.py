import numpy as np
import polars as pl
import pytest

from workbench.compare import (
    baseline_for,
    compare_runs,
    higher_is_better,
    noise_floor,
    regression_gate,
)
from workbench.results import Recorder, merge_run
from workbench.stats import mann_whitney_p, median_ratio


def _run(root, run_id, figures, host="box-a"):
    """A run whose figures are {(case, metric, unit): samples}."""
    rec = Recorder(root / run_id, suite="nightly", notebook="bench")
    for (case, metric, unit), samples in figures.items():
        samples = [float(s) for s in samples]
        rec.record(
            case,
            "numba",
            metric,
            float(np.median(samples)),
            unit,
            n=len(samples),
            min=min(samples),
            median=float(np.median(samples)),
            max=max(samples),
            samples=samples,
            flush=False,
        )
    rec.flush()
    # the machine a run was measured on is part of its identity (baselines are same-machine)
    (root / run_id / "run.json").write_text(
        f'{{"suite": "nightly", "machine": {{"hostname": "{host}"}}}}'
    )
    merge_run(root / run_id)
    return run_id


def _noisy(rng, centre, n=30, cv=0.05):
    return centre * rng.lognormal(0.0, cv, size=n)


def test_a_2x_slowdown_is_flagged_and_noise_is_not(tmp_path):
    rng = np.random.default_rng(1)
    a = _run(
        tmp_path,
        "20260101T000000Z-a-0001",
        {
            ("bfs/s16", "time", "s"): _noisy(rng, 0.010),
            ("pagerank/s16", "time", "s"): _noisy(rng, 0.020),
            ("bfs/s16", "teps", "TEPS"): _noisy(rng, 1e8),
        },
    )
    b = _run(
        tmp_path,
        "20260102T000000Z-b-0002",
        {
            ("bfs/s16", "time", "s"): _noisy(rng, 0.020),  # 2x slower
            ("pagerank/s16", "time", "s"): _noisy(rng, 0.0202),  # 1% noise-level change
            ("bfs/s16", "teps", "TEPS"): _noisy(rng, 0.5e8),  # half the TEPS: worse
        },
    )
    cmp = compare_runs(a, b, root=tmp_path)
    flags = {(r["case"], r["metric"]): r["flag"] for r in cmp.iter_rows(named=True)}
    assert flags[("bfs/s16", "time")] == "regression"
    assert flags[("bfs/s16", "teps")] == "regression"
    assert flags[("pagerank/s16", "time")] == "unchanged"
    slow = cmp.filter((pl.col("case") == "bfs/s16") & (pl.col("metric") == "time")).row(
        0, named=True
    )
    assert slow["worse_pct"] == pytest.approx(100, rel=0.1)
    assert slow["low"] <= slow["ratio"] <= slow["high"]


def test_improvements_are_not_regressions(tmp_path):
    rng = np.random.default_rng(2)
    a = _run(tmp_path, "20260101T000000Z-a-0001", {("k", "time", "s"): _noisy(rng, 0.02)})
    b = _run(tmp_path, "20260102T000000Z-b-0002", {("k", "time", "s"): _noisy(rng, 0.01)})
    assert compare_runs(a, b, root=tmp_path)["flag"].to_list() == ["improvement"]
    assert regression_gate(b, 10, root=tmp_path) == 0


def test_single_shot_figures_are_never_flagged(tmp_path):
    a = _run(tmp_path, "20260101T000000Z-a-0001", {("k", "time", "s"): [1.0]})
    b = _run(tmp_path, "20260102T000000Z-b-0002", {("k", "time", "s"): [3.0]})
    assert compare_runs(a, b, root=tmp_path)["flag"].to_list() == ["untested"]


def test_regression_gate_uses_the_previous_run_on_the_same_machine(tmp_path, capsys):
    rng = np.random.default_rng(3)
    a = _run(tmp_path, "20260101T000000Z-a-0001", {("k", "time", "s"): _noisy(rng, 0.01)})
    _run(tmp_path, "20260102T000000Z-o-0002", {("k", "time", "s"): _noisy(rng, 0.05)}, host="other")
    c = _run(tmp_path, "20260103T000000Z-c-0003", {("k", "time", "s"): _noisy(rng, 0.02)})
    assert baseline_for(c, root=tmp_path) == a
    assert regression_gate(c, 50, root=tmp_path) == 1
    assert "REGRESSION k" in capsys.readouterr().out
    assert regression_gate(c, 150, root=tmp_path) == 0  # a 100% slowdown is under 150%
    assert baseline_for(a, root=tmp_path) is None


def test_aa_mode_reports_a_noise_floor_and_no_false_positives(tmp_path):
    rng = np.random.default_rng(4)
    figures = {(f"case{i}", "time", "s"): None for i in range(20)}
    a = _run(tmp_path, "20260101T000000Z-a-0001", {k: _noisy(rng, 0.01) for k in figures})
    b = _run(tmp_path, "20260102T000000Z-b-0002", {k: _noisy(rng, 0.01) for k in figures})
    floor = noise_floor(a, b, root=tmp_path)
    assert floor.height == 20
    assert floor.filter(pl.col("flag").is_in(["regression", "improvement"])).height == 0
    assert floor["abs_change_pct"].max() < 10 and floor["ci_halfwidth_pct"].min() > 0


def test_stats_helpers():
    est = median_ratio([1.0, 1.0, 1.0], [2.0, 2.0, 2.0])
    assert (est.ratio, est.low, est.high) == (2.0, 2.0, 2.0)
    assert not median_ratio([1.0], [2.0]).has_interval
    assert mann_whitney_p([1, 2], [3, 4]) == 1.0
    with pytest.raises(ValueError):
        median_ratio([0.0], [1.0])
    assert higher_is_better("recall_at_10", "1") and not higher_is_better("latency_p99", "s")
    # whole words only: "steps" is not "teps", "time_per_step" is not a rate
    assert not higher_is_better("steps", "1") and not higher_is_better("time_per_step", "s")
    assert higher_is_better("queries_per_s", "1") and higher_is_better("bfs", "edges/s")


def test_a_common_drift_between_runs_is_noise_but_a_real_slowdown_is_not(tmp_path):
    rng = np.random.default_rng(5)
    names = [(f"case{i}", "time", "s") for i in range(30)]
    a = _run(tmp_path, "20260101T000000Z-a-0001", {k: _noisy(rng, 0.01) for k in names})
    # the whole machine is ~12% slower in the second run, each figure a little more or less
    later = {k: _noisy(rng, 0.01 * 1.12 * rng.lognormal(0, 0.04)) for k in names}
    later[names[0]] = _noisy(rng, 0.02)  # and one figure really got 2x slower
    b = _run(tmp_path, "20260102T000000Z-b-0002", later)
    cmp = compare_runs(a, b, root=tmp_path)
    flagged = cmp.filter(pl.col("flag") != "unchanged")
    assert flagged["case"].to_list() == ["case0"]
    assert flagged["flag"].item() == "regression"
    assert 5 < cmp["floor_pct"][0] < 60
