"""Routing policies over arrays of provider state, shared by the simulator and the live ai-core.

The code that routes is the code that is simulated: the router simulator
(:mod:`workbench.sim.router`) calls these compiled functions from inside its numba event
loop, and the live ai-core service calls the very same functions from plain Python.

State lives in arrays the caller owns:

- ``state``: ``float64[n_providers, N_STATE]``, one row per provider, columns named by the
  ``S_*`` constants (in-flight count, slots, weight, latency EWMA, price, circuit breaker...).
  Build it with :func:`new_state`.
- ``ctx``: ``uint64[2]``: word 0 is the random generator (:mod:`workbench.sim.rng`), word 1
  the round-robin cursor. Build it with :func:`new_ctx`.
- ``cfg``: ``float64[N_CFG]``: the tunables of :class:`RoutingPolicy` (``.to_array()``).

The life of one attempt: ``p = choose_provider(...)``; ``on_dispatch(state, p, now)`` when it
is sent; ``on_result(state, p, outcome, latency_s, now, cfg)`` when it ends with an
``OUTCOME_*`` code; on failure wait ``backoff_delay(attempt, ctx, cfg)`` and choose again
with ``exclude=p`` (fallback to another provider when one is available).

Policies (:data:`POLICIES`, name -> id):

``round_robin``
    Next available provider after the previous choice.
``weighted_random``
    Random provider with probability proportional to ``S_WEIGHT``.
``least_outstanding``
    Lowest in-flight count per slot; ties broken at random.
``p2c``
    Power of two choices: two distinct random providers, the less loaded one wins.
``latency_ewma``
    Lowest predicted latency ``ewma * max(1, (outstanding + 1) / slots)`` (peak-EWMA).
``cost_slo``
    Cheapest provider whose predicted latency meets the SLO; if none does, the fastest.

A provider is available unless its circuit breaker is open (a half-open breaker lets
``half_open_probes`` trial requests through) or it is cooling down after repeated 429s.
The breaker opens after ``breaker_failures`` consecutive errors or timeouts, stays open
``breaker_open_s``, then goes half-open: a successful probe closes it, a failed one opens it
again.

Examples
--------
How the live service uses it (one router per process; not thread-safe, so call it from
one event loop or hold a lock):

>>> import time
>>> from workbench.sim import policies as P
>>> router = P.LiveRouter("p2c", slots=[4, 8], cost_per_1k=[0.0, 0.5],
...                       prior_latency_s=[0.3, 0.5], seed=1)
>>> p = router.choose()                    # index of the provider to call, -1 if none
>>> router.dispatched(p)
>>> # ... call the provider, time it ...
>>> router.completed(p, P.OUTCOME_OK, latency_s=0.21)
>>> int(router.state[p, P.S_OUTSTANDING])
0

The same with the raw functions, as the simulator calls them:

>>> state = P.new_state(slots=[4, 8])
>>> ctx = P.new_ctx(seed=1)
>>> cfg = P.RoutingPolicy("least_outstanding").to_array()
>>> now = 0.0
>>> p = P.choose_provider(P.POLICIES["least_outstanding"], state, ctx, now, cfg, -1)
>>> P.on_dispatch(state, p, now)
>>> P.on_result(state, p, P.OUTCOME_ERROR, 0.05, now + 0.05, cfg)
>>> bool(P.backoff_delay(1, ctx, cfg) <= cfg[P.CFG_BACKOFF_BASE_S])
True
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from workbench.config import FASTMATH, NUMBA_CACHE
from workbench.sim.rng import new_ctx as _rng_ctx
from workbench.sim.rng import uniform

__all__ = [
    "BREAKER_CLOSED",
    "BREAKER_HALF_OPEN",
    "BREAKER_OPEN",
    "CFG_ATTEMPT_TIMEOUT_S",
    "CFG_BACKOFF_BASE_S",
    "CFG_BACKOFF_MAX_S",
    "CFG_BREAKER_FAILURES",
    "CFG_BREAKER_OPEN_S",
    "CFG_COOLDOWN_AFTER",
    "CFG_COOLDOWN_S",
    "CFG_EWMA_ALPHA",
    "CFG_FALLBACK",
    "CFG_HALF_OPEN_PROBES",
    "CFG_JITTER",
    "CFG_MAX_ATTEMPTS",
    "CFG_SLO_S",
    "CTX_CURSOR",
    "CTX_RNG",
    "JITTERS",
    "N_CFG",
    "N_STATE",
    "OUTCOMES",
    "OUTCOME_ERROR",
    "OUTCOME_OK",
    "OUTCOME_RATE_LIMITED",
    "OUTCOME_TIMEOUT",
    "POLICIES",
    "S_BREAKER",
    "S_CONSEC_429",
    "S_CONSEC_FAIL",
    "S_COOLDOWN_UNTIL",
    "S_COST_PER_1K",
    "S_EWMA_S",
    "S_OPEN_UNTIL",
    "S_OUTSTANDING",
    "S_PROBES",
    "S_SLOTS",
    "S_WEIGHT",
    "LiveRouter",
    "RoutingPolicy",
    "backoff_delay",
    "choose_provider",
    "is_available",
    "new_ctx",
    "new_state",
    "on_dispatch",
    "on_result",
    "predicted_latency",
]

# Columns of the provider state matrix.
S_OUTSTANDING = 0  # attempts sent or queued at this provider and not finished
S_SLOTS = 1  # concurrency slots
S_WEIGHT = 2  # weighted_random weight
S_EWMA_S = 3  # latency EWMA of successful (and timed-out) attempts, seconds
S_COST_PER_1K = 4  # price per 1,000 tokens
S_BREAKER = 5  # BREAKER_* state
S_OPEN_UNTIL = 6  # when an open breaker turns half-open
S_CONSEC_FAIL = 7  # consecutive errors/timeouts
S_CONSEC_429 = 8  # consecutive rate-limit answers
S_COOLDOWN_UNTIL = 9  # unavailable until this time after repeated 429s
S_PROBES = 10  # trial requests in flight while half-open
N_STATE = 11

# Slots of the configuration vector (RoutingPolicy.to_array()).
CFG_EWMA_ALPHA = 0
CFG_SLO_S = 1
CFG_BREAKER_FAILURES = 2
CFG_BREAKER_OPEN_S = 3
CFG_HALF_OPEN_PROBES = 4
CFG_COOLDOWN_AFTER = 5
CFG_COOLDOWN_S = 6
CFG_MAX_ATTEMPTS = 7
CFG_BACKOFF_BASE_S = 8
CFG_BACKOFF_MAX_S = 9
CFG_JITTER = 10
CFG_ATTEMPT_TIMEOUT_S = 11
CFG_FALLBACK = 12
N_CFG = 13

CTX_RNG = 0
CTX_CURSOR = 1

BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN = 0, 1, 2

OUTCOME_OK, OUTCOME_ERROR, OUTCOME_TIMEOUT, OUTCOME_RATE_LIMITED = 0, 1, 2, 3
#: Outcome name -> code of one attempt.
OUTCOMES: dict[str, int] = {
    "ok": OUTCOME_OK,
    "error": OUTCOME_ERROR,
    "timeout": OUTCOME_TIMEOUT,
    "rate_limited": OUTCOME_RATE_LIMITED,
}

ROUND_ROBIN, WEIGHTED_RANDOM, LEAST_OUTSTANDING, P2C, LATENCY_EWMA, COST_SLO = range(6)
#: Policy name -> id, the argument of :func:`choose_provider`.
POLICIES: dict[str, int] = {
    "round_robin": ROUND_ROBIN,
    "weighted_random": WEIGHTED_RANDOM,
    "least_outstanding": LEAST_OUTSTANDING,
    "p2c": P2C,
    "latency_ewma": LATENCY_EWMA,
    "cost_slo": COST_SLO,
}

#: Backoff jitter name -> id: none, full (uniform on [0, d]), equal (d/2 + uniform on [0, d/2]).
JITTERS: dict[str, int] = {"none": 0, "full": 1, "equal": 2}


@dataclass(frozen=True)
class RoutingPolicy:
    """A routing policy and its retry, breaker and cooldown tunables.

    Parameters
    ----------
    name : str
        One of :data:`POLICIES`.
    slo_s : float
        Latency objective of ``cost_slo``.
    ewma_alpha : float
        Weight of the newest latency in the EWMA, in (0, 1].
    max_attempts : int
        Attempts per request including the first (1 = no retries).
    backoff_base_s, backoff_max_s : float
        Retry ``k`` waits ``min(backoff_max_s, backoff_base_s * 2**(k-1))`` before jitter.
    jitter : str
        One of :data:`JITTERS`.
    attempt_timeout_s : float
        An attempt that has not answered after this long (from when it was sent) is a
        timeout; ``inf`` for none.
    fallback : bool
        Retry on a different provider when another one is available.
    breaker_failures : int
        Consecutive errors/timeouts that open a provider's breaker (0 = no breaker).
    breaker_open_s : float
        How long a breaker stays open before it lets probes through (half-open).
    half_open_probes : int
        Trial requests allowed in flight while half-open.
    cooldown_after : int
        Consecutive 429 answers that put a provider in cooldown (0 = never).
    cooldown_s : float
        Length of that cooldown.

    Examples
    --------
    >>> RoutingPolicy("p2c", max_attempts=3).policy_id == POLICIES["p2c"]
    True
    >>> RoutingPolicy("fastest")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: policy name must be one of [...], got 'fastest'
    """

    name: str = "least_outstanding"
    slo_s: float = 1.0
    ewma_alpha: float = 0.2
    max_attempts: int = 1
    backoff_base_s: float = 0.1
    backoff_max_s: float = 5.0
    jitter: str = "full"
    attempt_timeout_s: float = math.inf
    fallback: bool = True
    breaker_failures: int = 0
    breaker_open_s: float = 30.0
    half_open_probes: int = 1
    cooldown_after: int = 0
    cooldown_s: float = 10.0

    def __post_init__(self) -> None:
        if self.name not in POLICIES:
            raise ValueError(f"policy name must be one of {sorted(POLICIES)}, got {self.name!r}")
        if self.jitter not in JITTERS:
            raise ValueError(f"jitter must be one of {sorted(JITTERS)}, got {self.jitter!r}")
        if not 0 < self.ewma_alpha <= 1:
            raise ValueError(f"ewma_alpha must be in (0, 1], got {self.ewma_alpha!r}")
        for name in ("max_attempts", "half_open_probes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        for name in ("breaker_failures", "cooldown_after"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be an int >= 0, got {v!r}")
        for name in ("slo_s", "backoff_base_s", "backoff_max_s", "breaker_open_s", "cooldown_s"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        t = self.attempt_timeout_s
        if not isinstance(t, int | float) or math.isnan(t) or t <= 0:
            raise ValueError(f"attempt_timeout_s must be > 0 (inf for none), got {t!r}")

    @property
    def policy_id(self) -> int:
        """The id :func:`choose_provider` takes."""
        return POLICIES[self.name]

    def to_array(self) -> np.ndarray:
        """The ``cfg`` vector the compiled functions read (see the ``CFG_*`` constants)."""
        cfg = np.zeros(N_CFG, dtype=np.float64)
        cfg[CFG_EWMA_ALPHA] = self.ewma_alpha
        cfg[CFG_SLO_S] = self.slo_s
        cfg[CFG_BREAKER_FAILURES] = self.breaker_failures
        cfg[CFG_BREAKER_OPEN_S] = self.breaker_open_s
        cfg[CFG_HALF_OPEN_PROBES] = self.half_open_probes
        cfg[CFG_COOLDOWN_AFTER] = self.cooldown_after
        cfg[CFG_COOLDOWN_S] = self.cooldown_s
        cfg[CFG_MAX_ATTEMPTS] = self.max_attempts
        cfg[CFG_BACKOFF_BASE_S] = self.backoff_base_s
        cfg[CFG_BACKOFF_MAX_S] = self.backoff_max_s
        cfg[CFG_JITTER] = JITTERS[self.jitter]
        cfg[CFG_ATTEMPT_TIMEOUT_S] = self.attempt_timeout_s
        cfg[CFG_FALLBACK] = 1.0 if self.fallback else 0.0
        return cfg


def _vector(x: Sequence[float] | np.ndarray | None, n: int, name: str, default: float):
    if x is None:
        return np.full(n, default, dtype=np.float64)
    arr = np.asarray(x, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have one value per provider ({n}), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must be finite and >= 0")
    return arr


def new_state(
    slots: Sequence[int] | np.ndarray,
    weights: Sequence[float] | np.ndarray | None = None,
    cost_per_1k: Sequence[float] | np.ndarray | None = None,
    prior_latency_s: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """A fresh provider state matrix (everything idle, breakers closed).

    Parameters
    ----------
    slots : sequence of int
        Concurrency slots per provider (>= 1); its length is the number of providers.
    weights, cost_per_1k, prior_latency_s : sequence of float, optional
        Per provider: ``weighted_random`` weight (default 1), price per 1,000 tokens
        (default 0), and the latency the EWMA starts from (default 0: the first observation).

    Returns
    -------
    numpy.ndarray
        ``float64[n_providers, N_STATE]``.

    Raises
    ------
    ValueError
        No providers, a slot count below 1, or a vector of the wrong length or sign.

    Examples
    --------
    >>> new_state([2, 4])[:, S_SLOTS].tolist()
    [2.0, 4.0]
    """
    s = np.asarray(slots)
    if s.ndim != 1 or s.size == 0:
        raise ValueError("slots must be a non-empty 1-D sequence (one entry per provider)")
    if not np.issubdtype(s.dtype, np.integer) or np.any(s < 1):
        raise ValueError(f"slots must be integers >= 1, got {s.tolist()}")
    n = s.size
    state = np.zeros((n, N_STATE), dtype=np.float64)
    state[:, S_SLOTS] = s
    state[:, S_WEIGHT] = _vector(weights, n, "weights", 1.0)
    state[:, S_COST_PER_1K] = _vector(cost_per_1k, n, "cost_per_1k", 0.0)
    state[:, S_EWMA_S] = _vector(prior_latency_s, n, "prior_latency_s", 0.0)
    return state


def new_ctx(seed: int = 0) -> np.ndarray:
    """A routing context: ``uint64[2]`` = (random generator state, round-robin cursor)."""
    return _rng_ctx(seed, 2)


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH, error_model="numpy")
def is_available(state, p, now, cfg):
    """Whether provider ``p`` may take an attempt at time ``now``.

    Moves an open breaker whose time is up to half-open (the only state change here).
    """
    if now < state[p, S_COOLDOWN_UNTIL]:
        return False
    b = state[p, S_BREAKER]
    if b == BREAKER_OPEN:
        if now < state[p, S_OPEN_UNTIL]:
            return False
        state[p, S_BREAKER] = BREAKER_HALF_OPEN
        state[p, S_PROBES] = 0.0
        b = BREAKER_HALF_OPEN
    if b == BREAKER_HALF_OPEN:
        return state[p, S_PROBES] < cfg[CFG_HALF_OPEN_PROBES]
    return True


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH, error_model="numpy")
def predicted_latency(state, p):
    """Peak-EWMA latency estimate: the EWMA, stretched when every slot is taken."""
    load = (state[p, S_OUTSTANDING] + 1.0) / state[p, S_SLOTS]
    return state[p, S_EWMA_S] * max(1.0, load)


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH, error_model="numpy")
def _load(state, p):
    return state[p, S_OUTSTANDING] / state[p, S_SLOTS]


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH, error_model="numpy")
def _pick(policy, state, ctx, now, cfg, exclude):
    n = state.shape[0]
    if policy == ROUND_ROBIN:
        start = int(ctx[CTX_CURSOR] % np.uint64(n))
        for k in range(n):
            p = (start + k) % n
            if p != exclude and is_available(state, p, now, cfg):
                ctx[CTX_CURSOR] = np.uint64(p + 1)
                return p
        return -1
    m = 0
    total_w = 0.0
    for p in range(n):
        if p != exclude and is_available(state, p, now, cfg):
            m += 1
            total_w += state[p, S_WEIGHT]
    if m == 0:
        return -1
    if policy == WEIGHTED_RANDOM:
        if total_w > 0.0:
            u = uniform(ctx) * total_w
            last = -1
            for p in range(n):
                if p != exclude and is_available(state, p, now, cfg) and state[p, S_WEIGHT] > 0:
                    last = p
                    u -= state[p, S_WEIGHT]
                    if u < 0.0:
                        return p
            return last  # rounding left u a hair above zero
        # all weights zero: uniform over the available ones
        m_pick = int(uniform(ctx) * m)
        for p in range(n):
            if p != exclude and is_available(state, p, now, cfg):
                if m_pick == 0:
                    return p
                m_pick -= 1
        return -1
    if policy == P2C:
        if m == 1:
            for p in range(n):
                if p != exclude and is_available(state, p, now, cfg):
                    return p
        i = min(int(uniform(ctx) * m), m - 1)
        j = min(int(uniform(ctx) * (m - 1)), m - 2)
        if j >= i:
            j += 1
        a = -1
        b = -1
        k = 0
        for p in range(n):
            if p != exclude and is_available(state, p, now, cfg):
                if k == i:
                    a = p
                if k == j:
                    b = p
                k += 1
        return b if _load(state, b) < _load(state, a) else a
    if policy == COST_SLO:
        best = -1
        best_cost = np.inf
        best_lat = np.inf
        fast = -1
        fast_lat = np.inf
        for p in range(n):
            if p != exclude and is_available(state, p, now, cfg):
                lat = predicted_latency(state, p)
                if lat < fast_lat:
                    fast, fast_lat = p, lat
                if lat <= cfg[CFG_SLO_S]:
                    c = state[p, S_COST_PER_1K]
                    if c < best_cost or (c == best_cost and lat < best_lat):
                        best, best_cost, best_lat = p, c, lat
        return best if best >= 0 else fast
    # least_outstanding and latency_ewma: argmin of a score, ties broken at random
    best = -1
    best_score = np.inf
    ties = 0
    for p in range(n):
        if p != exclude and is_available(state, p, now, cfg):
            s = _load(state, p) if policy == LEAST_OUTSTANDING else predicted_latency(state, p)
            if s < best_score:
                best, best_score, ties = p, s, 1
            elif s == best_score:
                ties += 1
                if uniform(ctx) * ties < 1.0:  # reservoir sampling keeps each tie equally likely
                    best = p
    return best


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH, error_model="numpy")
def choose_provider(policy_id, state, ctx, now, cfg, exclude):
    """The provider to send the next attempt to, or -1 if none is available.

    Parameters
    ----------
    policy_id : int
        A value of :data:`POLICIES`.
    state : float64[n, N_STATE]
        Provider state (:func:`new_state`); open breakers whose time is up turn half-open.
    ctx : uint64[2]
        Generator and round-robin cursor (:func:`new_ctx`); advanced.
    now : float
        Current time in seconds (any monotonic clock, the same one for every call).
    cfg : float64[N_CFG]
        :meth:`RoutingPolicy.to_array`.
    exclude : int
        Provider to avoid (the one that just failed), or -1. When no other provider is
        available the excluded one is still chosen if it is available.

    Returns
    -------
    int

    Notes
    -----
    O(n_providers) per call, no allocation.
    """
    p = _pick(policy_id, state, ctx, now, cfg, exclude)
    if p < 0 and exclude >= 0:
        p = _pick(policy_id, state, ctx, now, cfg, -1)
    return p


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH, error_model="numpy")
def on_dispatch(state, p, now):
    """Account for an attempt sent (or queued) to provider ``p``."""
    state[p, S_OUTSTANDING] += 1.0
    if state[p, S_BREAKER] == BREAKER_HALF_OPEN:
        state[p, S_PROBES] += 1.0


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH, error_model="numpy")
def _open(state, p, now, cfg):
    state[p, S_BREAKER] = BREAKER_OPEN
    state[p, S_OPEN_UNTIL] = now + cfg[CFG_BREAKER_OPEN_S]
    state[p, S_PROBES] = 0.0
    state[p, S_CONSEC_FAIL] = 0.0


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH, error_model="numpy")
def on_result(state, p, outcome, latency_s, now, cfg):
    """Account for the end of an attempt at provider ``p``.

    Parameters
    ----------
    outcome : int
        ``OUTCOME_OK``, ``OUTCOME_ERROR``, ``OUTCOME_TIMEOUT`` or ``OUTCOME_RATE_LIMITED``.
    latency_s : float
        How long the attempt took; feeds the EWMA on success and on timeout (a timeout is
        evidence that the provider is at least that slow).
    """
    if state[p, S_OUTSTANDING] > 0.0:
        state[p, S_OUTSTANDING] -= 1.0
    half_open = state[p, S_BREAKER] == BREAKER_HALF_OPEN
    if half_open and state[p, S_PROBES] > 0.0:
        state[p, S_PROBES] -= 1.0
    if outcome in (OUTCOME_OK, OUTCOME_TIMEOUT):
        if state[p, S_EWMA_S] <= 0.0:
            state[p, S_EWMA_S] = latency_s
        else:
            state[p, S_EWMA_S] += cfg[CFG_EWMA_ALPHA] * (latency_s - state[p, S_EWMA_S])
    if outcome == OUTCOME_OK:
        state[p, S_CONSEC_FAIL] = 0.0
        state[p, S_CONSEC_429] = 0.0
        if half_open:
            state[p, S_BREAKER] = BREAKER_CLOSED
    elif outcome == OUTCOME_RATE_LIMITED:
        state[p, S_CONSEC_429] += 1.0
        if cfg[CFG_COOLDOWN_AFTER] > 0 and state[p, S_CONSEC_429] >= cfg[CFG_COOLDOWN_AFTER]:
            state[p, S_COOLDOWN_UNTIL] = now + cfg[CFG_COOLDOWN_S]
            state[p, S_CONSEC_429] = 0.0
    else:
        state[p, S_CONSEC_FAIL] += 1.0
        if half_open or (
            state[p, S_BREAKER] == BREAKER_CLOSED
            and cfg[CFG_BREAKER_FAILURES] > 0
            and state[p, S_CONSEC_FAIL] >= cfg[CFG_BREAKER_FAILURES]
        ):
            _open(state, p, now, cfg)


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH, error_model="numpy")
def backoff_delay(attempt, ctx, cfg):
    """Seconds to wait before retry number ``attempt`` (1 for the first retry).

    Exponential backoff ``min(max, base * 2**(attempt-1))`` with the configured jitter
    ("full jitter" by default, which spreads synchronized retries best).
    """
    d = min(cfg[CFG_BACKOFF_MAX_S], cfg[CFG_BACKOFF_BASE_S] * 2.0 ** (attempt - 1))
    j = cfg[CFG_JITTER]
    if j == 1.0:
        return uniform(ctx) * d
    if j == 2.0:
        return 0.5 * d + 0.5 * d * uniform(ctx)
    return d


class LiveRouter:
    """Plain-Python holder of state, context and config for a live service.

    Parameters
    ----------
    policy : str or RoutingPolicy
        The policy (and its tunables).
    slots, weights, cost_per_1k, prior_latency_s
        See :func:`new_state`.
    seed : int
        Seed of the routing random generator.
    clock : callable
        Time source in seconds (default :func:`time.monotonic`).
    """

    def __init__(
        self,
        policy: str | RoutingPolicy,
        slots: Sequence[int],
        weights: Sequence[float] | None = None,
        cost_per_1k: Sequence[float] | None = None,
        prior_latency_s: Sequence[float] | None = None,
        seed: int = 0,
        clock=time.monotonic,
    ) -> None:
        self.policy = RoutingPolicy(policy) if isinstance(policy, str) else policy
        if not isinstance(self.policy, RoutingPolicy):
            raise TypeError(f"policy must be a str or RoutingPolicy, got {type(policy).__name__}")
        self.state = new_state(slots, weights, cost_per_1k, prior_latency_s)
        self.ctx = new_ctx(seed)
        self.cfg = self.policy.to_array()
        self.clock = clock

    def _now(self, now: float | None) -> float:
        return float(self.clock() if now is None else now)

    def choose(self, exclude: int = -1, now: float | None = None) -> int:
        """Provider index for the next attempt (-1 if every provider is unavailable)."""
        n = self.state.shape[0]
        if not -1 <= exclude < n:
            raise ValueError(f"exclude must be -1 or a provider index < {n}, got {exclude}")
        return int(
            choose_provider(
                self.policy.policy_id, self.state, self.ctx, self._now(now), self.cfg, exclude
            )
        )

    def _check(self, p: int) -> None:
        if not 0 <= p < self.state.shape[0]:
            raise ValueError(f"provider must be in [0, {self.state.shape[0]}), got {p}")

    def dispatched(self, p: int, now: float | None = None) -> None:
        """Record that an attempt was sent to provider ``p``."""
        self._check(p)
        on_dispatch(self.state, p, self._now(now))

    def completed(self, p: int, outcome: int, latency_s: float, now: float | None = None) -> None:
        """Record the end of an attempt at ``p`` with an ``OUTCOME_*`` code."""
        self._check(p)
        if outcome not in OUTCOMES.values():
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        if not latency_s >= 0:
            raise ValueError(f"latency_s must be >= 0, got {latency_s!r}")
        on_result(self.state, p, outcome, float(latency_s), self._now(now), self.cfg)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` (1-based)."""
        if attempt < 1:
            raise ValueError(f"attempt must be >= 1, got {attempt}")
        return float(backoff_delay(attempt, self.ctx, self.cfg))
