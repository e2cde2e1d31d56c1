"""Memory/GC simulator: runtime models against closed forms and a naive reference pacer."""

from __future__ import annotations

import itertools
import math

import numpy as np
import polars as pl
import pytest

from workbench.sim.memory import PressureDetector, Workload, diurnal_curve, simulate

MB = 1e6


def _steady(**kw) -> Workload:
    """A workload whose live bytes are almost all the live set (tiny in-flight, no survivors)."""
    base = dict(
        rate_rps=500, alloc_bytes_per_request=20_000, live_set_mb=50.0, request_duration_s=0.01,
        survival_fraction=0.0,
    )  # fmt: skip
    base.update(kw)
    return Workload(**base)


# ------------------------------------------------------------------------- Go pacer


def _naive_go_heap(w: Workload, gogc: float, duration_s: float, dt: float) -> np.ndarray:
    """Go pacer written out plainly: uniform arrivals, collect when heap >= goal."""
    alloc = w.alloc_bytes_per_request / MB
    short = w.rate_rps * alloc * w.request_duration_s  # in flight at t = 0 (survival 0)
    heap = w.live_set_mb + short
    goal = max(heap * (1 + gogc / 100), 4.0 * gogc / 100)
    carry = 0.0
    decay = math.exp(-dt / w.request_duration_s)
    out = []
    for step in range(round(duration_s / dt)):
        x = w.rate_rps * dt + carry
        n = int(x)
        carry = x - n
        short = short * decay + n * alloc
        heap += n * alloc
        if heap >= goal:
            heap = w.live_set_mb + short
            goal = max(heap * (1 + gogc / 100), 4.0 * gogc / 100)
        out.append(heap)
        del step
    return np.array(out)


@pytest.mark.parametrize("gogc", [50, 100, 200])
def test_go_heap_matches_naive_pacer(gogc):
    w = _steady()
    res = simulate(w, "go", duration_s=30, dt_s=0.01, arrivals="uniform", gogc=gogc)
    ref = _naive_go_heap(w, gogc, 30, 0.01)
    np.testing.assert_allclose(res.trace["heap_mb"].to_numpy(), ref, rtol=1e-9)


@pytest.mark.parametrize("gogc", [25, 100, 300])
@pytest.mark.parametrize("arrivals", ["uniform", "poisson"])
def test_go_steady_heap_peak_is_live_times_one_plus_gogc(gogc, arrivals):
    w = _steady()
    res = simulate(w, "go", duration_s=120, dt_s=0.01, arrivals=arrivals, warmup_s=10, gogc=gogc)
    expected = w.steady_live_mb * (1 + gogc / 100)
    assert res.summary()["peak_heap_mb"] == pytest.approx(expected, rel=0.02)
    assert res.summary()["major_gcs"] > 3


def test_go_gogc_off_never_collects_without_limit():
    res = simulate(_steady(), "go", duration_s=20, dt_s=0.01, gogc="off")
    s = res.summary()
    assert s["gc_cycles"] == 0
    # Everything allocated stays in the heap.
    allocated = s["requests"] * 20_000 / MB
    assert res.trace["heap_mb"][-1] == pytest.approx(50.0 + 0.1 + allocated, rel=0.01)


def test_gomemlimit_caps_heap_and_costs_gc_cpu():
    w = _steady(live_set_mb=60.0)
    free = simulate(w, "go", duration_s=120, dt_s=0.01, warmup_s=10, gogc=100).summary()
    limited = simulate(
        w, "go", duration_s=120, dt_s=0.01, warmup_s=10, gogc=100, memlimit_mb=8 + 80
    ).summary()
    step_mb = 500 * 0.01 * 20_000 / MB * 4  # Poisson overshoot allowance (a few steps' worth)
    assert free["peak_heap_mb"] > 115
    assert limited["peak_heap_mb"] <= 80 + step_mb
    assert limited["peak_rss_mb"] <= 88 + step_mb
    assert limited["gc_cpu_fraction"] > 2 * free["gc_cpu_fraction"]
    assert limited["gc_cycles"] > 2 * free["gc_cycles"]


def test_gomemlimit_with_gogc_off_fills_up_to_the_limit():
    w = _steady(live_set_mb=40.0)
    s = simulate(w, "go", duration_s=60, dt_s=0.01, warmup_s=10, gogc="off", memlimit_mb=108)
    assert s.summary()["peak_heap_mb"] == pytest.approx(100.0, rel=0.01)


def test_gc_cpu_limiter_lets_heap_exceed_an_impossible_limit():
    # Limit just above the live set: collections would run back to back; the limiter caps
    # GC CPU near 50% of GOMAXPROCS and the heap goes over the limit instead.
    w = _steady(live_set_mb=200.0, rate_rps=1000)
    res = simulate(
        w, "go", duration_s=60, dt_s=0.01, warmup_s=10, gogc="off", memlimit_mb=8 + 201,
        gomaxprocs=2,
    )  # fmt: skip
    s = res.summary()
    assert s["peak_heap_mb"] > 201 + 1
    assert s["gc_cores"] == pytest.approx(0.5 * 2, rel=0.15)
    assert s["assist_cpu_fraction"] > 0


# ---------------------------------------------------------------------- Rust


def test_rust_peak_is_live_set_plus_in_flight():
    w = _steady(survival_fraction=0.1, survivor_lifetime_s=5.0, request_duration_s=0.2)
    res = simulate(
        w, "rust", duration_s=60, dt_s=0.01, arrivals="uniform", baseline_mb=0.0,
        fragmentation=0.0,
    )  # fmt: skip
    s = res.summary()
    assert s["peak_rss_mb"] == pytest.approx(w.steady_live_mb, rel=0.01)
    assert s["gc_cpu_fraction"] == 0.0 and s["gc_cycles"] == 0


def test_rust_fragmentation_and_baseline_add_up():
    w = _steady()
    s = simulate(
        w, "rust", duration_s=30, dt_s=0.01, arrivals="uniform", baseline_mb=3.0,
        fragmentation=0.2,
    ).summary()  # fmt: skip
    assert s["mean_rss_mb"] == pytest.approx(3.0 + 1.2 * w.steady_live_mb, rel=0.01)


def test_rust_retention_decays_after_a_burst():
    # Traffic stops at t=10 s: jemalloc-like decay returns the memory, glibc-like keeps it.
    w = _steady(request_duration_s=1.0, rate_curve=((0.0, 10.0, 10.01), (1.0, 1.0, 0.0)))
    kept = simulate(w, "rust", 60, 0.01, baseline_mb=0, fragmentation=0, retention_s=math.inf)
    freed = simulate(w, "rust", 60, 0.01, baseline_mb=0, fragmentation=0, retention_s=5.0)
    assert kept.trace["rss_mb"][-1] == pytest.approx(w.steady_live_mb, rel=0.02)
    assert freed.trace["rss_mb"][-1] == pytest.approx(50.0, rel=0.01)


# ------------------------------------------------------------------------ V8


def test_v8_short_lived_garbage_never_reaches_old_generation():
    w = _steady(request_duration_s=0.005)  # every request's bytes die long before a scavenge
    res = simulate(w, "v8", duration_s=60, dt_s=0.01, arrivals="uniform")
    s = res.summary()
    allocated = s["requests"] * 20_000 / MB
    assert s["minor_gcs"] == pytest.approx(allocated / 16.0, abs=2)
    assert s["major_gcs"] == 0
    assert res.trace["goal_mb"].n_unique() == 1  # old-generation limit never recomputed


def test_v8_promotes_after_two_scavenges():
    # Nothing ever dies (and traffic starts from zero, so nothing is preloaded): an object
    # allocated before scavenge k-1 sits in old space after scavenge k, and only those.
    w = _steady(
        live_set_mb=10.0, survival_fraction=1.0, survivor_lifetime_s=1e9,
        rate_curve=((0.0, 1e-3), (0.0, 1.0)),
    )  # fmt: skip
    res = simulate(w, "v8", duration_s=10, dt_s=0.01, arrivals="uniform", growth_factor=100.0,
                   old_min_growth_mb=1e4, max_old_space_mb=1e5)  # fmt: skip
    scav_t = res.events.filter(pl.col("kind") == "scavenge")["t_s"].to_numpy()
    assert scav_t.size >= 4
    tr = res.trace
    step_mb = 500 * 0.01 * 20_000 / MB
    for prev, cur in itertools.pairwise(scav_t):
        row = tr.filter((pl.col("t_s") - cur).abs() < 1e-9).row(0, named=True)
        old = row["heap_mb"] - row["young_mb"]
        allocated_before_prev = 500 * 20_000 / MB * prev
        assert old == pytest.approx(10.0 + allocated_before_prev, abs=step_mb + 1e-6)
    # nothing is lost or duplicated: the heap holds everything ever allocated
    assert tr["heap_mb"][-1] == pytest.approx(10.0 + 500 * 20_000 / MB * 10, abs=step_mb)


def test_v8_oom_exactly_when_old_generation_exceeds_limit():
    leak = 2_000  # bytes per request -> 1 MB/s at 500 req/s
    w = _steady(leak_bytes_per_request=leak)
    limit = 150.0
    res = simulate(w, "v8", duration_s=600, dt_s=0.01, max_old_space_mb=limit)
    s = res.summary()
    assert res.oom and s["time_to_oom_s"] is not None
    mcs = res.events.filter(pl.col("kind") == "mark_compact")
    last = mcs.row(-1, named=True)
    assert last["heap_after_mb"] > limit  # the fatal collection left more live than allowed
    assert (mcs["heap_after_mb"].head(mcs.height - 1) <= limit).all()
    assert last["t_s"] == s["time_to_oom_s"] == res.trace["t_s"][-1]
    # Old live grows at the leak rate (after a two-scavenge promotion delay of ~1 s).
    expected = (limit - 50.0) / (500 * leak / MB)
    assert s["time_to_oom_s"] == pytest.approx(expected, abs=5.0)
    bigger = simulate(w, "v8", duration_s=600, dt_s=0.01, max_old_space_mb=limit + 50)
    assert bigger.summary()["time_to_oom_s"] == pytest.approx(expected + 50.0, abs=5.0)


def test_v8_no_leak_no_oom():
    res = simulate(_steady(), "v8", duration_s=120, dt_s=0.01, max_old_space_mb=60.0)
    assert not res.oom and res.summary()["time_to_oom_s"] is None


# ----------------------------------------------------------- leak and detector


@pytest.mark.parametrize("runtime", ["v8", "go", "rust"])
def test_leak_detector_flags_within_window(runtime):
    # Survivors keep V8's old generation churning: its post-GC floor only moves at
    # mark-compacts, so a leak is visible no faster than they happen.
    w = _steady(
        leak_bytes_per_request=200, leak_start_s=300.0,  # 0.1 MB/s = 360 MB/h
        survival_fraction=0.2, survivor_lifetime_s=5.0,
    )  # fmt: skip
    det = PressureDetector(budget_mb=4096, window_s=120, interval_s=1.0, leak_slope_mb_per_h=60)
    s = simulate(w, runtime, duration_s=600, dt_s=0.01, detector=det).summary()
    assert s["leak_detected_at_s"] is not None
    assert 300.0 < s["leak_detected_at_s"] <= 300.0 + 120.0 + 1.0
    clean = simulate(w.replace(leak_bytes_per_request=0), runtime, 600, 0.01, detector=det)
    assert clean.summary()["leak_detected_at_s"] is None


def test_leak_grows_rss_linearly_at_its_slope():
    w = _steady(leak_bytes_per_request=400)  # 0.2 MB/s
    res = simulate(w, "rust", 600, 0.01, arrivals="uniform", baseline_mb=0, fragmentation=0)
    rss = res.trace["rss_mb"].to_numpy()
    t = res.trace["t_s"].to_numpy()
    slope, intercept = np.polyfit(t, rss, 1)
    assert slope == pytest.approx(w.leak_mb_per_s, rel=0.01)
    assert np.max(np.abs(rss - (slope * t + intercept))) < 0.5  # linear, not curved
    assert res.summary()["rss_slope_mb_per_h"] == pytest.approx(w.leak_mb_per_s * 3600, rel=0.01)


def test_go_leak_grows_rss_at_twice_the_leak_with_gogc_100():
    w = _steady(leak_bytes_per_request=400)
    s = simulate(w, "go", 1200, 0.01, warmup_s=60, gogc=100).summary()
    assert s["rss_slope_mb_per_h"] == pytest.approx(2 * w.leak_mb_per_s * 3600, rel=0.1)


def test_detector_actions_under_pressure():
    w = _steady(live_set_mb=80.0, cache_mb=40.0)
    det = PressureDetector(budget_mb=100.0, cooldown_s=5.0, window_s=30.0)
    without = simulate(w, "go", 120, 0.01, gogc=100)
    with_det = simulate(w, "go", 120, 0.01, gogc=100, detector=det)
    s0, s1 = without.summary(), with_det.summary()
    assert s0["max_pressure_level"] == 0  # no detector: no levels
    assert s1["max_pressure_level"] == 3
    assert s1["forced_collections"] > 0 and s1["cache_shrinks"] > 0 and s1["shed_requests"] > 0
    assert with_det.trace["live_mb"][-1] < without.trace["live_mb"][-1] - 20
    assert s1["mean_rss_mb"] < s0["mean_rss_mb"]


def test_detector_report_only_takes_no_action():
    w = _steady(live_set_mb=80.0, cache_mb=40.0)
    det = PressureDetector(budget_mb=100.0, window_s=30.0, actions=())
    s = simulate(w, "go", 60, 0.01, gogc=100, detector=det).summary()
    assert s["max_pressure_level"] == 3
    assert s["forced_collections"] == s["cache_shrinks"] == s["shed_requests"] == 0


# ------------------------------------------------------------ determinism, API


@pytest.mark.parametrize("runtime", ["v8", "go", "rust"])
def test_same_seed_same_trace(runtime):
    w = _steady(survival_fraction=0.05)
    a = simulate(w, runtime, 30, 0.01, seed=7)
    b = simulate(w, runtime, 30, 0.01, seed=7)
    c = simulate(w, runtime, 30, 0.01, seed=8)
    assert a.trace.equals(b.trace) and a.events.equals(b.events)
    assert not a.trace.equals(c.trace)


def test_trace_schema_and_thinning():
    res = simulate(_steady(), "go", 60, 0.01, trace_dt_s=1.0)
    assert res.trace.height == 60
    for col in ("t_s", "rss_mb", "heap_mb", "live_mb", "gc_cycles", "pressure_level"):
        assert col in res.trace.columns
    assert res.trace["t_s"].to_list()[:2] == pytest.approx([1.0, 2.0])
    # the peak column sees the peak between samples
    assert (res.trace["rss_peak_mb"] >= res.trace["rss_mb"]).all()
    s = res.summary()
    for key in ("peak_rss_mb", "mean_rss_mb", "gc_cpu_fraction", "p99_pause_ms"):
        assert isinstance(s[key], float)


def test_uniform_arrivals_count_and_rate_curve():
    w = _steady(rate_rps=100, rate_curve=diurnal_curve(0.5, period_s=100.0, points=50))
    s = simulate(w, "rust", 100, 0.01, arrivals="uniform").summary()
    assert s["requests"] == pytest.approx(100 * 100, abs=2)  # the cosine averages to 1
    flat = simulate(_steady(rate_rps=100), "rust", 100, 0.01, arrivals="uniform")
    assert flat.summary()["requests"] == pytest.approx(10_000, abs=1)


# ----------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rate_rps": -1}, "rate_rps"),
        ({"alloc_bytes_per_request": -5}, "alloc_bytes_per_request"),
        ({"live_set_mb": float("nan")}, "live_set_mb"),
        ({"request_duration_s": 0}, "request_duration_s"),
        ({"survivor_lifetime_s": -1}, "survivor_lifetime_s"),
        ({"survival_fraction": 1.5}, "survival_fraction"),
        ({"cache_mb": 100}, "cache_mb"),
        ({"rate_curve": ((0, 1), (1,))}, "rate_curve"),
        ({"rate_curve": ((1, 0), (1, 1))}, "increasing"),
    ],
)
def test_workload_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _steady(**kwargs)


def test_workload_type_errors():
    with pytest.raises(TypeError, match="rate_rps"):
        _steady(rate_rps="fast")


@pytest.mark.parametrize(
    ("runtime", "options", "match"),
    [
        ("go", {"gogc": -1}, "gogc"),
        ("go", {"gogc": "on"}, "gogc"),
        ("go", {"memlimit_mb": 40}, "memlimit_mb"),
        ("go", {"memlimit_mb": -5}, "memlimit_mb"),
        ("v8", {"max_old_space_mb": 30}, "max_old_space_mb"),
        ("v8", {"growth_factor": 0.5}, "growth_factor"),
        ("rust", {"fragmentation": -0.1}, "fragmentation"),
        ("jvm", {}, "runtime"),
    ],
)
def test_simulate_rejects_bad_runtime_options(runtime, options, match):
    with pytest.raises(ValueError, match=match):
        simulate(_steady(), runtime, 1, 0.01, **options)


def test_simulate_rejects_bad_arguments():
    w = _steady()
    with pytest.raises(TypeError, match="unknown option"):
        simulate(w, "go", 1, 0.01, semi_space_mb=8)
    with pytest.raises(TypeError, match="workload"):
        simulate({"rate_rps": 1}, "go", 1, 0.01)
    with pytest.raises(ValueError, match="dt_s"):
        simulate(w, "go", 1, 2)
    with pytest.raises(ValueError, match="duration_s"):
        simulate(w, "go", -1, 0.01)
    with pytest.raises(ValueError, match="too coarse"):
        simulate(w.replace(rate_rps=1e6), "v8", 10, 0.01)
    with pytest.raises(TypeError, match="detector"):
        simulate(w, "go", 1, 0.01, detector={"budget_mb": 1})
    with pytest.raises(ValueError, match="arrivals"):
        simulate(w, "go", 1, 0.01, arrivals="bursty")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"budget_mb": 0}, "budget_mb"),
        ({"budget_mb": 100, "warn": 0.9, "high": 0.8}, "thresholds"),
        ({"budget_mb": 100, "window_s": 2}, "window_s"),
        ({"budget_mb": 100, "actions": ("restart",)}, "actions"),
        ({"budget_mb": 100, "shed_fraction": 2}, "shed_fraction"),
    ],
)
def test_detector_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PressureDetector(**kwargs)


@pytest.mark.parametrize("runtime", ["v8", "go", "rust"])
def test_native_memory_adds_to_rss_only(runtime):
    w = _steady()
    a = simulate(w, runtime, 20, 0.01).summary()
    b = simulate(w.replace(native_mb=25.0), runtime, 20, 0.01).summary()
    assert b["mean_rss_mb"] == pytest.approx(a["mean_rss_mb"] + 25.0)
    assert b["peak_heap_mb"] == a["peak_heap_mb"] and b["gc_cycles"] == a["gc_cycles"]


def test_v8_young_generation_never_exceeds_its_semi_space():
    # In-flight bytes far larger than a semi-space (found by hypothesis): the overflow is
    # promoted, so the young generation stays within its committed size and RSS >= heap.
    w = _steady(rate_rps=1319, alloc_bytes_per_request=27_259, live_set_mb=0.0,
                request_duration_s=2.0, survival_fraction=0.0)  # fmt: skip
    res = simulate(w, "v8", duration_s=10, dt_s=0.01)
    tr = res.trace
    step_mb = 1319 * 0.01 * 27_259 / MB * 3  # Poisson allowance
    assert (tr["young_mb"] <= 16.0 + step_mb).all()
    assert (tr["rss_mb"] >= tr["heap_mb"]).all()
    assert res.summary()["major_gcs"] > 0  # the promoted in-flight bytes die in old space


def test_simulate_bounds_the_number_of_steps():
    # 1e21 steps used to reach numba as an int64 overflow (OverflowError, naming nothing)
    with pytest.raises(ValueError, match=r"duration_s / dt_s"):
        simulate(_steady(), "go", duration_s=1e12, dt_s=1e-9)
    with pytest.raises(ValueError, match=r"duration_s / dt_s"):
        simulate(_steady(), "go", duration_s=1e8, dt_s=0.01)


def test_simulate_validates_trace_dt_s():
    w = _steady()
    # longer than the run: the trace used to come back empty without a word
    with pytest.raises(ValueError, match=r"trace_dt_s .* must not exceed duration_s"):
        simulate(w, "go", 1, 0.01, trace_dt_s=2.0)
    # the docstring says a multiple of dt_s; 0.015 used to be rounded silently
    with pytest.raises(ValueError, match=r"trace_dt_s .* must be a multiple of dt_s"):
        simulate(w, "go", 1, 0.01, trace_dt_s=0.015)
    res = simulate(w, "go", 1, 0.01, trace_dt_s=0.03)  # 0.03 / 0.01 is 2.9999999999999996
    assert res.trace.height == 33
    assert simulate(w, "go", 1, 0.01, trace_dt_s=1.0).trace.height == 1
