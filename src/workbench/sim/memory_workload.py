"""What a service does to its heap: the allocation stream fed to every runtime model.

A :class:`Workload` describes one service independently of the language it is written in:
how many requests arrive, how many bytes each allocates, how long those bytes stay
reachable, what stays resident regardless of traffic (caches, pools, loaded graphs and
model metadata) and what leaks. The runtime models in :mod:`workbench.sim.memory_runtimes`
decide what that costs in RSS and CPU.

Lifetimes are exponential, which keeps the simulator exact and cheap: an exponential
lifetime is memoryless, so every generation's live bytes decay by the same factor each step
whatever their age. Request-scoped bytes ("most die young") have mean lifetime
``request_duration_s``; the fraction ``survival_fraction`` lives on with mean lifetime
``survivor_lifetime_s`` (sessions, per-user caches, memoised results).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["Workload", "diurnal_curve"]

_MB = 1e6


def _check_number(name: str, value: Any, *, minimum: float = 0.0, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if x < minimum or (strict and x == minimum):
        op = ">" if strict else ">="
        raise ValueError(f"{name} must be {op} {minimum:g}, got {value!r}")
    return x


@dataclass(frozen=True)
class Workload:
    """One service's allocation behaviour, independent of its runtime.

    Parameters
    ----------
    rate_rps : float
        Mean request rate (requests per second); arrivals are Poisson. Multiplied by
        ``rate_curve`` when one is given.
    alloc_bytes_per_request : float
        Bytes allocated while serving one request.
    live_set_mb : float
        Steady live set in MB (1e6 bytes): caches, connection pools, loaded graph or model
        data. Resident from the start and never garbage.
    leak_bytes_per_request : float
        Bytes per request that stay reachable forever (the plan's "memory leaks in
        long-running services").
    request_duration_s : float
        Mean time a request holds its allocations (in-flight time). With the rate this gives
        the in-flight memory by Little's law: ``rate * alloc * duration``.
    survival_fraction : float
        Fraction of each request's bytes that outlive the request.
    survivor_lifetime_s : float
        Mean lifetime of those surviving bytes.
    cache_mb : float
        Part of ``live_set_mb`` that is a cache the memory-pressure detector may shrink.
    cpu_s_per_request : float
        Mutator CPU per request; the denominator of the GC CPU fraction.
    leak_start_s : float
        Simulated time at which the leak starts (a leak introduced by a deploy).
    native_mb : float
        Resident memory outside any managed heap that the service holds whatever its
        language (mapped model or index files, native libraries). Added to RSS as is; the
        runtime's own footprint is the runtime option ``baseline_mb``.
    rate_curve : tuple of two sequences, optional
        ``(times_s, multipliers)``: the rate is ``rate_rps`` times the piecewise-linear
        interpolation of ``multipliers`` (held constant outside ``times_s``). See
        :func:`diurnal_curve`.
    name : str
        Label used in tables and results.

    Raises
    ------
    ValueError
        Negative rates, sizes or lifetimes; fractions outside [0, 1]; ``cache_mb`` larger
        than ``live_set_mb``; a malformed ``rate_curve``.
    TypeError
        A parameter that is not a number.

    Examples
    --------
    >>> w = Workload(500, 64_000, 60.0, request_duration_s=0.05, survival_fraction=0.0)
    >>> round(w.in_flight_mb, 3)
    1.6
    """

    rate_rps: float
    alloc_bytes_per_request: float
    live_set_mb: float
    leak_bytes_per_request: float = 0.0
    request_duration_s: float = 0.05
    survival_fraction: float = 0.02
    survivor_lifetime_s: float = 30.0
    cache_mb: float = 0.0
    cpu_s_per_request: float = 0.001
    leak_start_s: float = 0.0
    native_mb: float = 0.0
    rate_curve: tuple[Sequence[float], Sequence[float]] | None = None
    name: str = "service"

    def __post_init__(self) -> None:
        for field_name in (
            "rate_rps", "alloc_bytes_per_request", "live_set_mb", "leak_bytes_per_request",
            "cache_mb", "cpu_s_per_request", "leak_start_s", "native_mb",
        ):  # fmt: skip
            object.__setattr__(
                self, field_name, _check_number(field_name, getattr(self, field_name))
            )
        for field_name in ("request_duration_s", "survivor_lifetime_s"):
            value = _check_number(field_name, getattr(self, field_name), strict=True)
            object.__setattr__(self, field_name, value)
        frac = _check_number("survival_fraction", self.survival_fraction)
        if frac > 1.0:
            raise ValueError(f"survival_fraction must be in [0, 1], got {frac!r}")
        object.__setattr__(self, "survival_fraction", frac)
        if self.cache_mb > self.live_set_mb:
            raise ValueError(
                f"cache_mb ({self.cache_mb:g}) must not exceed live_set_mb ({self.live_set_mb:g})"
            )
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a str, got {type(self.name).__name__}")
        if self.rate_curve is not None:
            object.__setattr__(self, "rate_curve", _check_curve(self.rate_curve))

    @property
    def in_flight_mb(self) -> float:
        """Expected bytes held by requests in flight (Little's law), in MB, at ``rate_rps``."""
        return (
            self.rate_rps
            * self.alloc_bytes_per_request
            * (1.0 - self.survival_fraction)
            * self.request_duration_s
            / _MB
        )

    @property
    def survivors_mb(self) -> float:
        """Expected bytes held by request survivors in steady state, in MB, at ``rate_rps``."""
        return (
            self.rate_rps
            * self.alloc_bytes_per_request
            * self.survival_fraction
            * self.survivor_lifetime_s
            / _MB
        )

    @property
    def steady_live_mb(self) -> float:
        """Expected reachable bytes without the leak: live set + in flight + survivors."""
        return self.live_set_mb + self.in_flight_mb + self.survivors_mb

    @property
    def leak_mb_per_s(self) -> float:
        """Leak slope at ``rate_rps`` in MB per second."""
        return self.rate_rps * self.leak_bytes_per_request / _MB

    def replace(self, **changes: Any) -> Workload:
        """A copy with some fields changed (validated again)."""
        values = asdict(self)
        values["rate_curve"] = self.rate_curve
        values.update(changes)
        return Workload(**values)

    def params(self) -> dict[str, Any]:
        """The fields as a JSON-friendly dict (for result provenance)."""
        d = asdict(self)
        if self.rate_curve is not None:
            d["rate_curve"] = [
                list(map(float, self.rate_curve[0])),
                list(map(float, self.rate_curve[1])),
            ]
        return d

    def curve_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(times_s, multipliers)`` as contiguous float64 arrays; ``([0], [1])`` if constant."""
        if self.rate_curve is None:
            return np.zeros(1), np.ones(1)
        return (
            np.ascontiguousarray(self.rate_curve[0], dtype=np.float64),
            np.ascontiguousarray(self.rate_curve[1], dtype=np.float64),
        )


def _check_curve(curve: Any) -> tuple[tuple[float, ...], tuple[float, ...]]:
    try:
        times, mults = curve
        t = np.asarray(times, dtype=np.float64)
        m = np.asarray(mults, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("rate_curve must be a pair (times_s, multipliers) of numbers") from None
    if t.ndim != 1 or m.ndim != 1 or t.size == 0 or t.size != m.size:
        raise ValueError("rate_curve: times_s and multipliers must be 1-D, non-empty, same length")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(m))):
        raise ValueError("rate_curve: values must be finite")
    if np.any(np.diff(t) <= 0):
        raise ValueError("rate_curve: times_s must be strictly increasing")
    if np.any(m < 0):
        raise ValueError("rate_curve: multipliers must be >= 0")
    return tuple(t.tolist()), tuple(m.tolist())


def diurnal_curve(
    amplitude: float = 0.5,
    period_s: float = 86_400.0,
    points: int = 48,
    peak_at_s: float = 50_400.0,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """A daily traffic shape for :attr:`Workload.rate_curve`: ``1 + amplitude * cos(...)``.

    Parameters
    ----------
    amplitude : float
        Relative swing, in [0, 1]: 0.5 means the peak is 1.5x and the trough 0.5x the mean.
    period_s : float
        Length of one cycle.
    points : int
        Knots per cycle (the curve is piecewise linear between them).
    peak_at_s : float
        Time of the peak within the cycle (default 14:00).

    Returns
    -------
    tuple
        ``(times_s, multipliers)`` covering one cycle, including both ends.

    Examples
    --------
    >>> t, m = diurnal_curve(0.5, period_s=100.0, points=4, peak_at_s=0.0)
    >>> [round(x, 2) for x in m]
    [1.5, 1.0, 0.5, 1.0, 1.5]
    """
    amplitude = _check_number("amplitude", amplitude)
    if amplitude > 1.0:
        raise ValueError(f"amplitude must be in [0, 1], got {amplitude!r}")
    period_s = _check_number("period_s", period_s, strict=True)
    if not isinstance(points, (int, np.integer)) or points < 2:
        raise ValueError(f"points must be an integer >= 2, got {points!r}")
    t = np.linspace(0.0, period_s, int(points) + 1)
    m = 1.0 + amplitude * np.cos(2.0 * np.pi * (t - peak_at_s) / period_s)
    return tuple(t.tolist()), tuple(np.round(m, 12).tolist())
