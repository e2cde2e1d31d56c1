"""Benchmark the memory/GC simulator: 24 simulated hours at 1,000 req/s, 10 ms steps.

Runs :func:`workbench.sim.memory_bench.run_benchmark` and records the figures into a new
run under ``reports/`` (suite ``benchmark``), or into ``--run-dir``.

    .venv/bin/python benchmarks/bench_memory.py            # the full target (~10-20 s)
    .venv/bin/python benchmarks/bench_memory.py --hours 1  # a quick check
"""

from __future__ import annotations

import argparse
import sys

from workbench.results import Recorder
from workbench.sim.memory_bench import run_benchmark


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours (default 24)")
    parser.add_argument("--dt", type=float, default=0.01, help="step in seconds (default 0.01)")
    parser.add_argument(
        "--runtimes", default="v8,go,rust", help="comma-separated runtimes (default v8,go,rust)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="timed repeats per runtime")
    parser.add_argument(
        "--reference-seconds", type=float, default=600.0,
        help="simulated seconds of the plain-Python reference comparison (default 600)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-dir", default=None, help="record into this run folder")
    args = parser.parse_args(argv)

    rec = Recorder(args.run_dir, suite="benchmark", notebook="bench_memory")
    table = run_benchmark(
        rec,
        hours=args.hours,
        dt_s=args.dt,
        runtimes=[r.strip() for r in args.runtimes.split(",") if r.strip()],
        repeat=args.repeat,
        reference_s=args.reference_seconds,
        seed=args.seed,
        progress=lambda msg: print(f"  {msg}", file=sys.stderr, flush=True),
    )
    with __import__("polars").Config(tbl_rows=50, tbl_width_chars=140, fmt_str_lengths=60):
        print(table)
    print(f"results: {rec.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
