"""A tiny counter-based random number generator that numba and plain Python share.

The router simulator and the live ai-core service draw random numbers through the same
functions, so they cannot depend on numba's hidden per-thread generator state. The state
is one ``uint64`` word in an array (``ctx[0]``) that the caller owns; the generator is
SplitMix64 (Steele, Lea and Flood, 2014), which passes BigCrush and needs one add and
three multiply-xorshift steps per draw.

Every integer constant is a ``np.uint64``: numba promotes ``uint64 op int64`` to
``float64``, which would silently destroy the generator.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from workbench.config import FASTMATH, NUMBA_CACHE

__all__ = [
    "exponential",
    "new_ctx",
    "next_u64",
    "splitmix64",
    "standard_normal",
    "uniform",
    "uniform_from_state",
]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV_2_53 = 1.0 / 9007199254740992.0


def new_ctx(seed: int, size: int = 2) -> np.ndarray:
    """A fresh generator context: ``uint64`` array whose word 0 is the SplitMix64 state.

    Words after the first are free for the caller (the routing policies keep their
    round-robin cursor in word 1).

    Parameters
    ----------
    seed : int
        Any non-negative integer below 2**64.
    size : int
        Length of the context array (at least 1).

    Returns
    -------
    numpy.ndarray
        ``uint64`` array of length ``size``.

    Examples
    --------
    >>> ctx = new_ctx(42)
    >>> a = uniform(ctx); b = uniform(new_ctx(42))
    >>> a == b and 0.0 <= a < 1.0
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= int(seed) < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    ctx = np.zeros(size, dtype=np.uint64)
    ctx[0] = np.uint64(int(seed))
    return ctx


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH, inline="always")
def next_u64(ctx):
    """Advance ``ctx[0]`` and return the next 64 random bits."""
    z = ctx[0] + _GOLDEN
    ctx[0] = z
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def splitmix64(state):
    """The same generator on a scalar state: return (next state, 64 random bits).

    For hot loops, where a state kept in a local variable is cheaper than one in an array.
    """
    z = state + _GOLDEN
    state = z
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return state, z ^ (z >> _S31)


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def uniform_from_state(state):
    """Return (next state, a double uniform on [0, 1)) from a scalar ``np.uint64`` state."""
    state, bits = splitmix64(state)
    return state, float(bits >> _S11) * _INV_2_53


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH, inline="always")
def uniform(ctx):
    """A double uniform on [0, 1) with 53 random bits."""
    return float(next_u64(ctx) >> _S11) * _INV_2_53


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH, inline="always")
def exponential(ctx, mean):
    """An exponential variate with the given mean (inversion; ``1 - u`` is in (0, 1])."""
    return -mean * math.log(1.0 - uniform(ctx))


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH, inline="always")
def standard_normal(ctx):
    """A standard normal variate (Box–Muller; the second variate is discarded for simplicity)."""
    u1 = 1.0 - uniform(ctx)
    u2 = uniform(ctx)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
