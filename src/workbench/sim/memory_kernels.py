"""The memory simulator's time-stepped numba engine (private: call ``memory.simulate``).

One kernel steps all three runtimes; the runtime-specific parts are small jitted helpers
over a state vector. Per step: draw arrivals, decay every pool of live bytes by its
exponential survival factor (memoryless lifetimes make this exact for any age mix), add the
step's allocations, let the runtime collect if its trigger fires, let the pressure detector
act at its sampling instants, then accumulate the summary and, every ``rec_every`` steps,
write one trace row. Sizes are MB (1e6 bytes) and times seconds throughout.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from workbench.config import FASTMATH, NUMBA_CACHE
from workbench.sim.memory_detector import (
    D_BUDGET,
    D_COLLECT,
    D_COOLDOWN,
    D_CRITICAL,
    D_HIGH,
    D_INTERVAL,
    D_SHED,
    D_SHED_FRACTION,
    D_SHRINK,
    D_SHRINK_FRACTION,
    D_SLOPE,
    D_WARN,
    D_WINDOW,
)
from workbench.sim.memory_runtimes import (
    R_ALLOC_FACTOR,
    R_BASELINE,
    R_CPU_LIMIT,
    R_CYCLE_FIXED,
    R_FRAG,
    R_GOGC,
    R_GROWTH,
    R_LIVE_FACTOR,
    R_MARK_S_PER_MB,
    R_MAX_OLD,
    R_MC_FIXED,
    R_MC_PAUSE_FRACTION,
    R_MC_S_PER_MB,
    R_MEMLIMIT,
    R_MIN_HEAP,
    R_OLD_MIN_GROWTH,
    R_OLD_SLACK,
    R_PROCS,
    R_RETAIN,
    R_RETENTION,
    R_SCAV_FIXED,
    R_SCAV_RATE,
    R_SCAV_S_PER_MB,
    R_SEMI,
    R_STW,
)

__all__: list[str] = []

V8 = 0
GO = 1
RUST = 2

# Workload vector slots.
W_RATE = 0
W_ALLOC_MB = 1
W_LIVE_MB = 2
W_LEAK_MB = 3
W_DURATION = 4
W_SURVIVAL = 5
W_SURVIVOR_LIFE = 6
W_CACHE_MB = 7
W_CPU = 8
W_LEAK_START = 9
W_NATIVE_MB = 10
N_WORKLOAD_PARAMS = 11

# State slots. Live bytes are kept per class (S short-lived, M survivors, K leaked) and per
# generation (N nursery, I intermediate, O old; Go and Rust use only O); U is the space used
# in a generation, live and garbage.
S_STATIC = 0
S_CACHE = 1
S_SN, S_MN, S_KN, S_UN = 2, 3, 4, 5
S_SI, S_MI, S_KI, S_UI = 6, 7, 8, 9
S_SO, S_MO, S_KO, S_UO = 10, 11, 12, 13
S_GOAL = 14
S_COMMITTED = 15
S_GC_CPU = 16
S_ASSIST = 17
S_LAST_GC_T = 18
S_BUCKET = 19
S_LIMITER = 20
S_CYCLES = 21
S_FLOOR = 22
N_STATE = 23

# Trace columns.
TRACE_COLUMNS = (
    "t_s", "rss_mb", "rss_peak_mb", "heap_mb", "young_mb", "live_mb", "goal_mb", "gc_cycles",
    "gc_cpu_s", "pressure_level",
)  # fmt: skip
T_T, T_RSS, T_RSS_PEAK, T_HEAP, T_YOUNG, T_LIVE, T_GOAL, T_CYCLES, T_GC_CPU, T_LEVEL = range(10)
N_TRACE = len(TRACE_COLUMNS)

# Event columns and kinds.
EVENT_COLUMNS = ("t_s", "kind", "forced", "pause_s", "cpu_s", "heap_before_mb", "heap_after_mb")
N_EVENT = len(EVENT_COLUMNS)
EVENT_KINDS = ("scavenge", "mark_compact", "go_gc", "purge", "oom", "cache_shrink", "leak_alert")
EV_SCAVENGE, EV_MARK_COMPACT, EV_GO_GC, EV_PURGE, EV_OOM, EV_CACHE_SHRINK, EV_LEAK = range(7)

# Summary accumulator slots.
A_PEAK_RSS = 0
A_SUM_RSS = 1
A_PEAK_HEAP = 2
A_SUM_HEAP = 3
A_STEPS = 4
A_GC_CPU = 5
A_MUTATOR_CPU = 6
A_ASSIST = 7
A_REQUESTS = 8
A_SHED = 9
A_OOM_T = 10
A_LEAK_T = 11
A_FORCED = 12
A_MAX_LEVEL = 13
A_SHRINKS = 14
N_ACC = 15

_JIT = {"cache": NUMBA_CACHE, "fastmath": FASTMATH}


@njit(**_JIT)
def _push_event(ev, n, t, kind, forced, pause, cpu, before, after):
    if n >= ev.shape[0]:
        bigger = np.empty((2 * ev.shape[0], N_EVENT))
        bigger[:n] = ev[:n]
        ev = bigger
    ev[n, 0] = t
    ev[n, 1] = kind
    ev[n, 2] = forced
    ev[n, 3] = pause
    ev[n, 4] = cpu
    ev[n, 5] = before
    ev[n, 6] = after
    return ev, n + 1


@njit(**_JIT)
def _pend(pend, k, t, kind, forced, pause, cpu, before, after):
    """Write event row ``k`` of the per-step scratch buffer; return ``k + 1``.

    Runtime helpers write events here instead of growing the event array themselves, so the
    hot path never returns an array (which costs reference counting on every step).
    """
    pend[k, 0] = t
    pend[k, 1] = kind
    pend[k, 2] = forced
    pend[k, 3] = pause
    pend[k, 4] = cpu
    pend[k, 5] = before
    pend[k, 6] = after
    return k + 1


@njit(**_JIT)
def _flush_pending(ev, n_ev, pend, k):
    for i in range(k):
        ev, n_ev = _push_event(
            ev, n_ev, pend[i, 0], pend[i, 1], pend[i, 2], pend[i, 3], pend[i, 4], pend[i, 5],
            pend[i, 6],
        )  # fmt: skip
    return ev, n_ev


@njit(**_JIT)
def _live_total(st):
    return (
        st[S_STATIC]
        + st[S_SN] + st[S_MN] + st[S_KN]
        + st[S_SI] + st[S_MI] + st[S_KI]
        + st[S_SO] + st[S_MO] + st[S_KO]
    )  # fmt: skip


@njit(**_JIT)
def _live_old(st):
    return st[S_STATIC] + st[S_SO] + st[S_MO] + st[S_KO]


# ---------------------------------------------------------------------------------- V8


@njit(**_JIT)
def _v8_old_limit(live_old, rt):
    return min(max(live_old * rt[R_GROWTH], live_old + rt[R_OLD_MIN_GROWTH]), rt[R_MAX_OLD])


@njit(**_JIT)
def _v8_scavenge(st, rt, t, pend, k, forced):
    live_n = st[S_SN] + st[S_MN] + st[S_KN]
    live_i = st[S_SI] + st[S_MI] + st[S_KI]
    before = st[S_UN] + st[S_UI] + st[S_UO]
    # Objects surviving their second scavenge are promoted to the old generation.
    st[S_SO] += st[S_SI]
    st[S_MO] += st[S_MI]
    st[S_KO] += st[S_KI]
    st[S_UO] += live_i
    # Survivors beyond the to-space's capacity are promoted straight away (V8 does the same
    # when to-space overflows), so the young generation never holds more than a semi-space.
    overflow = 0.0
    if live_n > rt[R_SEMI]:
        overflow = (live_n - rt[R_SEMI]) / live_n
        st[S_SO] += overflow * st[S_SN]
        st[S_MO] += overflow * st[S_MN]
        st[S_KO] += overflow * st[S_KN]
        st[S_UO] += overflow * live_n
    st[S_SI] = (1.0 - overflow) * st[S_SN]
    st[S_MI] = (1.0 - overflow) * st[S_MN]
    st[S_KI] = (1.0 - overflow) * st[S_KN]
    st[S_UI] = (1.0 - overflow) * live_n
    st[S_SN] = 0.0
    st[S_MN] = 0.0
    st[S_KN] = 0.0
    st[S_UN] = 0.0
    cpu = rt[R_SCAV_FIXED] + (live_n + live_i) * rt[R_SCAV_S_PER_MB]
    st[S_GC_CPU] += cpu
    st[S_CYCLES] += 1.0
    after = st[S_UI] + st[S_UO]
    return _pend(pend, k, t, EV_SCAVENGE, forced, cpu, cpu, before, after)


@njit(**_JIT)
def _v8_mark_compact(st, rt, t, pend, k, forced):
    """Returns (k, oom)."""
    before = st[S_UO]
    live = _live_old(st)
    marking = live * rt[R_MC_S_PER_MB]
    cpu = rt[R_MC_FIXED] + marking
    pause = rt[R_MC_FIXED] + rt[R_MC_PAUSE_FRACTION] * marking
    st[S_UO] = live
    st[S_GOAL] = _v8_old_limit(live, rt)
    st[S_COMMITTED] = live * (1.0 + rt[R_OLD_SLACK])
    st[S_FLOOR] = live
    st[S_GC_CPU] += cpu
    st[S_CYCLES] += 1.0
    k = _pend(pend, k, t, EV_MARK_COMPACT, forced, pause, cpu, before, live)
    oom = live > rt[R_MAX_OLD]
    if oom:
        k = _pend(pend, k, t, EV_OOM, forced, 0.0, 0.0, live, live)
    return k, oom


@njit(**_JIT)
def _v8_step(st, rt, t, pend, force):
    oom = False
    k = 0
    if force or st[S_UN] + st[S_UI] >= rt[R_SEMI]:
        k = _v8_scavenge(st, rt, t, pend, k, 1.0 if force else 0.0)
        if force or st[S_UO] >= st[S_GOAL]:
            k, oom = _v8_mark_compact(st, rt, t, pend, k, 1.0 if force else 0.0)
    st[S_COMMITTED] = max(st[S_COMMITTED], st[S_UO] * (1.0 + rt[R_OLD_SLACK]))
    return k, oom


# ---------------------------------------------------------------------------------- Go


@njit(**_JIT)
def _go_goal(live, rt):
    gogc = rt[R_GOGC]
    if gogc < 0.0:
        return np.inf
    return max(live * (1.0 + gogc / 100.0), rt[R_MIN_HEAP] * gogc / 100.0)


@njit(**_JIT)
def _go_effective_goal(st, rt):
    return min(st[S_GOAL], rt[R_MEMLIMIT] - rt[R_BASELINE])


@njit(**_JIT)
def _go_collect(st, rt, t, pend, k, forced):
    before = st[S_UO]
    live = _live_old(st)
    cpu = rt[R_CYCLE_FIXED] + live * rt[R_MARK_S_PER_MB]
    # Background mark workers get 25% of GOMAXPROCS; a cycle needing more than they could
    # do since the last one is paid for by allocating goroutines (assists).
    background = 0.25 * rt[R_PROCS] * (t - st[S_LAST_GC_T])
    st[S_ASSIST] += max(0.0, cpu - background)
    st[S_GC_CPU] += cpu
    st[S_CYCLES] += 1.0
    st[S_LAST_GC_T] = t
    st[S_UO] = live
    st[S_FLOOR] = live
    st[S_GOAL] = _go_goal(live, rt)
    return _pend(pend, k, t, EV_GO_GC, forced, 2.0 * rt[R_STW], cpu, before, live)


@njit(**_JIT)
def _go_step(st, rt, t, dt, pend, force):
    k = 0
    gc_before = st[S_GC_CPU]
    heap = st[S_UO]
    limit_heap = rt[R_MEMLIMIT] - rt[R_BASELINE]
    st[S_LIMITER] = 0.0
    if force or heap >= st[S_GOAL]:
        k = _go_collect(st, rt, t, pend, k, 1.0 if force else 0.0)
    elif heap >= limit_heap:
        # GC CPU limiter: a leaky bucket of one second x GOMAXPROCS, drained at the cap.
        # A collection the memory limit asks for but the bucket cannot hold is refused and
        # the heap grows past the limit instead.
        cost = rt[R_CYCLE_FIXED] + _live_old(st) * rt[R_MARK_S_PER_MB]
        if st[S_BUCKET] + cost <= rt[R_PROCS]:
            k = _go_collect(st, rt, t, pend, k, 0.0)
        else:
            st[S_LIMITER] = 1.0
    drain = rt[R_CPU_LIMIT] * rt[R_PROCS] * dt
    st[S_BUCKET] = max(0.0, st[S_BUCKET] + (st[S_GC_CPU] - gc_before) - drain)
    # Scavenger: freed heap stays mapped up to (1 + retain) x goal, then is returned.
    heap = st[S_UO]
    goal = _go_effective_goal(st, rt)
    mapped = max(st[S_COMMITTED], heap)
    keep = heap if math.isinf(goal) else max(heap, (1.0 + rt[R_RETAIN]) * goal)
    if mapped > keep:
        mapped -= min(mapped - keep, rt[R_SCAV_RATE] * dt)
    if mapped > limit_heap:
        mapped = max(heap, limit_heap)
    st[S_COMMITTED] = mapped
    return k


# ---------------------------------------------------------------------------------- Rust


@njit(**_JIT)
def _rust_step(st, rt, t, retain_factor, pend, force):
    k = 0
    live = _live_old(st)
    st[S_UO] = live
    st[S_FLOOR] = live
    target = live * (1.0 + rt[R_FRAG])
    mapped = st[S_COMMITTED]
    if force:
        k = _pend(pend, k, t, EV_PURGE, 1.0, 0.0, 0.0, mapped, target)
        mapped = target
    elif target >= mapped:
        mapped = target
    else:
        mapped = target + (mapped - target) * retain_factor
    st[S_COMMITTED] = mapped
    st[S_GOAL] = target
    return k


# ---------------------------------------------------------------------------------- shared


@njit(**_JIT)
def _rss(runtime, st, rt):
    if runtime == V8:
        return rt[R_BASELINE] + 2.0 * rt[R_SEMI] + st[S_COMMITTED]
    return rt[R_BASELINE] + st[S_COMMITTED]


@njit(**_JIT)
def _heap(runtime, st):
    if runtime == V8:
        return st[S_UN] + st[S_UI] + st[S_UO]
    return st[S_UO]


@njit(**_JIT)
def _goal(runtime, st, rt):
    if runtime == GO:
        return _go_effective_goal(st, rt)
    return st[S_GOAL]


@njit(**_JIT)
def _runtime_step(runtime, st, rt, t, dt, retain_factor, pend, force):
    oom = False
    if runtime == V8:
        k, oom = _v8_step(st, rt, t, pend, force)
    elif runtime == GO:
        k = _go_step(st, rt, t, dt, pend, force)
    else:
        k = _rust_step(st, rt, t, retain_factor, pend, force)
    return k, oom


@njit(**_JIT)
def _ring_slope(ring, n_samples, width, interval):
    """Least-squares slope (per second) of the last ``width`` samples, oldest first."""
    start = n_samples % width
    xm = 0.5 * (width - 1)
    ym = 0.0
    for k in range(width):
        ym += ring[(start + k) % width]
    ym /= width
    sxy = 0.0
    sxx = 0.0
    for k in range(width):
        dx = k - xm
        sxy += dx * (ring[(start + k) % width] - ym)
        sxx += dx * dx
    return sxy / sxx / interval


@njit(**_JIT)
def _rate_multiplier(curve_t, curve_m, t, j):
    """Piecewise-linear rate multiplier at ``t``; ``j`` is a cursor that only moves forward."""
    last = curve_t.shape[0] - 1
    while j < last and curve_t[j + 1] <= t:
        j += 1
    if t <= curve_t[0]:
        return curve_m[0], j
    if j >= last:
        return curve_m[last], j
    w = (t - curve_t[j]) / (curve_t[j + 1] - curve_t[j])
    return curve_m[j] + w * (curve_m[j + 1] - curve_m[j]), j


@njit(**_JIT)
def _init_state(runtime, wl, rt, m0):
    """A service already in steady state: live set loaded, in-flight and survivors present."""
    st = np.zeros(N_STATE)
    live_factor = rt[R_LIVE_FACTOR]
    alloc_mb = wl[W_ALLOC_MB] * rt[R_ALLOC_FACTOR]
    rate0 = wl[W_RATE] * m0
    survival = wl[W_SURVIVAL]
    in_flight = rate0 * alloc_mb * (1.0 - survival) * wl[W_DURATION]
    survivors = rate0 * alloc_mb * survival * wl[W_SURVIVOR_LIFE]
    st[S_STATIC] = wl[W_LIVE_MB] * live_factor
    st[S_CACHE] = wl[W_CACHE_MB] * live_factor
    st[S_MO] = survivors
    if runtime == V8:
        # In-flight bytes beyond half a semi-space would already have been promoted.
        young = min(in_flight, 0.5 * rt[R_SEMI])
        st[S_SN] = young
        st[S_UN] = young
        st[S_SO] = in_flight - young
        st[S_UO] = _live_old(st)
        st[S_GOAL] = _v8_old_limit(st[S_UO], rt)
        st[S_COMMITTED] = st[S_UO] * (1.0 + rt[R_OLD_SLACK])
    else:
        st[S_SO] = in_flight
        st[S_UO] = _live_old(st)
        if runtime == GO:
            st[S_GOAL] = _go_goal(st[S_UO], rt)
            st[S_COMMITTED] = st[S_UO]
        else:
            st[S_COMMITTED] = st[S_UO] * (1.0 + rt[R_FRAG])
    st[S_FLOOR] = _live_total(st)
    return st


@njit(**_JIT)
def _memory_kernel(
    runtime, wl, rt, det, curve_t, curve_m, n_steps, dt, rec_every, warmup_steps, uniform, seed
):
    np.random.seed(seed)
    j = 0
    m0, j = _rate_multiplier(curve_t, curve_m, 0.0, j)
    st = _init_state(runtime, wl, rt, m0)
    trace = np.empty((n_steps // rec_every + 1, N_TRACE))
    ev = np.empty((256, N_EVENT))
    pend = np.empty((8, N_EVENT))
    n_ev = 0
    acc = np.zeros(N_ACC)
    acc[A_OOM_T] = np.nan
    acc[A_LEAK_T] = np.nan

    alloc_mb = wl[W_ALLOC_MB] * rt[R_ALLOC_FACTOR]
    leak_mb = wl[W_LEAK_MB] * rt[R_ALLOC_FACTOR]
    survival = wl[W_SURVIVAL]
    f_short = math.exp(-dt / wl[W_DURATION])
    f_survivor = math.exp(-dt / wl[W_SURVIVOR_LIFE])
    retain_factor = 1.0
    if runtime == RUST and rt[R_RETENTION] < np.inf:
        retain_factor = math.exp(-dt / rt[R_RETENTION]) if rt[R_RETENTION] > 0 else 0.0

    det_on = det.shape[0] > 0
    det_every = 1
    width = 3
    if det_on:
        det_every = max(1, round(det[D_INTERVAL] / dt))
        width = max(3, round(det[D_WINDOW] / det[D_INTERVAL]))
    ring = np.zeros(width)
    n_samples = 0
    level = 0
    shed_on = False
    last_collect = -np.inf
    last_shrink = -np.inf

    det_count = det_every
    rec_count = rec_every
    arrival_carry = 0.0
    shed_carry = 0.0
    rss_peak = 0.0
    n_rec = 0
    done = 0
    for step in range(n_steps):
        t = (step + 1) * dt
        m, j = _rate_multiplier(curve_t, curve_m, t, j)
        lam = wl[W_RATE] * m * dt
        if uniform:
            x = lam + arrival_carry
            n = int(x)  # x >= 0, so truncation is floor
            arrival_carry = x - n
        elif lam > 0.0:
            n = np.random.poisson(lam)
        else:
            n = 0
        if shed_on:
            x = n * det[D_SHED_FRACTION] + shed_carry
            k = int(x)  # x >= 0, so truncation is floor
            shed_carry = x - k
            n -= k
            acc[A_SHED] += k
        a = n * alloc_mb
        leak = n * leak_mb if t > wl[W_LEAK_START] else 0.0

        st[S_SN] *= f_short
        st[S_SI] *= f_short
        st[S_SO] *= f_short
        st[S_MN] *= f_survivor
        st[S_MI] *= f_survivor
        st[S_MO] *= f_survivor
        if runtime == V8:
            st[S_SN] += a * (1.0 - survival)
            st[S_MN] += a * survival
            st[S_KN] += leak
            st[S_UN] += a + leak
        else:
            st[S_SO] += a * (1.0 - survival)
            st[S_MO] += a * survival
            st[S_KO] += leak
            st[S_UO] += a + leak

        gc_before = st[S_GC_CPU]
        assist_before = st[S_ASSIST]
        k, oom = _runtime_step(runtime, st, rt, t, dt, retain_factor, pend, False)
        if k > 0:
            ev, n_ev = _flush_pending(ev, n_ev, pend, k)

        # Countdowns instead of `step % every`: an integer division per step is measurable.
        det_count -= 1
        if det_on and not oom and det_count == 0:
            det_count = det_every
            rss = _rss(runtime, st, rt) + wl[W_NATIVE_MB]
            ring[n_samples % width] = st[S_FLOOR]
            n_samples += 1
            frac = rss / det[D_BUDGET]
            level = 0
            if frac >= det[D_CRITICAL]:
                level = 3
            elif frac >= det[D_HIGH]:
                level = 2
            elif frac >= det[D_WARN]:
                level = 1
            if n_samples >= width:
                slope = _ring_slope(ring, n_samples, width, det[D_INTERVAL])
                if slope > det[D_SLOPE]:
                    level = max(level, 1)
                    if math.isnan(acc[A_LEAK_T]):
                        acc[A_LEAK_T] = t
                        ev, n_ev = _push_event(ev, n_ev, t, EV_LEAK, 0.0, 0.0, 0.0, slope, slope)
            if level >= 2 and det[D_COLLECT] > 0 and t - last_collect >= det[D_COOLDOWN]:
                k, oom = _runtime_step(runtime, st, rt, t, dt, retain_factor, pend, True)
                ev, n_ev = _flush_pending(ev, n_ev, pend, k)
                last_collect = t
                acc[A_FORCED] += 1.0
            if (
                level >= 3
                and det[D_SHRINK] > 0
                and st[S_CACHE] > 0.0
                and t - last_shrink >= det[D_COOLDOWN]
            ):
                drop = det[D_SHRINK_FRACTION] * st[S_CACHE]
                st[S_CACHE] -= drop
                st[S_STATIC] -= drop
                last_shrink = t
                acc[A_SHRINKS] += 1.0
                ev, n_ev = _push_event(ev, n_ev, t, EV_CACHE_SHRINK, 1.0, 0.0, 0.0, drop, drop)
            shed_on = level >= 3 and det[D_SHED] > 0
            acc[A_MAX_LEVEL] = max(acc[A_MAX_LEVEL], float(level))

        rss = _rss(runtime, st, rt) + wl[W_NATIVE_MB]
        heap = _heap(runtime, st)
        rss_peak = max(rss_peak, rss)
        if step >= warmup_steps:
            acc[A_PEAK_RSS] = max(acc[A_PEAK_RSS], rss)
            acc[A_SUM_RSS] += rss
            acc[A_PEAK_HEAP] = max(acc[A_PEAK_HEAP], heap)
            acc[A_SUM_HEAP] += heap
            acc[A_STEPS] += 1.0
            acc[A_GC_CPU] += st[S_GC_CPU] - gc_before
            acc[A_ASSIST] += st[S_ASSIST] - assist_before
            acc[A_MUTATOR_CPU] += n * wl[W_CPU]
            acc[A_REQUESTS] += n
        done = step + 1
        rec_count -= 1
        if oom or rec_count == 0:
            rec_count = rec_every
            trace[n_rec, T_T] = t
            trace[n_rec, T_RSS] = rss
            trace[n_rec, T_RSS_PEAK] = rss_peak
            trace[n_rec, T_HEAP] = heap
            trace[n_rec, T_YOUNG] = st[S_UN] + st[S_UI]
            trace[n_rec, T_LIVE] = _live_total(st)
            trace[n_rec, T_GOAL] = _goal(runtime, st, rt)
            trace[n_rec, T_CYCLES] = st[S_CYCLES]
            trace[n_rec, T_GC_CPU] = st[S_GC_CPU]
            trace[n_rec, T_LEVEL] = level
            n_rec += 1
            rss_peak = 0.0
        if oom:
            acc[A_OOM_T] = t
            break
    return trace[:n_rec], ev[:n_ev], acc, done
