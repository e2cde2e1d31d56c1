"""The benchmark grid: every implementation computes the same thing, and figures are recorded."""

from __future__ import annotations

import networkx as nx
import numpy as np
import polars as pl
import pytest

from workbench.graph import bfs, k_hop, local_search, pagerank, sssp
from workbench.graph.bench import (
    KERNELS,
    GraphCase,
    _task,
    available_implementations,
    compile_times,
    crossover,
    crossover_table,
    graph_case,
    graph_query_latency,
    graph_query_summary,
    local_search_igraph,
    local_search_networkx,
    ratio_table,
    run_grid,
)
from workbench.results import Recorder, read_run


@pytest.fixture(scope="module")
def case() -> GraphCase:
    return graph_case("facebook_combined")


def test_references_agree_with_workbench(case):
    root = int(case.roots[0])
    seeds = case.seeds(100).tolist()
    q = case.seeds(3).tolist()
    d = bfs(case.g, root)
    ig_bfs = case.ig().bfs(root)
    assert sorted(ig_bfs[0]) == np.nonzero(d >= 0)[0].tolist()
    impls = available_implementations()
    hop = k_hop(case.g, seeds, 2).tolist()
    assert _task(case, "k_hop", "igraph", root)() == hop
    assert _task(case, "k_hop", "networkx", root)() == hop
    if "networkit" in impls:
        assert _task(case, "k_hop", "networkit", root)() == hop
        nk_d = np.asarray(_task(case, "sssp", "networkit", root)())
        np.testing.assert_allclose(nk_d, sssp(case.weighted, root))
        nk_pr = np.asarray(_task(case, "pagerank", "networkit", root)())
        assert np.abs(nk_pr - pagerank(case.g)).sum() < 1e-3
    ig_d = np.asarray(_task(case, "sssp", "igraph", root)()[0])
    np.testing.assert_allclose(ig_d, sssp(case.weighted, root))
    ig_pr = np.asarray(_task(case, "pagerank", "igraph", root)())
    assert np.abs(ig_pr - pagerank(case.g, tol=1e-12)).sum() < 1e-6
    ours = local_search(case.g, q, 2, 10).tolist()
    assert local_search_networkx(case.nx(), q, 2, 10) == ours
    # igraph's PRPACK solves exactly: the same ranking up to near-ties
    assert len(set(local_search_igraph(case.ig(), q, 2, 10)) & set(ours)) >= 9


def test_run_grid_records_everything(tmp_path):
    rec = Recorder(tmp_path / "run1", suite="test", notebook="bench_graph")
    rows = run_grid(["rmat-s6"], KERNELS, repeat=1, recorder=rec, bfs_roots=2)
    impls = set(available_implementations())
    assert set(rows["implementation"].to_list()) == impls
    assert set(rows["kernel"].to_list()) == set(KERNELS)
    assert rows.filter(pl.col("median_s") <= 0).height == 0
    bfs_rows = rows.filter(pl.col("kernel") == "bfs")
    assert (bfs_rows["teps"] > 0).all()
    louv = rows.filter(pl.col("kernel") == "louvain")
    assert (louv["modularity"] > 0).all()
    stored = read_run(tmp_path / "run1")
    metrics = set(stored["metric"].to_list())
    assert {"time", "first_call_time", "teps", "modularity", "time_ratio_vs_networkx"} <= metrics
    ratio = stored.filter(
        (pl.col("metric") == "time_ratio_vs_networkx") & (pl.col("case") == "bfs/rmat-s6")
    )["value"][0]
    med = dict(
        rows.filter(pl.col("kernel") == "bfs").select("implementation", "median_s").iter_rows()
    )
    assert ratio == pytest.approx(med["workbench"] / med["networkx"])


def test_ratio_and_crossover_tables():
    rows = pl.DataFrame(
        {
            "graph": ["a", "b", "c"] * 2,
            "m": [10, 100, 1000] * 2,
            "kernel": ["pagerank"] * 6,
            "implementation": ["workbench"] * 3 + ["igraph"] * 3,
            "median_s": [3.0, 1.0, 1.0, 1.0, 2.0, 4.0],
        }
    )
    t = ratio_table(rows)
    assert t["workbench/igraph"].to_list() == [3.0, 0.5, 0.25]
    assert crossover(rows, "pagerank", "igraph") == 100
    assert crossover(rows, "pagerank", "networkx") is None
    assert crossover_table(rows, ["igraph"]).row(0) == ("pagerank", "igraph", 100)


def test_graph_query_summary_matches_definition():
    df = graph_query_latency("rmat-s7", queries=3, repeat=1)
    s = graph_query_summary(df)
    med = df.group_by("implementation").agg(pl.col("latency_s").median())
    med = dict(med.iter_rows())
    assert s["improvement_pct"] == pytest.approx(100 * (1 - med["workbench"] / med["networkx"]))
    assert s["speedup"] == pytest.approx(med["networkx"] / med["workbench"])


def test_bad_grid_arguments():
    with pytest.raises(ValueError, match="kernels"):
        run_grid(["rmat-s4"], ["nope"])
    with pytest.raises(ValueError, match="implementations"):
        run_grid(["rmat-s4"], ["bfs"], ["julia"])
    with pytest.raises(ValueError, match="name"):
        graph_case("karate")


@pytest.mark.slow
def test_compile_times_cold_and_cached():
    ct = compile_times(["bfs", "pagerank"])
    assert ct["kernel"].to_list() == ["csr", "bfs", "pagerank"]
    assert (ct["cold_s"] > 0).all() and (ct["cached_s"] > 0).all()
    assert (ct["cold_cpu_s"] > 0).all()


def test_graph_case_inputs_are_deterministic():
    a, b = graph_case("rmat-s8", seed=3), graph_case("rmat-s8", seed=3)
    assert np.array_equal(a.roots, b.roots) and np.array_equal(a.seeds(10), b.seeds(10))
    assert a.weighted == b.weighted
    assert (a.g.degree()[a.roots] > 0).all()
    G = a.nx()
    assert isinstance(G, nx.Graph) and G.number_of_edges() == a.m
