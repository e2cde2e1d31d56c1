"""Graph kernel benchmark: workbench (numba) vs networkx, igraph and NetworKit.

Runs the grid of workbench.graph.bench over R-MAT graphs and the SNAP graphs and writes
every figure (median time, first-call time, TEPS, modularity, time ratios against each
reference, compile and cache-load times) into a new run under reports/.

    .venv/bin/python benchmarks/bench_graph.py --scales 14 16 18 --threads 1
    .venv/bin/python benchmarks/bench_graph.py --scales 10 --kernels bfs pagerank --repeat 3
"""

from __future__ import annotations

import argparse
import os
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--scales",
        type=int,
        nargs="*",
        default=[14, 16, 18],
        help="R-MAT scales (2**scale vertices, edge factor 16)",
    )
    p.add_argument(
        "--snap",
        nargs="*",
        default=["facebook_combined", "oregon1_010331"],
        help="SNAP graphs to include (default: facebook_combined oregon1_010331)",
    )
    p.add_argument(
        "--kernels",
        nargs="*",
        default=None,
        help="any of bfs k_hop sssp pagerank components label_propagation louvain leiden "
        "local_search (default: all)",
    )
    p.add_argument(
        "--implementations",
        nargs="*",
        default=None,
        help="any of workbench igraph networkit networkx (default: installed)",
    )
    p.add_argument("--repeat", type=int, default=5, help="timed repeats per call")
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        help="keep repeating until this many seconds are spent per call",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--networkx-max-edges", type=int, default=1_000_000, help="skip networkx on larger graphs"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for every implementation (default: each library's own)",
    )
    p.add_argument(
        "--no-compile-times",
        action="store_true",
        help="skip measuring cold-compile and cache-load times",
    )
    p.add_argument("--run-dir", default=None, help="record into this run (default: a new one)")
    return p  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.threads is not None:
        # before any OpenMP runtime (igraph, NetworKit, numba) has started
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
        os.environ["NUMBA_NUM_THREADS"] = str(args.threads)

    import polars as pl

    from workbench.graph.bench import (
        KERNELS,
        compile_times,
        configure_threads,
        ratio_table,
        record_compile_times,
        run_grid,
    )
    from workbench.results import Recorder, merge_run

    threads = configure_threads(args.threads)
    kernels = args.kernels or list(KERNELS)
    rec = Recorder(args.run_dir, suite="benchmark", notebook="bench_graph")
    print(f"recording into {rec.run_dir}; threads {threads}", flush=True)
    if not args.no_compile_times:
        ct = compile_times(kernels)
        record_compile_times(ct, rec)
        print(ct, flush=True)
    graphs = [f"rmat-s{s}" for s in args.scales] + list(args.snap)
    rows = run_grid(
        graphs, kernels, args.implementations, repeat=args.repeat, budget_s=args.budget,
        seed=args.seed, networkx_max_edges=args.networkx_max_edges, recorder=rec,
        progress=lambda line: print(line, flush=True),
    )  # fmt: skip
    with pl.Config(tbl_rows=200, tbl_cols=20, tbl_width_chars=200, float_precision=4):
        print(ratio_table(rows))
    merge_run(rec.run_dir)
    print(f"results: {rec.run_dir / 'results.parquet'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
