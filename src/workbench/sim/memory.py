"""Memory/GC simulator: one service's allocation stream through V8, Go and Rust side by side.

The migration plan's memory table (1,050 MB today -> 175 MB Go + 210 MB Rust) and its
"memory leaks in long-running services" are claims about how runtimes turn allocations into
resident memory. This module makes that an explicit model an analyst can question:

* a :class:`Workload` says what the service does to its heap (rate, bytes per request,
  lifetimes, live set, leak) independently of the language;
* a runtime model (:mod:`workbench.sim.memory_runtimes`) says what that costs: V8's
  generational heap, Go's pacer with ``GOGC``/``GOMEMLIMIT``, or deterministic freeing with
  allocator retention;
* an optional :class:`PressureDetector` plays the plan's memory-core (pressure levels, leak
  trend, forced collections, cache shrink, load shedding);
* :func:`simulate` steps it all in a numba kernel and returns a :class:`MemoryResult` with a
  polars trace, the GC events and a summary.

Calibration to the plan's table lives in :mod:`workbench.sim.memory_calibration`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from workbench.sim.memory_detector import ACTIONS, PressureDetector
from workbench.sim.memory_kernels import (
    A_ASSIST,
    A_FORCED,
    A_GC_CPU,
    A_LEAK_T,
    A_MAX_LEVEL,
    A_MUTATOR_CPU,
    A_OOM_T,
    A_PEAK_HEAP,
    A_PEAK_RSS,
    A_REQUESTS,
    A_SHED,
    A_SHRINKS,
    A_STEPS,
    A_SUM_HEAP,
    A_SUM_RSS,
    EVENT_COLUMNS,
    EVENT_KINDS,
    N_WORKLOAD_PARAMS,
    TRACE_COLUMNS,
    W_ALLOC_MB,
    W_CACHE_MB,
    W_CPU,
    W_DURATION,
    W_LEAK_MB,
    W_LEAK_START,
    W_LIVE_MB,
    W_NATIVE_MB,
    W_RATE,
    W_SURVIVAL,
    W_SURVIVOR_LIFE,
    _memory_kernel,
)
from workbench.sim.memory_runtimes import (
    RUNTIMES,
    GoOptions,
    RustOptions,
    V8Options,
    runtime_options,
)
from workbench.sim.memory_workload import Workload, _check_number, diurnal_curve

__all__ = [
    "ACTIONS",
    "RUNTIMES",
    "GoOptions",
    "MemoryResult",
    "PressureDetector",
    "RustOptions",
    "V8Options",
    "Workload",
    "compare_runtimes",
    "diurnal_curve",
    "simulate",
    "summary_table",
]

_MB = 1e6
# Above this many steps the trace is thinned to about _TRACE_ROWS rows unless asked otherwise.
_FULL_TRACE_STEPS = 200_000
_TRACE_ROWS = 100_000
# duration_s / dt_s above this is refused: hours of CPU, and beyond int64 a numba overflow.
_MAX_STEPS = 10**9
_GC_KINDS = ("scavenge", "mark_compact", "go_gc")
_MAJOR_KINDS = ("mark_compact", "go_gc")


@dataclass(frozen=True)
class MemoryResult:
    """What :func:`simulate` returns.

    Attributes
    ----------
    trace : polars.DataFrame
        One row per trace interval: ``t_s``, ``rss_mb`` (at the sample instant),
        ``rss_peak_mb`` (peak since the previous row), ``heap_mb`` (bytes in the heap, live
        and not yet collected; for Rust, allocated bytes), ``young_mb`` (V8's young
        generation, nursery and intermediate; 0 elsewhere), ``live_mb`` (reachable bytes),
        ``goal_mb`` (V8 old-generation limit, Go effective heap goal, Rust live x
        (1 + fragmentation)), ``gc_cycles`` and ``gc_cpu_s`` (cumulative), ``pressure_level``.
    events : polars.DataFrame
        One row per collection, purge, cache shrink, leak alert or OOM: ``t_s``, ``kind``,
        ``forced``, ``pause_s``, ``cpu_s``, ``heap_before_mb``, ``heap_after_mb``.
    """

    runtime: str
    workload: Workload
    options: V8Options | GoOptions | RustOptions
    detector: PressureDetector | None
    duration_s: float
    dt_s: float
    seed: int
    warmup_s: float
    trace: pl.DataFrame
    events: pl.DataFrame
    steps_done: int
    _acc: np.ndarray = field(repr=False)

    @property
    def oom(self) -> bool:
        """Whether the run ended in an out-of-memory event."""
        return not math.isnan(self._acc[A_OOM_T])

    def summary(self) -> dict[str, Any]:
        """Figures over the run after ``warmup_s``.

        Returns
        -------
        dict
            ``peak_rss_mb``, ``mean_rss_mb``, ``peak_heap_mb``, ``mean_heap_mb``,
            ``gc_cpu_fraction`` (GC CPU / (GC + mutator CPU)), ``gc_cpu_s``, ``gc_cores``
            (GC CPU per simulated second), ``assist_cpu_fraction``, ``gc_cycles``,
            ``minor_gcs``, ``major_gcs``, ``p99_pause_ms``, ``max_pause_ms``,
            ``time_to_oom_s`` (None without OOM), ``leak_detected_at_s`` (None if never),
            ``forced_collections``, ``cache_shrinks``, ``shed_requests``, ``requests``,
            ``max_pressure_level``, ``rss_slope_mb_per_h`` (least-squares slope of the trace),
            ``simulated_s``.
        """
        acc = self._acc
        steps = acc[A_STEPS]
        gc = float(acc[A_GC_CPU])
        mutator = float(acc[A_MUTATOR_CPU])
        cpu = gc + mutator
        measured_s = steps * self.dt_s
        ev = self.events.filter(pl.col("t_s") > self.warmup_s)
        gcs = ev.filter(pl.col("kind").is_in(_GC_KINDS))
        pauses = gcs["pause_s"].to_numpy()
        tr = self.trace.filter(pl.col("t_s") > self.warmup_s)
        slope = math.nan
        if tr.height >= 2:
            slope = float(np.polyfit(tr["t_s"].to_numpy(), tr["rss_mb"].to_numpy(), 1)[0]) * 3600
        return {
            "runtime": self.runtime,
            "peak_rss_mb": float(acc[A_PEAK_RSS]),
            "mean_rss_mb": float(acc[A_SUM_RSS] / steps) if steps else math.nan,
            "peak_heap_mb": float(acc[A_PEAK_HEAP]),
            "mean_heap_mb": float(acc[A_SUM_HEAP] / steps) if steps else math.nan,
            "gc_cpu_fraction": gc / cpu if cpu > 0 else 0.0,
            "gc_cpu_s": gc,
            "gc_cores": float(gc / measured_s) if measured_s > 0 else 0.0,
            "assist_cpu_fraction": float(acc[A_ASSIST]) / cpu if cpu > 0 else 0.0,
            "gc_cycles": gcs.height,
            "minor_gcs": gcs.filter(pl.col("kind") == "scavenge").height,
            "major_gcs": gcs.filter(pl.col("kind").is_in(_MAJOR_KINDS)).height,
            "p99_pause_ms": float(np.percentile(pauses, 99) * 1e3) if pauses.size else 0.0,
            "max_pause_ms": float(pauses.max() * 1e3) if pauses.size else 0.0,
            "time_to_oom_s": None if not self.oom else float(acc[A_OOM_T]),
            "leak_detected_at_s": (None if math.isnan(acc[A_LEAK_T]) else float(acc[A_LEAK_T])),
            "forced_collections": int(acc[A_FORCED]),
            "cache_shrinks": int(acc[A_SHRINKS]),
            "shed_requests": int(acc[A_SHED]),
            "requests": int(acc[A_REQUESTS]),
            "max_pressure_level": int(acc[A_MAX_LEVEL]),
            "rss_slope_mb_per_h": slope,
            "simulated_s": self.steps_done * self.dt_s,
        }

    def params(self) -> dict[str, Any]:
        """Everything that determined this result, JSON-friendly (for ``provenance=simulated``)."""
        return {
            "runtime": self.runtime,
            "workload": self.workload.params(),
            "options": self.options.params(),
            "detector": None if self.detector is None else self.detector.params(),
            "duration_s": self.duration_s,
            "dt_s": self.dt_s,
            "seed": self.seed,
            "warmup_s": self.warmup_s,
        }


def _workload_vector(w: Workload) -> np.ndarray:
    v = np.zeros(N_WORKLOAD_PARAMS)
    v[W_RATE] = w.rate_rps
    v[W_ALLOC_MB] = w.alloc_bytes_per_request / _MB
    v[W_LIVE_MB] = w.live_set_mb
    v[W_LEAK_MB] = w.leak_bytes_per_request / _MB
    v[W_DURATION] = w.request_duration_s
    v[W_SURVIVAL] = w.survival_fraction
    v[W_SURVIVOR_LIFE] = w.survivor_lifetime_s
    v[W_CACHE_MB] = w.cache_mb
    v[W_CPU] = w.cpu_s_per_request
    v[W_LEAK_START] = w.leak_start_s
    v[W_NATIVE_MB] = w.native_mb
    return v


def simulate(
    workload: Workload,
    runtime: str = "v8",
    duration_s: float = 600.0,
    dt_s: float = 0.01,
    seed: int = 0,
    *,
    detector: PressureDetector | None = None,
    warmup_s: float = 0.0,
    trace_dt_s: float | None = None,
    arrivals: str = "poisson",
    **runtime_options_: Any,
) -> MemoryResult:
    """Simulate one service's memory under one runtime.

    Parameters
    ----------
    workload : Workload
        The service's allocation behaviour.
    runtime : {"v8", "go", "rust"}
        Runtime model.
    duration_s, dt_s : float
        Simulated time and step. A step should be much shorter than request lifetimes and
        (for V8) allocate well under one semi-space.
    seed : int
        Seed of the Poisson arrivals; the same seed gives the same trace, and the same
        arrival stream for every runtime.
    detector : PressureDetector, optional
        Run with the memory-pressure detector and its actions.
    warmup_s : float
        Leave the first ``warmup_s`` out of the summary.
    trace_dt_s : float, optional
        Trace row interval (a multiple of ``dt_s``). Default: every step up to 200,000 steps,
        otherwise about 100,000 rows.
    arrivals : {"poisson", "uniform"}
        Poisson arrivals, or exactly ``rate x dt`` per step (fractional parts carried over),
        for tests against closed forms.
    **runtime_options_
        Options of the runtime: see :class:`V8Options`, :class:`GoOptions` (``gogc``,
        ``memlimit_mb``, ...) and :class:`RustOptions`.

    Returns
    -------
    MemoryResult
        ``.trace``, ``.events`` and ``.summary()``.

    Raises
    ------
    TypeError
        ``workload`` is not a :class:`Workload`, ``detector`` not a
        :class:`PressureDetector`, or an option the runtime does not have.
    ValueError
        Unknown runtime; non-positive ``duration_s`` or ``dt_s``; ``dt_s`` longer than
        ``duration_s`` or too coarse for V8's semi-space; more than 10**9 steps
        (``duration_s / dt_s``); ``trace_dt_s`` not a multiple of ``dt_s`` or longer than
        ``duration_s``; invalid runtime options (``gogc`` < 0
        other than ``"off"``, a memory limit below the live set, ...).

    Examples
    --------
    >>> w = Workload(rate_rps=200, alloc_bytes_per_request=20_000, live_set_mb=30)
    >>> s = simulate(w, "go", duration_s=60, dt_s=0.01, gogc=100).summary()
    >>> 60 < s["peak_rss_mb"] < 80
    True

    Notes
    -----
    Time-stepped: O(duration_s / dt_s) time, plus O(W) per detector sample for a trend
    window of W samples; O(trace rows + GC events) memory. Collections happen at step
    boundaries, so a heap may overshoot its trigger by at most one step's allocation.
    """
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a Workload, got {type(workload).__name__}")
    opts = runtime_options(runtime, **runtime_options_)
    opts.check_against(workload)
    duration_s = _check_number("duration_s", duration_s, strict=True)
    dt_s = _check_number("dt_s", dt_s, strict=True)
    if dt_s > duration_s:
        raise ValueError(f"dt_s ({dt_s:g}) must not exceed duration_s ({duration_s:g})")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    warmup_s = _check_number("warmup_s", warmup_s)
    if warmup_s >= duration_s:
        raise ValueError(f"warmup_s ({warmup_s:g}) must be below duration_s ({duration_s:g})")
    if arrivals not in ("poisson", "uniform"):
        raise ValueError(f"arrivals must be 'poisson' or 'uniform', got {arrivals!r}")
    if detector is not None:
        if not isinstance(detector, PressureDetector):
            raise TypeError(
                f"detector must be a PressureDetector or None, got {type(detector).__name__}"
            )
        if detector.interval_s < dt_s:
            raise ValueError(
                f"detector.interval_s ({detector.interval_s:g}) must be >= dt_s ({dt_s:g})"
            )
    ratio = duration_s / dt_s
    if not ratio <= _MAX_STEPS:
        raise ValueError(
            f"duration_s / dt_s ({duration_s:g} / {dt_s:g}) asks for {ratio:.3g} steps, "
            f"more than {_MAX_STEPS:.0e}: raise dt_s or shorten duration_s"
        )
    n_steps = round(ratio)
    if trace_dt_s is None:
        rec_every = 1 if n_steps <= _FULL_TRACE_STEPS else math.ceil(n_steps / _TRACE_ROWS)
    else:
        trace_dt_s = _check_number("trace_dt_s", trace_dt_s, strict=True)
        if trace_dt_s < dt_s:
            raise ValueError(f"trace_dt_s ({trace_dt_s:g}) must be >= dt_s ({dt_s:g})")
        if trace_dt_s > duration_s:
            raise ValueError(
                f"trace_dt_s ({trace_dt_s:g}) must not exceed duration_s ({duration_s:g}): "
                "the trace would be empty"
            )
        rec_every = round(trace_dt_s / dt_s)
        if abs(trace_dt_s / dt_s - rec_every) > 1e-6 * rec_every:
            raise ValueError(f"trace_dt_s ({trace_dt_s:g}) must be a multiple of dt_s ({dt_s:g})")
    curve_t, curve_m = workload.curve_arrays()
    if isinstance(opts, V8Options):
        per_step_mb = (
            workload.rate_rps * float(curve_m.max()) * dt_s
            * workload.alloc_bytes_per_request * opts.alloc_factor / _MB
        )  # fmt: skip
        if per_step_mb > 0.25 * opts.semi_space_mb:
            raise ValueError(
                f"dt_s ({dt_s:g}) too coarse for V8: one step allocates {per_step_mb:.3g} MB, "
                f"more than a quarter of semi_space_mb ({opts.semi_space_mb:g})"
            )
    det = np.zeros(0) if detector is None else detector.vector()
    trace, ev, acc, done = _memory_kernel(
        opts.code, _workload_vector(workload), opts.vector(), det, curve_t, curve_m,
        n_steps, dt_s, rec_every, round(warmup_s / dt_s), arrivals == "uniform", int(seed),
    )  # fmt: skip
    trace_df = pl.DataFrame(
        {name: trace[:, k] for k, name in enumerate(TRACE_COLUMNS)}
    ).with_columns(pl.col("gc_cycles", "pressure_level").cast(pl.Int64))
    events_df = pl.DataFrame({name: ev[:, k] for k, name in enumerate(EVENT_COLUMNS)})
    kinds = pl.Series("kind", [EVENT_KINDS[int(k)] for k in ev[:, 1]], dtype=pl.String)
    events_df = events_df.with_columns(kinds, pl.col("forced").cast(pl.Boolean))
    return MemoryResult(
        runtime=runtime,
        workload=workload,
        options=opts,
        detector=detector,
        duration_s=duration_s,
        dt_s=dt_s,
        seed=int(seed),
        warmup_s=warmup_s,
        trace=trace_df,
        events=events_df,
        steps_done=int(done),
        _acc=acc,
    )


def compare_runtimes(
    workload: Workload,
    runtimes: Iterable[str] = ("v8", "go", "rust"),
    duration_s: float = 600.0,
    dt_s: float = 0.01,
    seed: int = 0,
    *,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    detector: PressureDetector | None = None,
    warmup_s: float = 0.0,
    trace_dt_s: float | None = None,
) -> dict[str, MemoryResult]:
    """The same allocation stream (same seed) through several runtimes.

    Parameters
    ----------
    options : mapping, optional
        Runtime name -> its options, e.g. ``{"go": {"gogc": 50}}``.

    Other parameters are those of :func:`simulate`.

    Returns
    -------
    dict
        Runtime name -> :class:`MemoryResult`, in the order given.

    Examples
    --------
    >>> w = Workload(100, 10_000, 20.0)
    >>> res = compare_runtimes(w, duration_s=10, dt_s=0.01)
    >>> list(res)
    ['v8', 'go', 'rust']
    """
    options = dict(options or {})
    runtimes = list(runtimes)
    unknown = sorted(set(options) - set(runtimes))
    if unknown:
        raise ValueError(f"options given for runtimes not simulated: {unknown}")
    return {
        rt: simulate(
            workload,
            rt,
            duration_s,
            dt_s,
            seed,
            detector=detector,
            warmup_s=warmup_s,
            trace_dt_s=trace_dt_s,
            **dict(options.get(rt, {})),
        )
        for rt in runtimes
    }


def summary_table(results: Mapping[str, MemoryResult] | Iterable[MemoryResult]) -> pl.DataFrame:
    """Summaries as one polars table, one row per result (with the workload's name).

    Examples
    --------
    >>> w = Workload(100, 10_000, 20.0, name="demo")
    >>> summary_table(compare_runtimes(w, duration_s=5)).select("service", "runtime").row(0)
    ('demo', 'v8')
    """
    items = results.values() if isinstance(results, Mapping) else results
    rows = [{"service": r.workload.name, **r.summary()} for r in items]
    return pl.DataFrame(rows, infer_schema_length=None)
