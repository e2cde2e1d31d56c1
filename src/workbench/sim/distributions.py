"""Random-variable descriptions for the simulators, and their numba sampler.

A :class:`Dist` is a small frozen description (deterministic, exponential, lognormal by
mean and coefficient of variation, or empirical from samples). The engine cannot take
Python objects, so :func:`encode` packs a list of them into flat arrays and
:func:`sample` draws from row ``i`` of those arrays inside compiled code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from workbench.config import FASTMATH, NUMBA_CACHE
from workbench.sim.rng import exponential, standard_normal, uniform

__all__ = ["DIST_KINDS", "Dist", "DistTable", "encode", "sample"]

DET, EXP, LOGNORMAL, EMPIRICAL = 0, 1, 2, 3
#: Name -> kind id of the supported distributions.
DIST_KINDS: dict[str, int] = {
    "det": DET,
    "exp": EXP,
    "lognormal": LOGNORMAL,
    "empirical": EMPIRICAL,
}


@dataclass(frozen=True)
class Dist:
    """A non-negative random variable.

    Build with the class methods: ``Dist.det(0.1)``, ``Dist.exp(0.1)``,
    ``Dist.lognormal(0.1, cv=2.0)``, ``Dist.empirical([0.08, 0.11, 0.3])``.

    Examples
    --------
    >>> Dist.lognormal(2.0, cv=0.5).mean
    2.0
    >>> Dist.exp(3.0).scv
    1.0
    """

    kind: str
    mean_value: float
    cv: float = 0.0
    samples: tuple[float, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if self.kind not in DIST_KINDS:
            raise ValueError(f"kind must be one of {sorted(DIST_KINDS)}, got {self.kind!r}")
        if not (math.isfinite(self.mean_value) and self.mean_value >= 0):
            raise ValueError(f"mean must be a finite number >= 0, got {self.mean_value!r}")
        if not (math.isfinite(self.cv) and self.cv >= 0):
            raise ValueError(f"cv must be a finite number >= 0, got {self.cv!r}")

    @classmethod
    def det(cls, value: float) -> Dist:
        """Always ``value``."""
        return cls("det", _num(value, "value"), 0.0)

    @classmethod
    def exp(cls, mean: float) -> Dist:
        """Exponential with the given mean (cv = 1)."""
        return cls("exp", _num(mean, "mean"), 1.0 if mean > 0 else 0.0)

    @classmethod
    def lognormal(cls, mean: float, cv: float) -> Dist:
        """Lognormal with the given mean and coefficient of variation (std / mean)."""
        mean = _num(mean, "mean")
        if mean == 0 and cv != 0:
            raise ValueError("a lognormal with mean 0 must have cv 0")
        return cls("lognormal", mean, _num(cv, "cv"))

    @classmethod
    def empirical(cls, samples: Sequence[float] | np.ndarray) -> Dist:
        """Resample uniformly from observed values (for example measured latencies)."""
        arr = np.asarray(samples, dtype=np.float64).ravel()
        if arr.size == 0:
            raise ValueError("samples must not be empty")
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError("samples must be finite and >= 0")
        mean = float(arr.mean())
        cv = float(arr.std() / mean) if mean > 0 else 0.0
        return cls("empirical", mean, cv, tuple(arr.tolist()))

    @property
    def mean(self) -> float:
        """Expected value."""
        return self.mean_value

    @property
    def scv(self) -> float:
        """Squared coefficient of variation, Var / mean**2 (what Pollaczek–Khinchine needs)."""
        return self.cv**2


def _num(x: float, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a number, got {type(x).__name__}")
    x = float(x)
    if not (math.isfinite(x) and x >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {x!r}")
    return x


@dataclass(frozen=True)
class DistTable:
    """Flat arrays describing several :class:`Dist`: what the compiled engine reads.

    Row ``i``: ``kind[i]``; ``p[i, 0], p[i, 1]`` are (value, -) for det, (mean, -) for exp,
    (mu, sigma) of the underlying normal for lognormal, and (offset, length) into
    ``values`` for empirical.
    """

    kind: np.ndarray
    p: np.ndarray
    values: np.ndarray


def encode(dists: Sequence[Dist]) -> DistTable:
    """Pack distributions into a :class:`DistTable`.

    Examples
    --------
    >>> t = encode([Dist.det(1.0), Dist.empirical([1.0, 3.0])])
    >>> t.kind.tolist(), t.values.tolist()
    ([0, 3], [1.0, 3.0])
    """
    n = len(dists)
    kind = np.zeros(n, dtype=np.int64)
    p = np.zeros((n, 2), dtype=np.float64)
    values: list[float] = []
    for i, d in enumerate(dists):
        if not isinstance(d, Dist):
            raise TypeError(f"dists[{i}] must be a Dist, got {type(d).__name__}")
        kind[i] = DIST_KINDS[d.kind]
        if d.kind in ("det", "exp"):
            p[i, 0] = d.mean
        elif d.kind == "lognormal":
            if d.mean == 0:
                kind[i] = DET
            else:
                sigma2 = math.log1p(d.cv**2)
                p[i, 0] = math.log(d.mean) - sigma2 / 2
                p[i, 1] = math.sqrt(sigma2)
        else:
            p[i, 0] = len(values)
            p[i, 1] = len(d.samples)
            values.extend(d.samples)
    return DistTable(kind, p, np.asarray(values if values else [0.0], dtype=np.float64))


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH, inline="always")
def sample(kind, p, values, i, ctx):
    """Draw one value from row ``i`` of an encoded table (see :class:`DistTable`)."""
    k = kind[i]
    if k == DET:
        return p[i, 0]
    if k == EXP:
        return exponential(ctx, p[i, 0])
    if k == LOGNORMAL:
        return math.exp(p[i, 0] + p[i, 1] * standard_normal(ctx))
    off = int(p[i, 0])
    n = int(p[i, 1])
    j = int(uniform(ctx) * n)
    if j >= n:  # guards the (impossible in exact arithmetic) u * n == n rounding case
        j = n - 1
    return values[off + j]
