"""Benchmark grid of the memory simulator (run by ``benchmarks/bench_memory.py``).

The performance target of the simulator is 24 simulated hours of a 1,000 req/s service at
10 ms resolution, all three runtimes, in under 10 s on one core. :func:`run_benchmark`
measures exactly that (compile time separately), and sets the numba engine beside a plain
Python loop of the same Go pacer model on a shorter horizon, measured in the same run, for a
speed ratio. Everything is recorded through :class:`workbench.results.Recorder`.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from typing import Any

import polars as pl

from workbench.measure import time_call
from workbench.results import Recorder
from workbench.sim.memory import simulate
from workbench.sim.memory_workload import Workload

__all__ = ["BENCH_WORKLOAD", "reference_go_final_heap", "run_benchmark"]

#: A gateway-like service at the target's 1,000 req/s.
BENCH_WORKLOAD = Workload(
    rate_rps=1000, alloc_bytes_per_request=32_000, live_set_mb=60.0, request_duration_s=0.05,
    survival_fraction=0.02, survivor_lifetime_s=60.0, name="bench_gateway",
)  # fmt: skip


def reference_go_final_heap(w: Workload, gogc: float, duration_s: float, dt_s: float) -> float:
    """Plain-Python loop of the Go pacer with uniform arrivals; returns the final heap (MB).

    The readable reference the numba engine is timed against (and must agree with): same
    arithmetic as ``simulate(w, "go", ..., arrivals="uniform", gogc=gogc)`` without memory
    limit, detector or scavenger.

    Examples
    --------
    >>> w = Workload(100, 10_000, 5.0)
    >>> h = reference_go_final_heap(w, 100, 10.0, 0.01)
    >>> abs(h - simulate(w, "go", 10.0, 0.01, arrivals="uniform").trace["heap_mb"][-1]) < 1e-9
    True
    """
    alloc = w.alloc_bytes_per_request / 1e6
    s = w.survival_fraction
    short = w.rate_rps * alloc * (1 - s) * w.request_duration_s
    surv = w.rate_rps * alloc * s * w.survivor_lifetime_s
    heap = w.live_set_mb + short + surv
    goal = max(heap * (1 + gogc / 100), 4.0 * gogc / 100)
    f_short = math.exp(-dt_s / w.request_duration_s)
    f_surv = math.exp(-dt_s / w.survivor_lifetime_s)
    carry = 0.0
    for _ in range(round(duration_s / dt_s)):
        x = w.rate_rps * dt_s + carry
        n = int(x)
        carry = x - n
        short = short * f_short + n * alloc * (1 - s)
        surv = surv * f_surv + n * alloc * s
        heap += n * alloc
        if heap >= goal:
            heap = w.live_set_mb + short + surv
            goal = max(heap * (1 + gogc / 100), 4.0 * gogc / 100)
    return heap


def run_benchmark(
    recorder: Recorder | None = None,
    *,
    hours: float = 24.0,
    dt_s: float = 0.01,
    runtimes: Sequence[str] = ("v8", "go", "rust"),
    repeat: int = 1,
    reference_s: float = 600.0,
    seed: int = 0,
    workload: Workload = BENCH_WORKLOAD,
    progress: Any = None,
) -> pl.DataFrame:
    """Time the simulator on the target grid and against the plain-Python reference.

    Parameters
    ----------
    recorder : Recorder, optional
        Where results go (nothing is recorded without one).
    hours, dt_s : float
        Simulated horizon and step of the main figure.
    runtimes : sequence of str
        Runtime models to time.
    repeat : int
        Timed repeats per runtime (after an untimed first call).
    reference_s : float
        Simulated horizon of the Python-vs-numba comparison.
    progress : callable, optional
        Called with a short message before each measurement.

    Returns
    -------
    polars.DataFrame
        ``case, implementation, metric, value, unit`` of the figures recorded.
    """
    if hours <= 0 or dt_s <= 0 or reference_s <= 0:
        raise ValueError("hours, dt_s and reference_s must be > 0")
    say = progress or (lambda msg: None)
    rows: list[dict[str, Any]] = []

    def add(case, impl, metric, value, unit, params, provenance="measured"):
        rows.append({"case": case, "implementation": impl, "metric": metric, "value": value,
                     "unit": unit})  # fmt: skip
        if recorder is not None:
            recorder.record(case, impl, metric, value, unit, params=params, provenance=provenance)

    say("compile (first call)")
    t0 = time.perf_counter()
    simulate(workload, "v8", 1.0, dt_s, seed)
    compile_s = time.perf_counter() - t0
    add("memory/compile", "numba", "first_call_time", compile_s, "s", {"dt_s": dt_s})

    duration = hours * 3600.0
    steps = round(duration / dt_s)
    case = f"memory/{hours:g}h-{workload.rate_rps:g}rps-dt{dt_s * 1e3:g}ms"
    total = 0.0
    total_cpu = 0.0
    for rt in runtimes:
        say(f"{rt}: {hours:g} simulated hours")
        params = {"runtime": rt, "hours": hours, "dt_s": dt_s, "steps": steps, "seed": seed,
                  "workload": workload.params()}  # fmt: skip
        cpu_times: list[float] = []

        def timed(*args: Any, _cpu: list[float] = cpu_times, **kwargs: Any) -> Any:
            # CPU time of this process beside wall time: on a shared machine the wall clock
            # also counts time spent waiting for a core.
            c0 = time.process_time()
            out = simulate(*args, **kwargs)
            _cpu.append(time.process_time() - c0)
            return out

        timing = time_call(timed, workload, rt, duration, dt_s, seed, warmup=0, repeat=repeat)
        if recorder is not None:
            recorder.record_timing(case, f"numba-{rt}", timing, params=params)
        rows.append({"case": case, "implementation": f"numba-{rt}", "metric": "time",
                     "value": timing.median, "unit": "s"})  # fmt: skip
        cpu = statistics.median(cpu_times[1:])
        add(case, f"numba-{rt}", "cpu_time", cpu, "s", params)
        add(case, f"numba-{rt}", "ns_per_step", timing.median / steps * 1e9, "ns", params)
        total += timing.median
        total_cpu += cpu
    summary = {"runtimes": list(runtimes), "hours": hours, "dt_s": dt_s, "target_s": 10.0}
    add(case, "numba-all-runtimes", "time", total, "s", summary)
    add(case, "numba-all-runtimes", "cpu_time", total_cpu, "s", summary)

    say(f"reference: plain Python vs numba, Go pacer, {reference_s:g} simulated s")
    ref_case = f"memory/go-pacer-{reference_s:g}s-dt{dt_s * 1e3:g}ms"
    ref_params = {"reference_s": reference_s, "dt_s": dt_s, "gogc": 100, "trace_dt_s": 1.0}
    py = time_call(reference_go_final_heap, workload, 100, reference_s, dt_s, warmup=0, repeat=1)
    # The reference returns one number; a thinned trace keeps the engine's output small too.
    nb = time_call(
        simulate, workload, "go", reference_s, dt_s, seed, arrivals="uniform",
        trace_dt_s=min(1.0, reference_s), warmup=1, repeat=3,
    )  # fmt: skip
    agree = abs(py.result - nb.result.trace["heap_mb"][-1]) < 1e-6
    if recorder is not None:
        recorder.record_timing(ref_case, "python", py, params=ref_params)
        recorder.record_timing(ref_case, "numba-go", nb, params=ref_params)
    add(ref_case, "numba-go", "speedup_vs_python", py.median / nb.median, "x",
        {**ref_params, "results_agree": agree})  # fmt: skip
    return pl.DataFrame(rows)
