"""The memory simulator's benchmark grid: runs small, records, and its reference agrees."""

from __future__ import annotations

import json

import pytest

from workbench.results import Recorder, read_run
from workbench.sim.memory import simulate
from workbench.sim.memory_bench import BENCH_WORKLOAD, reference_go_final_heap, run_benchmark


@pytest.mark.parametrize("gogc", [50, 100])
def test_reference_agrees_with_engine(gogc):
    w = BENCH_WORKLOAD
    engine = simulate(w, "go", 30.0, 0.01, arrivals="uniform", gogc=gogc)
    assert reference_go_final_heap(w, gogc, 30.0, 0.01) == pytest.approx(
        engine.trace["heap_mb"][-1], rel=1e-12
    )


def test_run_benchmark_records_a_small_grid(tmp_path):
    rec = Recorder(tmp_path / "run", suite="benchmark", notebook="bench_memory")
    table = run_benchmark(rec, hours=0.005, reference_s=5.0, runtimes=("go", "rust"))
    metrics = set(zip(table["implementation"], table["metric"], strict=True))
    assert ("numba-go", "time") in metrics and ("numba-rust", "ns_per_step") in metrics
    assert ("numba-go", "speedup_vs_python") in metrics
    stored = read_run(tmp_path / "run")
    assert set(stored["provenance"]) == {"measured"}
    speed = stored.filter(stored["metric"] == "speedup_vs_python").row(0, named=True)
    assert json.loads(speed["params"])["results_agree"] is True
    with pytest.raises(ValueError, match="hours"):
        run_benchmark(None, hours=0)
