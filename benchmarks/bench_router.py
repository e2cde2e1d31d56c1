"""Router engine vs SimPy on M/M/c: simulated requests per second, both checked against Erlang C.

Each side is timed on the same end-to-end answer, the mean wait after the warm-up: the
engine through its public path (``simulate_mmc`` with per-request polars records, then
``summary()``), SimPy as the textbook program (a source process, one process per customer,
a ``simpy.Resource``). ``seconds`` is the median wall-clock time of the timed repeats and
``cpu_s`` the median CPU time of the same repeats (the steadier figure on a machine shared
with other work); requests per second are customers / each, and the speed-up over SimPy is
given in both. Writes a new run under reports/ (suite "benchmark") and prints the table.

    .venv/bin/python benchmarks/bench_router.py                # M/M/4, rho 0.9, 200,000
    .venv/bin/python benchmarks/bench_router.py --quick        # small, seconds
"""

from __future__ import annotations

import argparse

import polars as pl

from workbench.results import Recorder, merge_run
from workbench.sim.router_bench import bench_grid, run_router_benchmark


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[200_000], help="customers per run")
    ap.add_argument("--c", type=int, nargs="+", default=[4], help="servers")
    ap.add_argument("--rho", type=float, nargs="+", default=[0.9], help="utilisations")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="timed repeats of the engine")
    ap.add_argument("--simpy-repeat", type=int, default=1, help="timed repeats of SimPy")
    ap.add_argument("--no-simpy", action="store_true", help="skip the SimPy reference")
    ap.add_argument("--quick", action="store_true", help="20,000 customers, one repeat")
    args = ap.parse_args(argv)
    sizes = [20_000] if args.quick else args.sizes
    cases = bench_grid(sizes, args.c, args.rho)
    rec = Recorder(None, suite="benchmark", notebook="bench_router")
    frame = run_router_benchmark(
        cases, rec, seed=args.seed, repeat=1 if args.quick else args.repeat,
        simpy_repeat=args.simpy_repeat, with_simpy=not args.no_simpy,
    )  # fmt: skip
    merge_run(rec.run_dir)
    with pl.Config(tbl_cols=-1, tbl_width_chars=260):
        print(frame)
    print(f"results: {rec.run_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
