"""Input validation shared by the vector functions: nothing invalid reaches a kernel."""

from __future__ import annotations

import numpy as np

__all__ = ["as_vectors", "check_k", "check_metric"]

METRICS = ("ip", "cosine", "l2")


def check_metric(metric: object) -> str:
    """Return ``metric`` if it is a known metric name, else raise naming the argument."""
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a string, one of {METRICS}; got {type(metric).__name__}")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}; got {metric!r}")
    return metric


def check_k(k: object, n: int, name: str = "k") -> int:
    """Return ``k`` as an int in ``[1, n]``, else raise naming the argument."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {type(k).__name__}")
    k = int(k)
    if k < 1:
        raise ValueError(f"{name} must be >= 1, got {k}")
    if k > n:
        raise ValueError(f"{name}={k} is larger than the number of base vectors ({n})")
    return k


def as_vectors(
    x: object,
    name: str,
    *,
    dim: int | None = None,
    allow_1d: bool = False,
    allow_empty: bool = False,
    check_finite: bool = True,
) -> np.ndarray:
    """Return ``x`` as a C-contiguous float32 matrix ``(rows, dim)`` or raise naming ``name``.

    Real floating and integer dtypes are accepted (converted to float32, copied only when
    needed); bool, complex, object and string arrays raise :class:`TypeError`.
    ``check_finite=False`` skips the NaN/inf scan for callers that detect non-finite values
    later on a cheaper path (the exact search finds them in its scores).
    """
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers (float32 preferred); got dtype {arr.dtype}")
    if arr.ndim == 1 and allow_1d:
        arr = arr[np.newaxis, :]
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (rows, dim){' or one 1-D vector' if allow_1d else ''}; "
            f"got shape {arr.shape}"
        )
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has dimension 0")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name} has dimension {arr.shape[1]}, expected {dim}")
    if arr.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} is empty (0 rows)")
    if arr.dtype.kind == "f" and arr.dtype.itemsize > 4:
        big = np.abs(arr[np.isfinite(arr)]) if check_finite else None
        if big is not None and big.size and big.max() > np.finfo(np.float32).max:
            raise ValueError(f"{name} has values too large for float32")
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if check_finite and not np.isfinite(out).all():
        raise ValueError(f"{name} contains NaN or inf")
    return out
