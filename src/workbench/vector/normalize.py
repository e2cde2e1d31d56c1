"""L2 normalisation of embedding rows."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from workbench.config import FASTMATH, NUMBA_CACHE, PARALLEL
from workbench.vector._checks import as_vectors

__all__ = ["normalize", "row_sqnorms"]


# Below this many elements the serial kernel runs: a parallel region's fork/join costs
# more than the work, and far more when the 2 cores are shared with other processes.
PARALLEL_MIN_ELEMENTS = 1 << 20


def _normalize_py(x, out, norms):
    n, d = x.shape
    for i in prange(n):
        # float64 accumulation: float32 sums of 1000+ squares lose the last digits
        acc = 0.0
        for j in range(d):
            v = np.float64(x[i, j])
            acc += v * v
        nrm = np.sqrt(acc)
        norms[i] = nrm
        if nrm > 0.0:
            inv = 1.0 / nrm
            for j in range(d):
                out[i, j] = np.float32(x[i, j] * inv)
        else:
            for j in range(d):
                out[i, j] = 0.0


def _sqnorm_py(x, out):
    n, d = x.shape
    for i in prange(n):
        acc = 0.0
        for j in range(d):
            v = np.float64(x[i, j])
            acc += v * v
        out[i] = acc


_normalize_serial = njit(cache=NUMBA_CACHE, fastmath=FASTMATH)(_normalize_py)
_normalize_parallel = njit(cache=NUMBA_CACHE, parallel=PARALLEL, fastmath=FASTMATH)(_normalize_py)
_sqnorm_serial = njit(cache=NUMBA_CACHE, fastmath=FASTMATH)(_sqnorm_py)
_sqnorm_parallel = njit(cache=NUMBA_CACHE, parallel=PARALLEL, fastmath=FASTMATH)(_sqnorm_py)


def _normalize_kernel(x, out, norms):
    big = x.size >= PARALLEL_MIN_ELEMENTS
    (_normalize_parallel if big else _normalize_serial)(x, out, norms)


def _sqnorm_kernel(x, out):
    (_sqnorm_parallel if x.size >= PARALLEL_MIN_ELEMENTS else _sqnorm_serial)(x, out)


def normalize(x: np.ndarray) -> np.ndarray:
    """Scale each row of ``x`` to unit L2 norm.

    Parameters
    ----------
    x : array_like, shape (n, dim) or (dim,)
        Real vectors; converted to float32.

    Returns
    -------
    numpy.ndarray of float32, same shape as ``x``
        Rows of norm 1. A zero row stays a zero row (explicitly, not NaN), so its cosine
        similarity with anything is 0.

    Raises
    ------
    TypeError
        ``x`` is not real-valued (bool, complex, object, string).
    ValueError
        ``x`` is not 1-D or 2-D, has dimension 0, contains NaN or inf, or holds values too
        large for float32.

    Notes
    -----
    O(n * dim) time, one output array; norms are accumulated in float64.

    Examples
    --------
    >>> normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    array([[0.6, 0.8],
           [0. , 0. ]], dtype=float32)
    """
    one = np.ndim(x) == 1
    with np.errstate(over="ignore"):  # an overflowing cast is reported below as a ValueError
        arr = as_vectors(x, "x", allow_1d=True, allow_empty=True, check_finite=False)
    out = np.empty_like(arr)
    norms = np.empty(arr.shape[0], dtype=np.float64)
    _normalize_kernel(arr, out, norms)
    # a NaN or inf anywhere in a row makes that row's norm non-finite: no extra pass needed
    if not np.isfinite(norms).all():
        # error path only: tell a finite value beyond float32's range from a real NaN/inf
        src = np.asarray(x)
        if src.dtype.kind == "f" and src.dtype.itemsize > 4 and np.isfinite(src).all():
            raise ValueError("x has values too large for float32 (they overflow to inf)")
        raise ValueError("x contains NaN or inf")
    return out[0] if one else out


def row_sqnorms(x: np.ndarray) -> np.ndarray:
    """Squared L2 norm of each row of a float32 matrix, in float64 (internal helper: the
    caller has validated ``x``; a non-finite row gives a non-finite norm).

    Examples
    --------
    >>> row_sqnorms(np.array([[3.0, 4.0]], dtype=np.float32))
    array([25.])
    """
    out = np.empty(x.shape[0], dtype=np.float64)
    _sqnorm_kernel(x, out)
    return out
