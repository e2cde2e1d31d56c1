"""Input checks shared by the public graph functions.

numba does not bounds-check array accesses, so every public function runs its arguments
through these helpers before a kernel sees them: a bad vertex id must become a
``ValueError`` that names the argument, never a segfault or silent garbage.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = [
    "as_vertex",
    "as_vertex_array",
    "as_vertex_weights",
    "check_graph",
    "check_int",
    "check_real",
]


def check_graph(g: Any, name: str = "g"):
    """Return ``g`` if it is a :class:`CSRGraph`, else raise ``TypeError``."""
    from workbench.graph.csr import CSRGraph

    if not isinstance(g, CSRGraph):
        raise TypeError(f"{name} must be a CSRGraph, got {type(g).__name__}")
    return g


def check_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    """An integer argument (``bool`` rejected), optionally bounded below."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_real(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real argument within optional bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value}")
    return value


def as_vertex(value: Any, n: int, name: str) -> int:
    """A single vertex id in ``[0, n)``."""
    v = check_int(value, name)
    if not 0 <= v < n:
        raise ValueError(f"{name} must be a vertex id in [0, {n}), got {v}")
    return v


def as_vertex_array(values: Any, n: int, name: str, *, allow_empty: bool = False) -> np.ndarray:
    """A 1-D int64 array of vertex ids in ``[0, n)`` (a scalar counts as one id)."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be vertex ids, got {type(values).__name__}")
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        if not allow_empty:
            raise ValueError(f"{name} must not be empty")
        return np.empty(0, dtype=np.int64)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi >= n:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{name} must hold vertex ids in [0, {n}), got {bad}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def as_vertex_weights(values: Any, n: int, name: str) -> np.ndarray:
    """A non-negative weight per vertex with a positive sum, normalised to sum 1.

    ``values`` is an array of length ``n`` or a mapping ``{vertex: weight}`` (missing
    vertices weigh 0), the way networkx takes ``personalization``.
    """
    if isinstance(values, Mapping):
        arr = np.zeros(n, dtype=np.float64)
        for key, weight in values.items():
            arr[as_vertex(key, n, f"{name} key")] = check_real(weight, f"{name}[{key}]")
    else:
        arr = np.asarray(values)
        if arr.dtype == np.bool_ or arr.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
        if arr.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
        arr = np.array(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative")
    total = arr.sum()
    if total <= 0:
        raise ValueError(f"{name} must have a positive sum")
    return arr / total
