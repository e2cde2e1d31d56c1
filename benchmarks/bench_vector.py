"""Benchmark the vector kernels: exact top-k and IVF against numpy and FAISS.

Runs :func:`workbench.vector.bench.run_grid` (fixed seeds, inputs built and every searcher
called once before timing, first-call time recorded apart) and records the figures into a
new run under ``reports/`` (suite ``benchmark``), or into ``--run-dir``.

    .venv/bin/python benchmarks/bench_vector.py                       # the targets (minutes)
    .venv/bin/python benchmarks/bench_vector.py --sizes 20000x64 --queries 64 --nprobes 1,4
"""

from __future__ import annotations

import argparse
import sys

from workbench.results import Recorder
from workbench.vector.bench import ivf_speedup, run_grid, summary_table


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def _sizes(text: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        n, _, dim = item.strip().lower().partition("x")
        out.append((int(n), int(dim)))
    return out


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=_sizes("200000x384,1000000x384"),
        help="comma-separated NxDIM (default 200000x384,1000000x384)",
    )
    parser.add_argument("--queries", type=int, default=256, help="queries (default 256)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument(
        "--batch-sizes",
        type=_ints,
        default=[1, 16, 256],
        help="exact-search batch sizes (default 1,16,256)",
    )
    parser.add_argument("--nlist", type=int, default=None, help="IVF cells (default sqrt(n))")
    parser.add_argument("--nprobes", type=_ints, default=[1, 2, 4, 8, 16, 32, 64])
    parser.add_argument(
        "--exact",
        type=_names,
        default=["numpy", "faiss-flat", "workbench"],
        help="exact implementations (default numpy,faiss-flat,workbench)",
    )
    parser.add_argument(
        "--ivf",
        type=_names,
        default=["faiss-ivf", "workbench-ivf"],
        help="IVF implementations (default faiss-ivf,workbench-ivf; '' for none)",
    )
    parser.add_argument("--clusters", type=int, default=64, help="mixture components")
    parser.add_argument("--repeat", type=int, default=5, help="timed repeats (at least)")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of repeats per case")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-dir", default=None, help="record into this run folder")
    args = parser.parse_args(argv)

    rec = Recorder(args.run_dir, suite="benchmark", notebook="bench_vector")
    exact, ivf = run_grid(
        rec, args.sizes, n_queries=args.queries, k=args.k, batch_sizes=args.batch_sizes,
        nlist=args.nlist, nprobes=args.nprobes, exact_implementations=args.exact,
        ivf_implementations=args.ivf, n_clusters=args.clusters, seed=args.seed,
        repeat=args.repeat, budget_s=args.budget,
        progress=lambda msg: print(f"  {msg}", file=sys.stderr, flush=True),
    )  # fmt: skip
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 20):
        for (n, dim), grp in exact.groupby(["n", "dim"]):
            print(f"\n== n={n} dim={dim}")
            print(summary_table(grp, ivf[(ivf["n"] == n) & (ivf["dim"] == dim)] if len(ivf)
                                else None).round(4).to_string(index=False))  # fmt: skip
        if len(ivf):
            print("\n== fastest nprobe with recall >= 0.95")
            print(ivf_speedup(ivf).round(4).to_string(index=False))
    print(f"\nresults: {rec.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
