"""Discrete-event simulator of an LLM router in front of several providers.

The event loop is one numba kernel. Requests arrive from a
:class:`~workbench.sim.workload.Workload`, pass the router itself (``router_workers``
servers, each request costing ``overhead_s`` of router time: the interpreted vs compiled
runtime difference the migration plan bets on), are routed by the shared policies of
:mod:`workbench.sim.policies`, wait in the chosen provider's FIFO queue for a concurrency
slot, and are answered with success, error, timeout or 429. Failed attempts are retried
with exponential backoff and jitter, on another provider when ``fallback`` is on, until
``max_attempts``.

Determinism: the event heap orders by (time, priority, sequence number), as SimPy does.
At equal times completions come first (they free slots), then router hand-offs, then
retries, then new arrivals; equal (time, priority) pairs keep insertion order. Random
numbers come from three independent SplitMix64 streams (arrivals and tokens, routing,
service) derived from ``seed``.

Entry points: :func:`simulate` for the general model, :func:`simulate_mmc` for the M/M/c,
M/D/c and M/G/c (lognormal) special cases used to validate the engine against
:mod:`workbench.sim.queueing`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from numba import njit
from numba.core import cgutils
from numba.extending import intrinsic

from workbench.config import FASTMATH, NUMBA_CACHE
from workbench.sim import policies as pol
from workbench.sim.distributions import DET, EXP, LOGNORMAL, Dist, encode
from workbench.sim.providers import Provider
from workbench.sim.rng import new_ctx
from workbench.sim.rng import uniform_from_state as _u01
from workbench.sim.workload import Arrivals, Workload, stream_seed

__all__ = ["STATUSES", "SimResult", "simulate", "simulate_mmc"]

#: Final status of a request (the outcome of its last attempt, or ``no_provider``).
STATUSES = ("ok", "error", "timeout", "rate_limited", "no_provider")
_NO_PROVIDER = 4

_EV_COMPLETE, _EV_ROUTED, _EV_RETRY, _PRIO_ARRIVAL = 0, 1, 2, 3

# Slots of the kernel's statistics vector.
_ST_AREA_SYSTEM, _ST_AREA_WAIT, _ST_HORIZON, _ST_EVENTS, _ST_N_BREAKER, _ST_N_ATTEMPTS = range(6)
_N_STATS = 6


# ---------------------------------------------------------------------------- scalar helpers
# The kernel's hot loop calls no engine helper that takes an array: numba brackets such
# calls (and IR-inlined bodies) with atomic reference-count updates that its pruning pass
# does not remove in a function this large. Counted with gdb on NRT_incref/NRT_decref: ~50
# atomic updates per event with helper functions for the heap and the samplers, 16 without
# (those left surround the shared policy calls, and are made no-ops by _borrow below);
# kernel throughput doubled. So the event heap is written out in the loop and the
# service-time generator keeps its state in a local scalar.
@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _earlier(t1, p1, s1, t2, p2, s2):
    """Event order of the heap: time, then priority, then sequence (deterministic ties).
    Takes the entries' scalars, not the heap arrays, for the reason above."""
    return t1 < t2 or (t1 == t2 and (p1 < p2 or (p1 == p2 and s1 < s2)))


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _draw(kind, a, b, state):
    """One draw of an encoded distribution row (see DistTable) from a scalar state.

    Returns (state, value, index): for an empirical row ``value`` is NaN and the caller
    reads ``values[index]``; otherwise ``index`` is -1.
    """
    if kind == DET:
        return state, a, -1
    state, u = _u01(state)
    if kind == EXP:
        return state, -a * math.log(1.0 - u), -1
    if kind == LOGNORMAL:
        state, u2 = _u01(state)
        z = math.sqrt(-2.0 * math.log(1.0 - u)) * math.cos(2.0 * math.pi * u2)
        return state, math.exp(a + b * z), -1
    n = int(b)
    j = min(int(u * n), n - 1)  # u * n == n only by rounding
    return state, math.nan, int(a) + j


@intrinsic
def _borrow(typingctx, arr):
    """A view of ``arr`` without a meminfo, for the shared policy calls in the hot loop.

    The policy functions are separate compiled functions taking arrays: each call
    increments and decrements the reference counts of ``state``, ``ctx`` and ``cfg``, with
    atomic instructions (12 around choose_provider and 4 around on_result per M/M/c
    request: perf put 30% of the benchmark's samples on them; the kernel's CPU time fell
    from 32 to 24 ms at 200,000 requests). NRT skips a null meminfo, so on a view without
    one those updates are no-ops. Safe because the kernel's own arguments keep the data
    alive for the whole call and no policy function keeps a reference.
    """

    def codegen(context, builder, sig, args):
        view = context.make_array(sig.args[0])(context, builder, value=args[0])
        view.meminfo = cgutils.get_null_value(view.meminfo.type)
        view.parent = cgutils.get_null_value(view.parent.type)
        return view._getvalue()

    return arr(arr), codegen


# ---------------------------------------------------------------------------- the engine
@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _simulate_kernel(
    arr_t, prompt, comp,
    slots, err_p, to_p, rpm, tpm, cost_1k, rate_window, o_off, o_start, o_end,
    dkind, dp, dvals,
    policy_id, state, rctx, cfg,
    router_workers, warmup_s, sctx,
    start_s, first_s, end_s, prov, attempts, status, cost,
    busy_area, stats,
    log_attempts, a_req, a_prov, a_send, a_end, a_out,
    b_t, b_prov, b_state,
):  # fmt: skip
    n = arr_t.shape[0]
    P = slots.shape[0]
    R = P  # index of the router's own queue in the queue arrays
    timeout = cfg[pol.CFG_ATTEMPT_TIMEOUT_S]
    max_att = int(cfg[pol.CFG_MAX_ATTEMPTS])
    fallback = cfg[pol.CFG_FALLBACK] > 0.0
    track_breaker = cfg[pol.CFG_BREAKER_FAILURES] > 0.0
    use_router = dkind[3 * P] != 0 or dp[3 * P, 0] > 0.0
    any_outage = o_off[P] > 0
    state = _borrow(state)  # no reference counting around the policy calls
    rctx = _borrow(rctx)
    cfg = _borrow(cfg)
    any_limit = False
    any_fail = False
    for p in range(P):
        if rpm[p] > 0.0 or tpm[p] > 0.0:
            any_limit = True
        if err_p[p] > 0.0 or to_p[p] > 0.0:
            any_fail = True

    # Capacity n + 1 suffices (at most one pending event per request); np.empty touches no
    # memory. Each iteration schedules at most two events: they wait in scalars (pend_*)
    # and enter the heap at the end of the iteration, in program order.
    ht = np.empty(n + 1)
    hp = np.empty(n + 1, dtype=np.int64)
    hs = np.empty(n + 1, dtype=np.int64)
    hr = np.empty(n + 1, dtype=np.int64)
    nh = 0
    seq = 0
    sst = sctx[0]  # service-time generator state, kept in a register

    # Per-request scratch is written before it is read (qnext on enqueue, send_t on send,
    # excl on arrival and on failure), so np.empty: untouched pages cost nothing. The
    # provider of the attempt in flight is prov[r] and its outcome status[r], which the
    # records need anyway. Without retries every request has one attempt, sent at
    # start_s[r] to any provider: send_t and excl are not needed (7% of the kernel's time).
    retries = max_att > 1
    qnext = np.empty(n, dtype=np.int64)
    qhead = np.full(P + 1, -1, dtype=np.int64)
    qtail = np.full(P + 1, -1, dtype=np.int64)
    busy = np.zeros(P + 1, dtype=np.int64)
    last_change = np.zeros(P)
    send_t = np.empty(n if retries else 1)
    excl = np.empty(n if retries else 1, dtype=np.int64)
    win_idx = np.full(P, -1, dtype=np.int64)
    win_req = np.zeros(P)
    win_tok = np.zeros(P)
    bk_prev = np.zeros(P)
    n_b = 0
    n_att = 0

    n_sys = 0
    n_wait = 0
    area_sys = 0.0
    area_wait = 0.0
    t_last = 0.0
    events = 0
    i_arr = 0

    while True:
        # next event: heap top or next arrival, whichever sorts first
        take_heap = False
        if nh > 0:
            t_arr = arr_t[i_arr] if i_arr < n else np.inf
            take_heap = ht[0] < t_arr or (ht[0] == t_arr and hp[0] < _PRIO_ARRIVAL)
        elif i_arr >= n:
            break
        if take_heap:
            now = ht[0]
            kind = hp[0]
            r = hr[0]
            nh -= 1
            if nh > 0:
                ht[0] = ht[nh]
                hp[0] = hp[nh]
                hs[0] = hs[nh]
                hr[0] = hr[nh]
                i = 0
                while True:
                    c = 2 * i + 1
                    if c >= nh:
                        break
                    c2 = c + 1
                    if c2 < nh and _earlier(ht[c2], hp[c2], hs[c2], ht[c], hp[c], hs[c]):
                        c = c2
                    if _earlier(ht[c], hp[c], hs[c], ht[i], hp[i], hs[i]):
                        ht[i], ht[c] = ht[c], ht[i]
                        hp[i], hp[c] = hp[c], hp[i]
                        hs[i], hs[c] = hs[c], hs[i]
                        hr[i], hr[c] = hr[c], hr[i]
                        i = c
                    else:
                        break
        else:
            now = arr_t[i_arr]
            kind = _PRIO_ARRIVAL
            r = i_arr
            i_arr += 1
        events += 1
        n_pend = 0
        pt0 = 0.0
        pk0 = 0
        pr0 = 0
        pt1 = 0.0
        pk1 = 0
        pr1 = 0
        dt = now - t_last
        area_sys += n_sys * dt
        area_wait += n_wait * dt
        t_last = now

        # -- phase 1: turn the event into "route request r now" (route_r >= 0) or finish it
        route_r = -1
        if kind == _PRIO_ARRIVAL:
            n_sys += 1
            n_wait += 1
            # the record arrays come uninitialised: a request's fields are set when it
            # arrives (one pass over fresh memory instead of a fill and then the writes)
            start_s[r] = math.nan
            first_s[r] = math.nan
            prov[r] = -1
            attempts[r] = 0
            cost[r] = 0.0
            if retries:
                excl[r] = -1
            route_r = r
        elif kind == _EV_RETRY:
            route_r = r
        elif kind == _EV_ROUTED:
            busy[R] -= 1
            if qhead[R] >= 0:
                r2 = qhead[R]
                qhead[R] = qnext[r2]
                if qhead[R] < 0:
                    qtail[R] = -1
                busy[R] += 1
                sst, d, j = _draw(dkind[3 * P], dp[3 * P, 0], dp[3 * P, 1], sst)
                if j >= 0:
                    d = dvals[j]
                if n_pend == 0:
                    pt0, pk0, pr0 = now + d, _EV_ROUTED, r2
                else:
                    pt1, pk1, pr1 = now + d, _EV_ROUTED, r2
                n_pend += 1
        else:  # _EV_COMPLETE
            p = prov[r]
            t0 = max(last_change[p], warmup_s)
            if now > t0:
                busy_area[p] += busy[p] * (now - t0)
            last_change[p] = now
            busy[p] -= 1
            out = status[r]  # the outcome drawn when the attempt was sent
            t_sent = send_t[r] if retries else start_s[r]
            pol.on_result(state, p, out, now - t_sent, now, cfg)
            if log_attempts:
                a_req[n_att] = r
                a_prov[n_att] = p
                a_send[n_att] = t_sent
                a_end[n_att] = now
                a_out[n_att] = out
            n_att += 1
            if out == pol.OUTCOME_OK:
                end_s[r] = now
                cost[r] = (prompt[r] + comp[r]) * 0.001 * cost_1k[p]
                n_sys -= 1
            elif attempts[r] < max_att:
                excl[r] = p if fallback else -1
                d = pol.backoff_delay(attempts[r], rctx, cfg)
                if n_pend == 0:
                    pt0, pk0, pr0 = now + d, _EV_RETRY, r
                else:
                    pt1, pk1, pr1 = now + d, _EV_RETRY, r
                n_pend += 1
            else:  # out of attempts: the failed outcome stays in status[r]
                end_s[r] = now
                n_sys -= 1
            # the freed slot goes to the head of this provider's queue
            if qhead[p] >= 0:
                r2 = qhead[p]
                qhead[p] = qnext[r2]
                if qhead[p] < 0:
                    qtail[p] = -1
                route_r = -2 - r2  # encoded: start r2 at p (below)

        # -- phase 2a: router overhead stage in front of routing
        if route_r >= 0 and use_router and kind != _EV_ROUTED:
            if busy[R] < router_workers:
                busy[R] += 1
                sst, d, j = _draw(dkind[3 * P], dp[3 * P, 0], dp[3 * P, 1], sst)
                if j >= 0:
                    d = dvals[j]
                if n_pend == 0:
                    pt0, pk0, pr0 = now + d, _EV_ROUTED, route_r
                else:
                    pt1, pk1, pr1 = now + d, _EV_ROUTED, route_r
                n_pend += 1
            else:
                qnext[route_r] = -1
                if qtail[R] >= 0:
                    qnext[qtail[R]] = route_r
                else:
                    qhead[R] = route_r
                qtail[R] = route_r
            route_r = -1
        if kind == _EV_ROUTED:
            route_r = r

        # -- phase 2b: route
        start_r = -1
        start_p = -1
        if route_r <= -2:
            start_r = -2 - route_r
            start_p = prov[start_r]
        elif route_r >= 0:
            r = route_r
            attempts[r] += 1
            ex = excl[r] if retries else -1
            p = pol.choose_provider(policy_id, state, rctx, now, cfg, ex)
            if p < 0:
                if attempts[r] < max_att:
                    excl[r] = -1
                    d = pol.backoff_delay(attempts[r], rctx, cfg)
                    if n_pend == 0:
                        pt0, pk0, pr0 = now + d, _EV_RETRY, r
                    else:
                        pt1, pk1, pr1 = now + d, _EV_RETRY, r
                    n_pend += 1
                else:
                    status[r] = _NO_PROVIDER
                    end_s[r] = now
                    n_sys -= 1
                    if math.isnan(start_s[r]):
                        n_wait -= 1
            else:
                pol.on_dispatch(state, p, now)
                prov[r] = p
                if busy[p] < slots[p]:
                    start_r = r
                    start_p = p
                else:
                    qnext[r] = -1
                    if qtail[p] >= 0:
                        qnext[qtail[p]] = r
                    else:
                        qhead[p] = r
                    qtail[p] = r

        # -- phase 3: send an attempt to a provider slot
        if start_r >= 0:
            r = start_r
            p = start_p
            t0 = max(last_change[p], warmup_s)
            if now > t0:
                busy_area[p] += busy[p] * (now - t0)
            last_change[p] = now
            busy[p] += 1
            if math.isnan(start_s[r]):
                start_s[r] = now
                n_wait -= 1
            if retries:
                send_t[r] = now
            sst, rtt, j = _draw(dkind[3 * p], dp[3 * p, 0], dp[3 * p, 1], sst)
            if j >= 0:
                rtt = dvals[j]
            limited = False
            if any_limit and (rpm[p] > 0.0 or tpm[p] > 0.0):
                w = int(math.floor(now / rate_window))
                if w != win_idx[p]:
                    win_idx[p] = w
                    win_req[p] = 0.0
                    win_tok[p] = 0.0
                tok = prompt[r] + comp[r]
                if (rpm[p] > 0.0 and win_req[p] + 1.0 > rpm[p]) or (
                    tpm[p] > 0.0 and win_tok[p] + tok > tpm[p]
                ):
                    limited = True
                else:
                    win_req[p] += 1.0
                    win_tok[p] += tok
            ft = 0.0
            down = False
            if any_outage:
                for k in range(o_off[p], o_off[p + 1]):
                    if o_start[k] <= now < o_end[k]:
                        down = True
            if limited:
                out = pol.OUTCOME_RATE_LIMITED
                t_done = now + rtt
            else:
                u = 1.0
                if any_fail:
                    sst, u = _u01(sst)
                if down or u < err_p[p]:
                    out = pol.OUTCOME_ERROR
                    sst, x, j = _draw(dkind[3 * p + 1], dp[3 * p + 1, 0], dp[3 * p + 1, 1], sst)
                    if j >= 0:
                        x = dvals[j]
                    t_done = now + (rtt + x)
                elif u < err_p[p] + to_p[p]:
                    out = pol.OUTCOME_TIMEOUT
                    t_done = now + timeout
                else:
                    sst, ttft, j = _draw(dkind[3 * p + 1], dp[3 * p + 1, 0], dp[3 * p + 1, 1], sst)
                    if j >= 0:
                        ttft = dvals[j]
                    # absolute times built from the first token on, so that
                    # first_token_s <= end_s holds exactly in floating point
                    ft = now + rtt + ttft
                    t_done = ft
                    if comp[r] > 0:
                        sst, tps, j = _draw(
                            dkind[3 * p + 2], dp[3 * p + 2, 0], dp[3 * p + 2, 1], sst
                        )
                        if j >= 0:
                            tps = dvals[j]
                        t_done = ft + comp[r] / tps
                    out = pol.OUTCOME_OK
                if t_done - now > timeout:
                    out = pol.OUTCOME_TIMEOUT
                    t_done = now + timeout
                if out == pol.OUTCOME_OK:
                    first_s[r] = ft
            status[r] = out
            if n_pend == 0:
                pt0, pk0, pr0 = t_done, _EV_COMPLETE, r
            else:
                pt1, pk1, pr1 = t_done, _EV_COMPLETE, r
            n_pend += 1

        for k in range(n_pend):
            if k == 0:
                ti, ki, ri = pt0, pk0, pr0
            else:
                ti, ki, ri = pt1, pk1, pr1
            i = nh
            ht[i] = ti
            hp[i] = ki
            hs[i] = seq
            hr[i] = ri
            seq += 1
            nh += 1
            while i > 0:
                c = (i - 1) >> 1
                if _earlier(ht[i], hp[i], hs[i], ht[c], hp[c], hs[c]):
                    ht[i], ht[c] = ht[c], ht[i]
                    hp[i], hp[c] = hp[c], hp[i]
                    hs[i], hs[c] = hs[c], hs[i]
                    hr[i], hr[c] = hr[c], hr[i]
                    i = c
                else:
                    break

        if track_breaker:
            for q in range(P):
                b = state[q, pol.S_BREAKER]
                if b != bk_prev[q]:
                    if n_b < b_t.shape[0]:
                        b_t[n_b] = now
                        b_prov[n_b] = q
                        b_state[n_b] = int(b)
                    n_b += 1
                    bk_prev[q] = b

    for p in range(P):
        t0 = max(last_change[p], warmup_s)
        if t_last > t0:
            busy_area[p] += busy[p] * (t_last - t0)
    sctx[0] = sst
    stats[_ST_AREA_SYSTEM] = area_sys
    stats[_ST_AREA_WAIT] = area_wait
    stats[_ST_HORIZON] = t_last
    stats[_ST_EVENTS] = events
    stats[_ST_N_BREAKER] = n_b
    stats[_ST_N_ATTEMPTS] = n_att


# ---------------------------------------------------------------------------- Python API
_OK_CODE = STATUSES.index("ok")
# code -> name Series of the records' categorical columns, built once
_STATUS_NAMES = pl.Series("status", STATUSES, dtype=pl.Enum(STATUSES))
_OUTCOME_NAMES = pl.Series("outcome", list(pol.OUTCOMES), dtype=pl.Enum(list(pol.OUTCOMES)))
_BREAKER_NAMES = pl.Series("state", ["closed", "open", "half_open"])
_SUMMARY_PERCENTILES = (50.0, 95.0, 99.0, 99.9)
# Slots of _summary_kernel's sums: after the warm-up, requests, successes, requests that
# started, and the sums of their waits, success latencies, attempts and costs; over all
# requests, the sums of time in system and time in queue (Little's law).
_SM_N, _SM_N_OK, _SM_N_WAIT, _SM_WAIT, _SM_LATENCY_OK, _SM_ATTEMPTS, _SM_COST = range(7)
_SM_ALL_SYSTEM, _SM_ALL_QUEUE = 7, 8


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _summary_kernel(arrival, latency, wait, status, attempts, cost, warmup_s):
    """The sums behind SimResult.summary and the successful latencies, in one pass.

    Sums are sequential (numpy's are pairwise): the means differ from numpy's by ~1e-14
    relative (measured up to 50,000 requests), far below anything they are compared with.
    """
    sums = np.zeros(9)
    lat = np.empty(arrival.shape[0])
    n_ok = 0
    for i in range(arrival.shape[0]):
        w = wait[i]
        # time in queue of a request that never started is its whole time in system
        sums[_SM_ALL_QUEUE] += latency[i] if math.isnan(w) else w
        sums[_SM_ALL_SYSTEM] += latency[i]
        if arrival[i] < warmup_s:
            continue
        sums[_SM_N] += 1.0
        sums[_SM_ATTEMPTS] += attempts[i]
        sums[_SM_COST] += cost[i]
        if not math.isnan(w):
            sums[_SM_N_WAIT] += 1.0
            sums[_SM_WAIT] += w
        if status[i] == _OK_CODE:
            lat[n_ok] = latency[i]
            n_ok += 1
            sums[_SM_LATENCY_OK] += latency[i]
    sums[_SM_N_OK] = n_ok
    return lat[:n_ok], sums


def _sorted_percentiles(xs: np.ndarray, q: Sequence[float]) -> list[float]:
    """``np.percentile(xs, q)`` (linear method) of an already sorted, non-empty ``xs``.

    numpy's multi-quantile selection costs more than sorting the whole array (2.7 ms
    against 1.0 ms for 200,000 values); the interpolation is numpy's own lerp, so the
    values are the same to the last bit.
    """
    n = xs.size
    out = []
    for qi in q:
        h = (n - 1) * (qi / 100.0)
        lo = math.floor(h)
        hi = min(lo + 1, n - 1)
        t = h - lo
        a, b = float(xs[lo]), float(xs[hi])
        d = b - a
        out.append(b - d * (1.0 - t) if t >= 0.5 else a + d * t)
    return out


@dataclass(frozen=True)
class SimResult:
    """What :func:`simulate` returns.

    Attributes
    ----------
    requests : polars.DataFrame
        One row per request: ``arrival_s, start_s`` (first attempt sent), ``first_token_s,
        end_s, wait_s, latency_s, provider`` (last one tried), ``attempts, status, cost,
        prompt_tokens, completion_tokens`` (and ``model`` for traces that have one).
    providers : tuple of str
        Provider names, in the order given.
    warmup_s : float
        Requests arriving before this are left out of :meth:`summary`.
    stats : dict
        Engine counters: ``area_system`` and ``area_wait`` (integrals over time of the number
        in system / waiting, for Little's law), ``horizon_s``, ``events``, ``busy_area``
        per provider (after warm-up).
    attempts : polars.DataFrame or None
        One row per attempt sent to a provider (``record_attempts=True``).
    breaker_events : polars.DataFrame
        Circuit-breaker transitions: ``time_s, provider, state`` (closed/open/half_open).
    params : dict
        The model's parameters, for provenance.
    """

    requests: pl.DataFrame
    providers: tuple[str, ...]
    slots: tuple[int, ...]
    warmup_s: float
    stats: dict[str, Any]
    attempts: pl.DataFrame | None = None
    breaker_events: pl.DataFrame = field(default_factory=pl.DataFrame)
    params: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        """Statistics over the requests that arrived after the warm-up.

        Keys: ``n_requests, n_measured, mean_wait_s, mean_latency_s, p50_latency_s,
        p95_latency_s, p99_latency_s, p999_latency_s`` (latencies of successful requests),
        ``throughput_rps`` (successes per second after the warm-up), ``error_rate``,
        ``mean_attempts, cost_total, cost_per_request, utilisation_<provider>`` and Little's
        law over the whole run: ``littles_L`` (time-average number in system, integrated by
        the engine) against ``littles_lambda_W`` (arrival rate times mean time in system from
        the records), and the same for the queue (``littles_Lq``, ``littles_lambda_Wq``).
        """
        f = self.requests
        horizon = float(self.stats["horizon_s"])
        # one compiled pass over zero-copy views of the columns: polars filters would copy
        # every column twice, and the summary is part of every timed answer
        lat, sums = _summary_kernel(
            f["arrival_s"].to_numpy(), f["latency_s"].to_numpy(), f["wait_s"].to_numpy(),
            f["status"].to_physical().to_numpy(), f["attempts"].to_numpy(),
            f["cost"].to_numpy(), self.warmup_s,
        )  # fmt: skip
        sums = sums.tolist()  # Python floats in the summary
        n_m, n_ok, n_wait = int(sums[_SM_N]), int(sums[_SM_N_OK]), int(sums[_SM_N_WAIT])
        span = horizon - self.warmup_s
        lat.sort()  # in place: the kernel's own buffer
        q = _sorted_percentiles(lat, _SUMMARY_PERCENTILES) if n_ok else [math.nan] * 4
        out: dict[str, float] = {
            "n_requests": float(f.height),
            "n_measured": float(n_m),
            "mean_wait_s": sums[_SM_WAIT] / n_wait if n_wait else math.nan,
            "mean_latency_s": sums[_SM_LATENCY_OK] / n_ok if n_ok else math.nan,
            "p50_latency_s": float(q[0]),
            "p95_latency_s": float(q[1]),
            "p99_latency_s": float(q[2]),
            "p999_latency_s": float(q[3]),
            "throughput_rps": n_ok / span if span > 0 else math.nan,
            "error_rate": 1.0 - n_ok / n_m if n_m else math.nan,
            "mean_attempts": sums[_SM_ATTEMPTS] / n_m if n_m else math.nan,
            "cost_total": sums[_SM_COST],
            "cost_per_request": sums[_SM_COST] / n_m if n_m else math.nan,
        }
        busy = self.stats["busy_area"]
        for name, c, b in zip(self.providers, self.slots, busy, strict=True):
            out[f"utilisation_{name}"] = b / (c * span) if span > 0 else math.nan
        lam = f.height / horizon if horizon > 0 else math.nan
        n_all = max(f.height, 1)
        out["littles_L"] = self.stats["area_system"] / horizon if horizon > 0 else math.nan
        out["littles_lambda_W"] = lam * sums[_SM_ALL_SYSTEM] / n_all
        out["littles_Lq"] = self.stats["area_wait"] / horizon if horizon > 0 else math.nan
        out["littles_lambda_Wq"] = lam * sums[_SM_ALL_QUEUE] / n_all
        return out


def _as_dist(x: float | Dist, name: str) -> Dist:
    if isinstance(x, Dist):
        return x
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise TypeError(f"{name} must be a number of seconds or a Dist, got {type(x).__name__}")
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {x!r}")
    return Dist.det(float(x))


def simulate(
    providers: Sequence[Provider],
    workload: Workload | Arrivals,
    policy: str | pol.RoutingPolicy = "least_outstanding",
    seed: int = 0,
    *,
    overhead_s: float | Dist = 0.0,
    router_workers: int = 1,
    warmup_s: float = 0.0,
    rate_window_s: float = 60.0,
    record_attempts: bool = False,
) -> SimResult:
    """Simulate a router in front of LLM providers.

    Parameters
    ----------
    providers : sequence of Provider
        At least one; names must be unique.
    workload : Workload or Arrivals
        The requests (an :class:`~workbench.sim.workload.Arrivals` is used as given).
    policy : str or RoutingPolicy
        A name of :data:`~workbench.sim.policies.POLICIES` (default tunables: no retries,
        no breaker) or a full :class:`~workbench.sim.policies.RoutingPolicy`.
    seed : int
        Seed of every random stream (>= 0).
    overhead_s : float or Dist
        Router time per attempt (parse, route, serialise); 0 skips the router stage.
    router_workers : int
        Requests the router processes at once (1 = a single event loop such as Node's).
    warmup_s : float
        Requests arriving earlier are excluded from :meth:`SimResult.summary`.
    rate_window_s : float
        Length of the fixed windows in which ``rpm``/``tpm`` limits are counted.
    record_attempts : bool
        Also return one row per attempt (:attr:`SimResult.attempts`).

    Returns
    -------
    SimResult

    Raises
    ------
    TypeError, ValueError
        Any invalid argument, named in the message.

    Examples
    --------
    >>> from workbench.sim.distributions import Dist
    >>> fast = Provider("fast", slots=4, ttft=Dist.exp(0.1), tokens_per_s=Dist.det(100.0))
    >>> slow = Provider("slow", slots=8, ttft=Dist.exp(0.3), tokens_per_s=Dist.det(50.0))
    >>> w = Workload.poisson(20.0, 2000, completion_tokens=Dist.det(20))
    >>> res = simulate([fast, slow], w, "least_outstanding", seed=1)
    >>> res.requests.height, set(res.requests["status"]) == {"ok"}
    (2000, True)
    >>> s = res.summary()
    >>> bool(abs(s["littles_L"] - s["littles_lambda_W"]) < 1e-9 * s["littles_L"])
    True

    Notes
    -----
    O(n log n) time for n requests (the event heap holds at most one event per request),
    O(n) memory. One core.
    """
    if isinstance(providers, Provider) or not isinstance(providers, Sequence):
        raise TypeError("providers must be a sequence of Provider")
    providers = list(providers)
    if not providers:
        raise ValueError("providers must not be empty")
    for i, p in enumerate(providers):
        if not isinstance(p, Provider):
            raise TypeError(f"providers[{i}] must be a Provider, got {type(p).__name__}")
    names = [p.name for p in providers]
    if len(set(names)) != len(names):
        raise ValueError(f"provider names must be unique, got {names}")
    if isinstance(policy, str):
        policy = pol.RoutingPolicy(policy)
    if not isinstance(policy, pol.RoutingPolicy):
        raise TypeError(f"policy must be a str or RoutingPolicy, got {type(policy).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    overhead = _as_dist(overhead_s, "overhead_s")
    if (
        isinstance(router_workers, bool)
        or not isinstance(router_workers, int)
        or router_workers < 1
    ):
        raise ValueError(f"router_workers must be an int >= 1, got {router_workers!r}")
    if isinstance(warmup_s, bool) or not isinstance(warmup_s, int | float) or not warmup_s >= 0:
        raise ValueError(f"warmup_s must be a number >= 0, got {warmup_s!r}")
    if not isinstance(rate_window_s, int | float) or not (0 < rate_window_s < math.inf):
        raise ValueError(f"rate_window_s must be a finite number > 0, got {rate_window_s!r}")
    if math.isinf(policy.attempt_timeout_s) and any(p.timeout_prob > 0 for p in providers):
        raise ValueError(
            "a provider has timeout_prob > 0: set a finite attempt_timeout_s in the RoutingPolicy"
        )
    if isinstance(workload, Workload):
        arrivals = workload.generate(int(seed))
    elif isinstance(workload, Arrivals):
        arrivals = workload
    else:
        raise TypeError(f"workload must be a Workload or Arrivals, got {type(workload).__name__}")

    n = len(arrivals)
    P = len(providers)
    arr_t = np.ascontiguousarray(arrivals.arrival_s, dtype=np.float64)
    prompt = np.ascontiguousarray(arrivals.prompt_tokens, dtype=np.int64)
    comp = np.ascontiguousarray(arrivals.completion_tokens, dtype=np.int64)
    if prompt.min() < 0 or comp.min() < 0:  # n >= 1; no temporary boolean arrays
        raise ValueError("token counts must be >= 0")
    mean_comp = float(comp.mean())
    table = encode([d for p in providers for d in (p.rtt, p.ttft, p.tokens_per_s)] + [overhead])
    prior = [
        p.mean_latency_s(mean_comp) if p.prior_latency_s is None else p.prior_latency_s
        for p in providers
    ]
    state = pol.new_state(
        [p.slots for p in providers],
        [p.weight for p in providers],
        [p.cost_per_1k for p in providers],
        prior,
    )
    rctx = pol.new_ctx(stream_seed(int(seed), 2))
    sctx = new_ctx(stream_seed(int(seed), 3))
    cfg = policy.to_array()

    # The per-request records are rows of two blocks, written by the kernel (every field of
    # every request) and handed to polars without copies. One block per dtype rather than
    # an array per field: from 4 MB numpy asks for transparent huge pages, so the first
    # writes fault a few 2 MB pages instead of thousands of 4 kB ones (at 200,000 requests
    # 2,600 faults less per run, ~6% of its time on this machine).
    f64_rows = np.empty((6, n))
    start_s, first_s, end_s, cost, wait_s, latency_s = f64_rows
    i64_rows = np.empty((3, n), dtype=np.int64)
    prov, attempts, status = i64_rows
    busy_area = np.zeros(P)
    stats = np.zeros(_N_STATS)
    cap = n * policy.max_attempts if record_attempts else 1
    a_req = np.zeros(cap, dtype=np.int64)
    a_prov = np.zeros(cap, dtype=np.int64)
    a_send = np.zeros(cap)
    a_end = np.zeros(cap)
    a_out = np.zeros(cap, dtype=np.int64)
    b_cap = 100_000 if policy.breaker_failures > 0 else 1
    b_t = np.zeros(b_cap)
    b_prov = np.zeros(b_cap, dtype=np.int64)
    b_state = np.zeros(b_cap, dtype=np.int64)
    f64 = np.float64
    o_off = np.cumsum([0] + [len(p.outages) for p in providers]).astype(np.int64)
    o_start = np.array([a for p in providers for a, _ in p.outages] or [0.0], dtype=f64)
    o_end = np.array([b for p in providers for _, b in p.outages] or [0.0], dtype=f64)
    _simulate_kernel(
        arr_t, prompt, comp,
        np.array([p.slots for p in providers], dtype=np.int64),
        np.array([p.error_prob for p in providers], dtype=f64),
        np.array([p.timeout_prob for p in providers], dtype=f64),
        np.array([p.rpm for p in providers], dtype=f64),
        np.array([p.tpm for p in providers], dtype=f64),
        np.array([p.cost_per_1k for p in providers], dtype=f64),
        float(rate_window_s), o_off, o_start, o_end,
        table.kind, table.p, table.values,
        policy.policy_id, state, rctx, cfg,
        router_workers, float(warmup_s), sctx,
        start_s, first_s, end_s, prov, attempts, status, cost,
        busy_area, stats,
        record_attempts, a_req, a_prov, a_send, a_end, a_out,
        b_t, b_prov, b_state,
    )  # fmt: skip

    # Enum columns from the codes by indexing (Series[ndarray] gathers directly; .gather
    # goes through a lazy query: 60 us more per column on every call)
    name_series = pl.Series("provider", names, dtype=pl.Enum(names))
    routed = prov.min() >= 0  # every request reached a provider (no temporaries then)
    provider_col = name_series[prov if routed else np.maximum(prov, 0)]
    if not routed:
        provider_col = pl.select(
            pl.when(pl.Series(prov >= 0)).then(provider_col).otherwise(None).alias("provider")
        ).to_series()
    cols = {
        "arrival_s": arr_t,
        "start_s": start_s,
        "first_token_s": first_s,
        "end_s": end_s,
        "wait_s": np.subtract(start_s, arr_t, out=wait_s),
        "latency_s": np.subtract(end_s, arr_t, out=latency_s),
        "provider": provider_col,
        "attempts": attempts,
        "status": _STATUS_NAMES[status],
        "cost": cost,
        "prompt_tokens": prompt,
        "completion_tokens": comp,
    }
    if arrivals.model is not None:
        cols["model"] = arrivals.model
    requests = pl.DataFrame(cols)
    attempt_frame = None
    if record_attempts:
        k = int(stats[_ST_N_ATTEMPTS])
        attempt_frame = pl.DataFrame(
            {
                "request": a_req[:k],
                "provider": name_series[a_prov[:k]],
                "send_s": a_send[:k],
                "end_s": a_end[:k],
                "outcome": _OUTCOME_NAMES[a_out[:k]],
                "tokens": prompt[a_req[:k]] + comp[a_req[:k]],
            }
        )
    nb = min(int(stats[_ST_N_BREAKER]), b_cap)
    breaker_events = pl.DataFrame(
        {
            "time_s": b_t[:nb],
            "provider": name_series[b_prov[:nb]],
            "state": _BREAKER_NAMES[b_state[:nb]],
        }
    )
    params = {
        "providers": [_provider_params(p) for p in providers],
        "workload": _workload_params(workload),
        "policy": {
            k: v for k, v in policy.__dict__.items() if not isinstance(v, float) or math.isfinite(v)
        },
        "seed": int(seed),
        "overhead_s": _dist_params(overhead),
        "router_workers": router_workers,
        "warmup_s": float(warmup_s),
        "rate_window_s": float(rate_window_s),
    }
    return SimResult(
        requests=requests,
        providers=tuple(names),
        slots=tuple(p.slots for p in providers),
        warmup_s=float(warmup_s),
        stats={
            "area_system": float(stats[_ST_AREA_SYSTEM]),
            "area_wait": float(stats[_ST_AREA_WAIT]),
            "horizon_s": float(stats[_ST_HORIZON]),
            "events": int(stats[_ST_EVENTS]),
            "busy_area": busy_area.tolist(),
            "breaker_log_truncated": int(stats[_ST_N_BREAKER]) > b_cap,
        },
        attempts=attempt_frame,
        breaker_events=breaker_events,
        params=params,
    )


def _dist_params(d: Dist) -> dict[str, Any]:
    return {"kind": d.kind, "mean": d.mean, "cv": d.cv}


def _provider_params(p: Provider) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in p.__dict__.items():
        out[k] = _dist_params(v) if isinstance(v, Dist) else v
    return out


def _workload_params(w: Workload | Arrivals) -> dict[str, Any]:
    if isinstance(w, Arrivals):
        return {"kind": "arrivals", "n_requests": len(w)}
    out = {k: v for k, v in w.__dict__.items() if k != "trace"}
    out["prompt_tokens"] = _dist_params(w.prompt_tokens)
    out["completion_tokens"] = _dist_params(w.completion_tokens)
    return out


_SERVICES = ("exp", "det", "lognormal")


def simulate_mmc(
    c: int,
    arrival_rate: float,
    service_rate: float,
    n_requests: int,
    seed: int = 0,
    service: str = "exp",
    *,
    cv: float = 1.0,
    warmup_fraction: float = 0.05,
) -> SimResult:
    """The engine configured as an M/M/c queue (or M/D/c, M/G/c with lognormal service).

    One provider with ``c`` slots, Poisson arrivals, no network time, no errors, no
    retries, no router overhead: the textbook queue, to check against
    :func:`~workbench.sim.queueing.erlang_c_wait` and
    :func:`~workbench.sim.queueing.mg1_wait`.

    Parameters
    ----------
    c : int
        Servers (slots), >= 1.
    arrival_rate, service_rate : float
        Per second; ``arrival_rate < c * service_rate`` is not required (an unstable queue
        simply grows).
    n_requests : int
        Requests to simulate (>= 1).
    seed : int
        Random seed.
    service : {"exp", "det", "lognormal"}
        Service-time distribution with mean ``1 / service_rate``.
    cv : float
        Coefficient of variation of the lognormal service time.
    warmup_fraction : float
        Share of the requests, from the start, left out of the summary (the queue starts
        empty, which biases early waits low).

    Returns
    -------
    SimResult

    Raises
    ------
    ValueError
        Invalid argument.

    Examples
    --------
    >>> res = simulate_mmc(2, 1.0, 1.0, 20_000, seed=1)
    >>> round(res.summary()["mean_wait_s"], 1)  # Erlang C: 1/3
    0.3
    """
    if isinstance(c, bool) or not isinstance(c, int | np.integer) or c < 1:
        raise ValueError(f"c must be an int >= 1, got {c!r}")
    for name, v in (("arrival_rate", arrival_rate), ("service_rate", service_rate)):
        if isinstance(v, bool) or not isinstance(v, int | float) or not (0 < v < math.inf):
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    if isinstance(n_requests, bool) or not isinstance(n_requests, int | np.integer):
        raise ValueError(f"n_requests must be an int >= 1, got {n_requests!r}")
    if n_requests < 1:
        raise ValueError(f"n_requests must be an int >= 1, got {n_requests!r}")
    if service not in _SERVICES:
        raise ValueError(f"service must be one of {_SERVICES}, got {service!r}")
    if not isinstance(cv, int | float) or not (0 <= cv < math.inf):
        raise ValueError(f"cv must be a finite number >= 0, got {cv!r}")
    if not isinstance(warmup_fraction, int | float) or not 0 <= warmup_fraction < 1:
        raise ValueError(f"warmup_fraction must be in [0, 1), got {warmup_fraction!r}")
    mean = 1.0 / service_rate
    dist = {"exp": Dist.exp, "det": Dist.det}.get(service)
    svc = dist(mean) if dist else Dist.lognormal(mean, cv)
    provider = Provider("server", slots=int(c), ttft=svc)
    arrivals = Workload.poisson(float(arrival_rate), int(n_requests)).generate(int(seed))
    k = int(warmup_fraction * n_requests)
    warmup_s = float(arrivals.arrival_s[k]) if k > 0 else 0.0
    res = simulate([provider], arrivals, "round_robin", seed, warmup_s=warmup_s)
    params = dict(res.params)
    params.update(
        model="mmc", c=int(c), arrival_rate=float(arrival_rate),
        service_rate=float(service_rate), n_requests=int(n_requests), service=service,
        cv=float(cv) if service == "lognormal" else None, warmup_fraction=float(warmup_fraction),
    )  # fmt: skip
    return SimResult(
        requests=res.requests,
        providers=res.providers,
        slots=res.slots,
        warmup_s=res.warmup_s,
        stats=res.stats,
        attempts=res.attempts,
        breaker_events=res.breaker_events,
        params=params,
    )
