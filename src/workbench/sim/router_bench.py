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
    loading or compiling the numba kernels, is recorded separately. Seconds are the median
    of the timed repeats (``repeat`` for the engine, ``simpy_repeat`` for SimPy).

    Returns
    -------
    polars.DataFrame
        One row per case and implementation: seconds, simulated requests per second,
        mean wait, Erlang C, relative error, and the speed-up over SimPy.
    """
    rows = []
    for case in cases:
        lam = case.rho * case.c
        ref = erlang_c_wait(case.c, lam, 1.0)
        params = {"c": case.c, "rho": case.rho, "n": case.n, "seed": seed}
        t: Timing = time_call(
            engine_mmc_wait, case.c, lam, 1.0, case.n, seed=seed, warmup=1, repeat=repeat
        )
        wait = t.result
        per_s = case.n / t.median
        if rec is not None:
            rec.record_timing(case.name, "numba-engine", t, params=params)
        _record(rec, case.name, "numba-engine", "requests_per_s", per_s, "1/s", params=params)
        _record(rec, case.name, "numba-engine", "mean_wait", wait, "s", params=params,
                provenance="simulated")  # fmt: skip
        _record(rec, case.name, "erlang-c", "mean_wait", ref, "s", params=params,
                provenance="simulated")  # fmt: skip
        rows.append(dict(case=case.name, implementation="numba-engine", seconds=t.median,
                         first_call_s=t.first_call_s, requests_per_s=per_s, mean_wait_s=wait,
                         erlang_c_wait_s=ref, rel_error=wait / ref - 1))  # fmt: skip
        if with_simpy:
            ts = time_call(
                simpy_mmc_wait, case.c, lam, 1.0, case.n, seed=seed, warmup=0, repeat=simpy_repeat
            )
            swait = ts.result
            sper_s = case.n / ts.median
            if rec is not None:
                rec.record_timing(case.name, "simpy", ts, params=params)
            _record(rec, case.name, "simpy", "requests_per_s", sper_s, "1/s", params=params)
            _record(rec, case.name, "simpy", "mean_wait", swait, "s", params=params,
                    provenance="simulated")  # fmt: skip
            speedup = ts.median / t.median
            _record(rec, case.name, "numba-engine", "speedup_vs_simpy", speedup, "x",
                    params=params)  # fmt: skip
            rows.append(dict(case=case.name, implementation="simpy", seconds=ts.median,
                             first_call_s=ts.first_call_s, requests_per_s=sper_s,
                             mean_wait_s=swait, erlang_c_wait_s=ref,
                             rel_error=swait / ref - 1))  # fmt: skip
            rows[-2]["speedup_vs_simpy"] = speedup
    frame = pl.DataFrame(rows)
    if "speedup_vs_simpy" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("speedup_vs_simpy"))
    return frame
