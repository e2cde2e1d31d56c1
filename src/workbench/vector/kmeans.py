"""Seeded k-means (k-means++ initialisation) for the IVF coarse quantiser."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from workbench.config import FASTMATH, NUMBA_CACHE, PARALLEL
from workbench.vector import _selection as sel
from workbench.vector._checks import as_vectors, check_k
from workbench.vector.topk import exact_search

__all__ = ["kmeans"]

_CHUNK = 1024  # points per parallel work item in k-means++
_UPDATE_PARTS = 16  # fixed partial-sum count: the result must not depend on the thread count
_SPLIT_EPS = 1.0 / 1024.0


@njit(cache=NUMBA_CACHE, parallel=PARALLEL, fastmath=FASTMATH)
def _kmeanspp_kernel(XT, first, u, chosen):
    # XT is the sample transposed (dim, m): the inner loop runs over points, which vectorises
    # without reassociating any sum (no fastmath needed)
    d, m = XT.shape
    k = chosen.shape[0]
    mind = np.full(m, np.inf, dtype=np.float32)
    chosen[0] = first
    nchunks = (m + _CHUNK - 1) // _CHUNK
    for c in range(k - 1):
        cen = XT[:, chosen[c]].copy()
        for ch in prange(nchunks):
            lo = ch * _CHUNK
            hi = min(m, lo + _CHUNK)
            acc = np.zeros(hi - lo, dtype=np.float32)
            for j in range(d):
                cj = cen[j]
                for i in range(lo, hi):
                    diff = XT[j, i] - cj
                    acc[i - lo] += diff * diff
            for i in range(lo, hi):
                if acc[i - lo] < mind[i]:
                    mind[i] = acc[i - lo]
        total = 0.0  # serial sum: identical for any thread count
        for i in range(m):
            total += mind[i]
        if total <= 0.0:
            # every point sits on a chosen centre: duplicates, split apart later
            chosen[c + 1] = min(m - 1, int(u[c] * m))
            continue
        target = u[c] * total
        run = 0.0
        pick = -1
        for i in range(m):
            if mind[i] > 0.0:
                run += mind[i]
                pick = i
                if run >= target:
                    break
        chosen[c + 1] = pick


@njit(cache=NUMBA_CACHE, parallel=PARALLEL, fastmath=FASTMATH)
def _update_kernel(X, assign, k, centroids):
    n, d = X.shape
    parts = _UPDATE_PARTS
    sums = np.zeros((parts, k, d), dtype=np.float64)
    counts = np.zeros((parts, k), dtype=np.int64)
    step = (n + parts - 1) // parts
    for p in prange(parts):
        for i in range(p * step, min(n, (p + 1) * step)):
            c = assign[i]
            counts[p, c] += 1
            for j in range(d):
                sums[p, c, j] += X[i, j]
    total = np.zeros(k, dtype=np.int64)
    for c in range(k):
        for p in range(parts):
            total[c] += counts[p, c]
        if total[c] > 0:
            for j in range(d):
                acc = 0.0
                for p in range(parts):
                    acc += sums[p, c, j]
                centroids[c, j] = acc / total[c]
    # an empty cluster takes half of the largest one (FAISS's rule): a copy nudged in
    # opposite directions, deterministic
    for c in range(k):
        if total[c] == 0:
            big = 0
            for c2 in range(k):
                if total[c2] > total[big]:
                    big = c2
            for j in range(d):
                v = centroids[big, j]
                if j % 2 == 0:
                    centroids[c, j] = v * (1.0 + _SPLIT_EPS)
                    centroids[big, j] = v * (1.0 - _SPLIT_EPS)
                else:
                    centroids[c, j] = v * (1.0 - _SPLIT_EPS)
                    centroids[big, j] = v * (1.0 + _SPLIT_EPS)
            total[c] = total[big] // 2
            total[big] -= total[c]
    return total


def kmeans(
    x: np.ndarray,
    k: int,
    *,
    seed: int = 0,
    n_iter: int = 10,
    max_points_per_centroid: int = 256,
    init_points_per_centroid: int = 16,
) -> np.ndarray:
    """Cluster ``x`` into ``k`` centroids by Lloyd's algorithm from a k-means++ start.

    Parameters
    ----------
    x : array_like, shape (n, dim)
        Points; ``n >= k``.
    k : int
        Number of centroids.
    seed : int
        Seeds the training sample and the k-means++ draws: the same seed gives the same
        centroids.
    n_iter : int
        Lloyd iterations (>= 0); stops early when no assignment changes.
    max_points_per_centroid : int
        Train on a random sample of at most ``k * max_points_per_centroid`` points (as FAISS
        does): beyond that, more points do not move the centroids, they only cost time.
    init_points_per_centroid : int
        k-means++ runs on a sub-sample of at most ``k * init_points_per_centroid`` points.

    Returns
    -------
    numpy.ndarray of float32, shape (k, dim)

    Raises
    ------
    TypeError, ValueError
        Invalid ``x`` (see :func:`~workbench.vector.topk`), ``k`` not in ``[1, n]``, a
        non-positive count, or a ``seed`` that is not an integer >= 0.

    Notes
    -----
    k-means++ costs O(k * m * dim) for its sub-sample of m points; each Lloyd iteration
    O(s * k * dim) for the training sample of s points, done as BLAS products with the
    exact search's blocked selection. An empty cluster takes half of the largest one.

    Examples
    --------
    >>> pts = np.array([[0, 0], [0, 1], [10, 10], [10, 11]], dtype=np.float32)
    >>> c = kmeans(pts, 2, seed=0)
    >>> sorted(c[:, 1].tolist())
    [0.5, 10.5]
    """
    X = as_vectors(x, "x")
    n = X.shape[0]
    k = check_k(k, n)
    for name, value, low in (
        ("seed", seed, 0),
        ("n_iter", n_iter, 0),
        ("max_points_per_centroid", max_points_per_centroid, 1),
        ("init_points_per_centroid", init_points_per_centroid, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    rng = np.random.default_rng(int(seed))
    if n > k * max_points_per_centroid:
        X = X[np.sort(rng.choice(n, size=k * max_points_per_centroid, replace=False))]
    m = min(X.shape[0], k * init_points_per_centroid)
    init = X if m == X.shape[0] else X[np.sort(rng.choice(X.shape[0], size=m, replace=False))]
    chosen = np.empty(k, dtype=np.int64)
    _kmeanspp_kernel(
        np.ascontiguousarray(init.T), int(rng.integers(m)), rng.random(max(k - 1, 1)), chosen
    )
    centroids = init[chosen].copy()
    assign = None
    for _ in range(n_iter):
        new = exact_search(X, centroids, 1, sel.MODE_L2)[1][:, 0]
        if assign is not None and np.array_equal(new, assign):
            break
        assign = new
        _update_kernel(X, assign, k, centroids)
    return centroids
