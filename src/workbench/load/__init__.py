"""Load tests of the reference services with Locust: shapes, open model, SLOs, results.

Python API::

    from workbench.load import SLO, run_load_test

    r = run_load_test("mixed", users=20, duration_s="10s", slo=SLO(max_p99_s=0.5))
    r.total["rps"], r.total["p99"], r.ok, r.generator["saturated"]

``workbench load`` (:func:`add_load_arguments`, :func:`run_load`) is a thin layer over
:func:`run_load_test`. Modules: :mod:`~workbench.load.runner` (target, Locust processes,
results), :mod:`~workbench.load.shapes` (constant, step, spike, open schedules),
:mod:`~workbench.load.openmodel` (intended send times), :mod:`~workbench.load.latency`
(HDR histograms), :mod:`~workbench.load.slo` (checks and the knee),
:mod:`~workbench.load.scenarios` (endpoint mixes). The Locust side lives in ``loadtests/``.
Nothing in this package imports Locust, so importing it never monkey-patches the caller.
"""

from __future__ import annotations

import argparse
import sys

from workbench.load.latency import PERCENTILES, LatencyBook
from workbench.load.runner import (
    DEFAULT_SERVICE_SETTINGS,
    LoadResult,
    Target,
    is_loopback,
    parse_duration,
    resolve_target,
    run_load_test,
)
from workbench.load.scenarios import SCENARIOS, weights_for
from workbench.load.shapes import (
    Phase,
    Schedule,
    constant_schedule,
    open_schedule,
    spike_schedule,
    step_schedule,
)
from workbench.load.slo import DEFAULT_KNEE_SLO, SLO, knee

__all__ = [
    "DEFAULT_KNEE_SLO",
    "DEFAULT_SERVICE_SETTINGS",
    "PERCENTILES",
    "SCENARIOS",
    "SLO",
    "LatencyBook",
    "LoadResult",
    "Phase",
    "Schedule",
    "Target",
    "add_load_arguments",
    "constant_schedule",
    "is_loopback",
    "knee",
    "open_schedule",
    "parse_duration",
    "resolve_target",
    "run_load",
    "run_load_test",
    "spike_schedule",
    "step_schedule",
    "weights_for",
]

#: Default error-ratio limit: the plan's KPI "error rate < 0.1 %".
DEFAULT_MAX_ERROR_RATIO = 0.001


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 5,10,20, got {text!r}") from None


def _float_list(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 50,100, got {text!r}") from None


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``workbench load`` options to ``parser`` (see :func:`run_load`)."""
    parser.description = (
        "Run a headless Locust load test against the gateway and record it. Without --host it "
        "uses a running `workbench serve` (loopback only) or starts the services itself on "
        "free loopback ports and stops them after. Results go to reports/<run-id>/ (Locust's "
        "CSV and HTML in load/). Exit code: 0 when every SLO check holds (for a step load: "
        "some step met the p99 and error limits and carried --min-rps), 1 when one fails, "
        "2 on an error."
    )
    parser.add_argument(
        "--scenario", default="mixed", choices=sorted(SCENARIOS), help="endpoint mix (mixed)"
    )
    load = parser.add_mutually_exclusive_group()
    load.add_argument(
        "--users", type=_int_list, metavar="N[,N...]",
        help="closed model: concurrent users; a list (5,10,20) is a step load",
    )  # fmt: skip
    load.add_argument(
        "--rate", type=_float_list, metavar="R[,R...]",
        help="open model: arrivals per second (a list offers each rate in turn); latency is "
        "measured from each request's intended send time",
    )  # fmt: skip
    parser.add_argument(
        "--duration", required=True, metavar="D",
        help="test length, e.g. 10s, 2m (required: a load test always stops by itself)",
    )  # fmt: skip
    parser.add_argument(
        "--shape", choices=("constant", "step", "spike"), default="constant",
        help="closed-model shape: constant users, a step load to the knee (doubling up to "
        "--users unless a list is given), or a spike to --spike-users",
    )  # fmt: skip
    parser.add_argument("--spike-users", type=int, help="users during the spike (5x --users)")
    parser.add_argument(
        "--stop-on-slo", action="store_true",
        help="step load: stop after the first step whose p99 or error ratio breaks the SLO",
    )  # fmt: skip
    parser.add_argument(
        "--max-in-flight", type=int,
        help="open model: users carrying the arrivals (default from the rate)",
    )  # fmt: skip
    parser.add_argument(
        "--arrivals", choices=("uniform", "poisson"), default="uniform",
        help="open model: evenly spaced or exponential gaps",
    )  # fmt: skip
    parser.add_argument(
        "--host", help="gateway URL; the only way to load a host other than loopback"
    )
    parser.add_argument(
        "--implementation",
        help="name of the system under test in the results (python-gateway; external for --host)",
    )
    parser.add_argument(
        "--workers", type=int, default=0, metavar="N",
        help="Locust distributed mode: a master and N local worker processes (0: one process)",
    )  # fmt: skip
    parser.add_argument(
        "--remote-workers", type=int, default=0, metavar="N",
        help="also wait for N workers started on other machines with `locust -f "
        "loadtests/locustfile.py --worker --master-host THIS_HOST --master-port PORT` "
        "(needs --host reachable from them, --master-bind and --master-port)",
    )  # fmt: skip
    parser.add_argument(
        "--master-bind", default="127.0.0.1", metavar="ADDR",
        help="interface the Locust master listens on (default loopback; 0.0.0.0 for remote "
        "workers)",
    )  # fmt: skip
    parser.add_argument(
        "--master-port", type=int, metavar="PORT", help="Locust master port (default: free)"
    )
    parser.add_argument("--max-p99-ms", type=float, help="SLO: p99 latency limit (ms)")
    parser.add_argument(
        "--max-error-ratio", type=float, default=DEFAULT_MAX_ERROR_RATIO,
        help=f"SLO: failed share limit (default {DEFAULT_MAX_ERROR_RATIO}, the plan's KPI; "
        "1 disables)",
    )  # fmt: skip
    parser.add_argument("--min-rps", type=float, help="SLO: minimum requests per second")
    parser.add_argument(
        "--weights", metavar="NAME=W,...", help="override endpoint weights, e.g. chat=0"
    )
    parser.add_argument(
        "--warmup", default="0", metavar="D",
        help="closed model: load for D before --duration without recording it (e.g. 2s)",
    )  # fmt: skip
    parser.add_argument("--think-ms", type=float, default=0.0, help="closed-model think time")
    parser.add_argument("--run-id", help="record into this run id (default: a new one)")
    parser.add_argument("--no-progress", action="store_true", help="no progress line")


def run_load(args: argparse.Namespace) -> int:
    """Run ``workbench load`` from parsed arguments; returns the exit code."""
    from workbench.results import run_dir_for

    if args.users is None and args.rate is None:
        print("workbench load: give --users N (closed model) or --rate R (open model)",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        duration = parse_duration(args.duration)
        slo = SLO(
            max_p99_s=None if args.max_p99_ms is None else args.max_p99_ms / 1000.0,
            max_error_ratio=args.max_error_ratio,
            min_rps=args.min_rps,
        )
        users = args.users
        if users is not None and len(users) == 1 and args.shape != "step":
            users = users[0]
        result = run_load_test(
            args.scenario,
            users=users if args.rate is None else None,
            rate=args.rate,
            duration_s=duration,
            host=args.host,
            workers=args.workers,
            remote_workers=args.remote_workers,
            master_bind=args.master_bind,
            master_port=args.master_port,
            shape=args.shape,
            spike_users=args.spike_users,
            slo=slo,
            stop_on_slo=args.stop_on_slo,
            weights=args.weights,
            think_s=args.think_ms / 1000.0,
            warmup_s=0.0 if args.warmup in ("0", "", None) else parse_duration(args.warmup),
            max_in_flight=args.max_in_flight,
            arrivals=args.arrivals,
            run_dir=run_dir_for(args.run_id) if args.run_id else None,
            implementation=args.implementation,
            progress=not args.no_progress,
        )
    except ValueError as exc:
        print(f"workbench load: error: {exc}", file=sys.stderr)
        return 2
    _print_result(result)
    return result.exit_code


def _print_result(r: LoadResult) -> None:
    out = sys.stdout
    print(f"run {r.run_id}: {r.scenario} against {r.host} ({r.implementation})", file=out)
    print("  " + r.summary_line(), file=out)
    if len(r.schedule.phases) > 1:
        for ph in r.phases:
            offered = f" offered {ph['offered_rps']:g}/s" if ph.get("offered_rps") else ""
            print(
                f"  phase {ph['index']} {ph['label']:>12}:{offered} {ph['rps']:8.1f} req/s  "
                f"p50 {ph['p50'] * 1e3:7.1f} ms  p99 {ph['p99'] * 1e3:7.1f} ms  "
                f"errors {ph['error_ratio']:.2%}",
                file=out,
            )
    if r.knee is not None:
        last = r.knee["index"] == r.phases[-1]["index"] and not r.stopped_early
        more = " (the highest step tried: the real knee may be further)" if last else ""
        print(f"  knee: {r.knee['rps']:.1f} req/s at {r.knee['users']} users{more}", file=out)
    elif r.schedule.kind == "step":
        print("  knee: no step met the SLO", file=out)
    if r.stopped_early:
        print(f"  stopped early: {r.stopped_early}", file=out)
    if r.unfinished:
        print(f"  {r.unfinished} scheduled requests never completed", file=out)
    g = r.generator
    if g.get("saturated"):
        print(
            f"  WARNING: the load generator was short of CPU (busiest process "
            f"{g['busiest_mean_pct']:.0f}% of a core, event-loop lag p99 "
            f"{g.get('loop_lag_p99_s', float('nan')) * 1e3:.0f} ms, host CPU "
            f"{g['host_cpu_mean_pct']:.0f}%): the figures may understate the server; use "
            "--workers N or a quieter machine",
            file=out,
        )
    print(f"  report: {r.out_dir / 'report.html'}", file=out)
    for v in r.violations:
        print(f"  SLO FAILED: {v.message}", file=out)
