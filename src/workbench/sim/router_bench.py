"""Benchmark grid of the router engine against an equivalent SimPy model of M/M/c.

Both implementations simulate the same M/M/c queue (Poisson arrivals, exponential service,
``c`` servers, FIFO) and are timed on the same answer, the mean wait in queue of the
customers after the warm-up: :func:`engine_mmc_wait` (the engine's public path, records
and full summary included) against :func:`simpy_mmc_wait` (the textbook SimPy program).
Both answers are checked against Erlang C in the same run, and the speed-up is measured
side by side. SimPy is the ``benchmark`` extra.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from workbench.errors import require
from workbench.measure import Timing, time_call
from workbench.results import Recorder
from workbench.sim.queueing import erlang_c_wait
from workbench.sim.router import simulate_mmc

__all__ = ["BenchCase", "bench_grid", "engine_mmc_wait", "run_router_benchmark", "simpy_mmc_wait"]


def engine_mmc_wait(
    c: int,
    arrival_rate: float,
    service_rate: float,
    n_requests: int,
    seed: int = 0,
    warmup_fraction: float = 0.05,
) -> float:
    """Mean wait in queue of an M/M/c queue simulated by the router engine.

    What a user of the engine writes: :func:`~workbench.sim.router.simulate_mmc` (arrival
    generation, the event loop, the per-request polars records) and then
    :meth:`~workbench.sim.router.SimResult.summary` (which also computes the latency
    percentiles, utilisation and Little's law: more than SimPy's mean).

    Examples
    --------
    >>> w = engine_mmc_wait(1, 0.5, 1.0, 2000, seed=1)
    >>> 0.5 < w < 1.5  # M/M/1 at rho 0.5: 1.0
    True
    """
    res = simulate_mmc(
        c, arrival_rate, service_rate, n_requests, seed=seed, warmup_fraction=warmup_fraction
    )
    return res.summary()["mean_wait_s"]


def simpy_mmc_wait(
    c: int,
    arrival_rate: float,
    service_rate: float,
    n_requests: int,
    seed: int = 0,
    warmup_fraction: float = 0.05,
) -> float:
    """Mean wait in queue of an M/M/c queue simulated with SimPy (the reference model).

    The textbook SimPy program: a source process, one process per customer, and a
    ``simpy.Resource`` with ``c`` slots. Customers after the first ``warmup_fraction``
    are averaged, as :func:`~workbench.sim.router.simulate_mmc` does.

    Raises
    ------
    MissingExtraError
        SimPy is not installed (``pip install -e '.[benchmark]'``).

    Examples
    --------
    >>> w = simpy_mmc_wait(1, 0.5, 1.0, 2000, seed=1)
    >>> 0.5 < w < 1.5  # M/M/1 at rho 0.5: 1.0
    True
    """
    simpy = require("simpy", "benchmark", "The SimPy reference model")
    if c < 1 or n_requests < 1 or arrival_rate <= 0 or service_rate <= 0:
        raise ValueError("c, n_requests, arrival_rate and service_rate must be positive")
    rng = random.Random(seed)
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=c)
    waits: list[float] = []

    def customer(env):
        arrived = env.now
        with server.request() as req:
            yield req
            waits.append(env.now - arrived)
            yield env.timeout(rng.expovariate(service_rate))

    def source(env):
        for _ in range(n_requests):
            yield env.timeout(rng.expovariate(arrival_rate))
            env.process(customer(env))

    env.process(source(env))
    env.run()
    # waits are appended in service-start order; FIFO makes that the arrival order
    skip = int(warmup_fraction * n_requests)
    kept = waits[skip:]
    return sum(kept) / len(kept)


@dataclass(frozen=True)
class BenchCase:
    """One grid point: M/M/c with ``c`` servers at utilisation ``rho``, ``n`` customers."""

    c: int
    rho: float
    n: int

    @property
    def name(self) -> str:
        return f"router-mmc/c{self.c}-rho{self.rho:g}-n{self.n}"


def bench_grid(
    sizes: Sequence[int] = (200_000,), cs: Sequence[int] = (4,), rhos: Sequence[float] = (0.9,)
) -> list[BenchCase]:
    """The grid as cases (all combinations).

    Examples
    --------
    >>> [c.name for c in bench_grid((1000,), (1, 4), (0.5,))]
    ['router-mmc/c1-rho0.5-n1000', 'router-mmc/c4-rho0.5-n1000']
    """
    for n in sizes:
        if n < 100:
            raise ValueError(f"sizes must be >= 100, got {n}")
    return [BenchCase(c, r, n) for n in sizes for c in cs for r in rhos]


def _record(rec: Recorder | None, *args: Any, **kw: Any) -> None:
    if rec is not None:
        rec.record(*args, **kw)


def _timed(fn: Any, *args: Any, warmup: int, repeat: int, **kw: Any) -> tuple[Timing, float]:
    """:func:`~workbench.measure.time_call` (wall clock) and the median CPU time of the
    same timed repeats.

    The CPU time of the calling thread is what the call itself costs; on a machine shared
    with other work the wall clock also counts the time spent waiting for the core, for
    both sides alike but not in the same proportion from one run to the next.
    """
    cpu: list[float] = []

    def call(*a: Any, **k: Any) -> Any:
        t0 = time.thread_time()
        out = fn(*a, **k)
        cpu.append(time.thread_time() - t0)
        return out

    t = time_call(call, *args, warmup=warmup, repeat=repeat, **kw)
    return t, statistics.median(cpu[-t.n :])


def _run_side(
    rec: Recorder | None,
    case: BenchCase,
    impl: str,
    fn: Any,
    *,
    seed: int,
    warmup: int,
    repeat: int,
) -> dict[str, Any]:
    """Time one implementation on one case, record its figures, return its table row."""
    lam = case.rho * case.c
    ref = erlang_c_wait(case.c, lam, 1.0)
    params = {"c": case.c, "rho": case.rho, "n": case.n, "seed": seed}
    t, cpu_s = _timed(fn, case.c, lam, 1.0, case.n, seed=seed, warmup=warmup, repeat=repeat)
    wait = float(t.result)
    per_s = case.n / t.median
    if rec is not None:
        rec.record_timing(case.name, impl, t, params=params)
        rec.record(case.name, impl, "cpu_time", cpu_s, "s", params=params)
        rec.record(case.name, impl, "requests_per_s", per_s, "1/s", params=params)
        rec.record(case.name, impl, "requests_per_cpu_s", case.n / cpu_s, "1/s", params=params)
        rec.record(case.name, impl, "mean_wait", wait, "s", params=params, provenance="simulated")
    return dict(
        case=case.name, implementation=impl, seconds=t.median, cpu_s=cpu_s,
        first_call_s=t.first_call_s, requests_per_s=per_s, requests_per_cpu_s=case.n / cpu_s,
        mean_wait_s=wait, erlang_c_wait_s=ref, rel_error=wait / ref - 1,
    )  # fmt: skip


def run_router_benchmark(
    cases: Sequence[BenchCase],
    rec: Recorder | None = None,
    *,
    seed: int = 0,
    repeat: int = 3,
    simpy_repeat: int = 1,
    with_simpy: bool = True,
) -> pl.DataFrame:
    """Time the engine (and SimPy) on each case, check both against Erlang C, record.

    Both sides are timed on the same end-to-end answer, the mean wait after the warm-up:
    :func:`engine_mmc_wait` (arrival generation, event loop, per-request polars records and
    the full summary) and :func:`simpy_mmc_wait`. The engine's first call, which includes
    loading or compiling the numba kernels, is recorded separately; SimPy's first call
    (which imports it) is not timed either. Seconds are the median wall-clock time of the
    timed repeats (``repeat`` for the engine, ``simpy_repeat`` for SimPy) and ``cpu_s``
    the median CPU time of the same repeats.

    Returns
    -------
    polars.DataFrame
        One row per case and implementation: wall and CPU seconds, simulated requests per
        second of each, mean wait, Erlang C, relative error, and the engine's speed-up over
        SimPy in wall-clock and in CPU time.
    """
    rows = []
    for case in cases:
        params = {"c": case.c, "rho": case.rho, "n": case.n, "seed": seed}
        ref = erlang_c_wait(case.c, case.rho * case.c, 1.0)
        _record(rec, case.name, "erlang-c", "mean_wait", ref, "s", params=params,
                provenance="simulated")  # fmt: skip
        engine = _run_side(
            rec, case, "numba-engine", engine_mmc_wait, seed=seed, warmup=1, repeat=repeat
        )
        rows.append(engine)
        if not with_simpy:
            continue
        simpy_row = _run_side(
            rec, case, "simpy", simpy_mmc_wait, seed=seed, warmup=0, repeat=simpy_repeat
        )
        engine["speedup_vs_simpy"] = simpy_row["seconds"] / engine["seconds"]
        engine["speedup_vs_simpy_cpu"] = simpy_row["cpu_s"] / engine["cpu_s"]
        for metric in ("speedup_vs_simpy", "speedup_vs_simpy_cpu"):
            _record(rec, case.name, "numba-engine", metric, engine[metric], "x", params=params)
        rows.append(simpy_row)
    frame = pl.DataFrame(rows)
    for col in ("speedup_vs_simpy", "speedup_vs_simpy_cpu"):
        if col not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias(col))
    return frame
