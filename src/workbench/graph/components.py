"""Connected components (weak components for directed graphs)."""

from __future__ import annotations

import numpy as np
from numba import njit

from workbench.config import FASTMATH, NUMBA_CACHE
from workbench.graph._sort import merge_sort_pairs
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


# Afforest (Sutton, Ben-Nun & Bader, 2018): link every vertex to its first few neighbours,
# guess the giant component from a sample, then only vertices outside it need their
# remaining edges. On power-law graphs that skips nearly every edge.
_NEIGHBOUR_ROUNDS = 2
_SAMPLES = 1024


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _link(parent, u, v):
    ru = _find(parent, u)
    rv = _find(parent, v)
    if ru != rv:
        # the smaller id becomes the root, so a root is its component's minimum and
        # every parent pointer points to a smaller id
        if ru < rv:
            parent[rv] = ru
        else:
            parent[ru] = rv


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _compress(parent):
    # parent[u] <= u, so in increasing order parent[u]'s own pointer is already final
    for u in range(parent.shape[0]):
        parent[u] = parent[parent[u]]


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _most_frequent_root(parent):
    n = parent.shape[0]
    count = min(_SAMPLES, n)
    roots = np.empty(count, dtype=np.int64)
    for i in range(count):
        # a fixed multiplicative hash spreads the samples over the id range
        roots[i] = parent[(i * 2654435761) % n]
    roots, _ = merge_sort_pairs(roots, roots[:0].copy(), False)
    best = roots[0]
    best_run = 0
    run = 0
    for i in range(count):
        run = run + 1 if i > 0 and roots[i] == roots[i - 1] else 1
        if run > best_run:
            best_run = run
            best = roots[i]
    return best


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _components_kernel(indptr, indices, directed):
    n = indptr.shape[0] - 1
    parent = np.empty(n, dtype=indices.dtype)
    for u in range(n):
        parent[u] = u
    for r in range(_NEIGHBOUR_ROUNDS):
        for u in range(n):
            j = indptr[u] + r
            if j < indptr[u + 1]:
                _link(parent, u, indices[j])
        _compress(parent)
    # Skipping the giant component's vertices is only sound when every edge is stored in
    # both rows: an edge from the giant component to a vertex outside is then met from
    # the outside end. A directed graph stores it once, so there every edge is linked.
    giant = -1 if directed or n == 0 else _most_frequent_root(parent)
    for u in range(n):
        if parent[u] == giant:
            continue
        for j in range(indptr[u] + _NEIGHBOUR_ROUNDS, indptr[u + 1]):
            _link(parent, u, indices[j])
    _compress(parent)
    labels = np.empty(n, dtype=np.int64)
    count = 0
    for u in range(n):
        r = parent[u]
        if r == u:
            labels[u] = count
            count += 1
        else:
            labels[u] = labels[r]
    return labels


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _renumber_in_place(labels, k):
    """Relabel ``labels`` (values ``0..k-1``) in place to ``0..c-1`` in order of first
    appearance and return ``c``; the kernel behind :func:`relabel_by_first_vertex`, also
    called from the community kernels between levels."""
    seen = np.full(k, -1, dtype=np.int64)
    count = 0
    for u in range(labels.shape[0]):
        c = labels[u]
        if seen[c] < 0:
            seen[c] = count
            count += 1
        labels[u] = seen[c]
    return count


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
        out, k = inverse.astype(np.int64).ravel(), values.size
    else:
        out, k = arr.astype(np.int64), top + 1  # a copy: the caller's array is left alone
    _renumber_in_place(out, k)
    return out


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
    Union-find with path halving and union by smaller id, in Afforest's order: each vertex
    is first linked to two neighbours, then only vertices outside the component that a
    sample of 1024 vertices finds most often link their remaining edges. O(m α(n)) at
    worst; on a graph with a giant component close to O(n). Weak components of a directed
    graph link every edge.

    Examples
    --------
    >>> g = CSRGraph.from_edges([0, 3, 4], [1, 4, 2], n=6)
    >>> connected_components(g).tolist()
    [0, 0, 1, 1, 1, 2]
    """
    check_graph(g)
    return _components_kernel(g.indptr, g.indices, g.directed)
