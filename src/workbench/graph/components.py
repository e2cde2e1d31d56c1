"""Connected components (weak components for directed graphs)."""

from __future__ import annotations

import numpy as np
from numba import njit

from workbench.config import FASTMATH, NUMBA_CACHE
from workbench.graph._validate import check_graph
from workbench.graph.csr import CSRGraph

__all__ = ["connected_components", "relabel_by_first_vertex"]


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _find(parent, u):
    while parent[u] != u:
        # path halving keeps the trees flat without a second pass
        parent[u] = parent[parent[u]]
        u = parent[u]
    return u


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _components_kernel(indptr, indices, directed):
    n = indptr.shape[0] - 1
    parent = np.arange(n, dtype=np.int64)
    for u in range(n):
        for j in range(indptr[u], indptr[u + 1]):
            v = indices[j]
            # an undirected edge is stored twice; one direction is enough
            if not directed and v >= u:
                break
            ru = _find(parent, u)
            rv = _find(parent, v)
            if ru != rv:
                # the smaller id becomes the root, so a root is its component's minimum
                if ru < rv:
                    parent[rv] = ru
                else:
                    parent[ru] = rv
    labels = np.empty(n, dtype=np.int64)
    count = 0
    for u in range(n):
        r = _find(parent, u)
        if r == u:
            labels[u] = count
            count += 1
        else:
            labels[u] = labels[r]
    return labels


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _relabel_kernel(labels, k):
    out = np.empty(labels.shape[0], dtype=np.int64)
    seen = np.full(k, -1, dtype=np.int64)
    count = 0
    for u in range(labels.shape[0]):
        c = labels[u]
        if seen[c] < 0:
            seen[c] = count
            count += 1
        out[u] = seen[c]
    return out


def relabel_by_first_vertex(labels: np.ndarray) -> np.ndarray:
    """Renumber arbitrary non-negative labels ``0, 1, ...`` in order of first appearance.

    Two partitions are equal exactly when their relabelled arrays are equal.

    Examples
    --------
    >>> relabel_by_first_vertex(np.array([7, 7, 3, 9, 3])).tolist()
    [0, 0, 1, 2, 1]

    Raises
    ------
    TypeError
        ``labels`` does not hold integers.
    ValueError
        ``labels`` is not one-dimensional or holds a negative label.
    """
    if isinstance(labels, (str, bytes)):
        raise TypeError(f"labels must be an array of integers, got {type(labels).__name__}")
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iu":
        raise TypeError(f"labels must hold integers, got dtype {arr.dtype}")
    if int(arr.min()) < 0:
        raise ValueError(f"labels must be non-negative, got {int(arr.min())}")
    top = int(arr.max())
    if top >= 2 * arr.size + 1024:
        # sparse labels: compress to 0..u-1 first so the kernel's table stays O(len(labels))
        values, inverse = np.unique(arr, return_inverse=True)
        return _relabel_kernel(inverse.astype(np.int64).ravel(), values.size)
    return _relabel_kernel(np.ascontiguousarray(arr, dtype=np.int64), top + 1)


def connected_components(g: CSRGraph) -> np.ndarray:
    """Component label of every vertex (weakly connected components if ``g`` is directed).

    Parameters
    ----------
    g : CSRGraph

    Returns
    -------
    numpy.ndarray of int64, shape (g.n,)
        Labels ``0..c-1``, numbered in order of each component's smallest vertex.

    Raises
    ------
    TypeError
        ``g`` is not a CSRGraph.

    Notes
    -----
    Union-find with path halving and union by smaller id: O(m α(n)).

    Examples
    --------
    >>> g = CSRGraph.from_edges([0, 3, 4], [1, 4, 2], n=6)
    >>> connected_components(g).tolist()
    [0, 0, 1, 1, 1, 2]
    """
    check_graph(g)
    return _components_kernel(g.indptr, g.indices, g.directed)
