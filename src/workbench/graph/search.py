"""The GraphRAG "graph query": a seed neighbourhood ranked by personalized PageRank."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from workbench.config import FASTMATH, NUMBA_CACHE
from workbench.graph._sort import merge_sort_pairs
from workbench.graph._validate import as_vertex_array, check_graph, check_int, check_real
from workbench.graph.csr import CSRGraph, _induced_subgraph
from workbench.graph.pagerank import ConvergenceError
from workbench.graph.traversal import _k_hop_small_into

__all__ = ["local_search"]


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _local_search_kernel(indptr, indices, weights, has_w, seeds, k, alpha, tol, max_iter):
    n = indptr.shape[0] - 1
    # 1. bounded multi-source BFS (shared with k_hop), remembering the visited vertices
    local = np.full(n, -1, dtype=np.int64)
    visited = np.empty(n, dtype=np.int64)
    nv = _k_hop_small_into(indptr, indices, seeds, k, local, visited)
    ids, _ = merge_sort_pairs(visited[:nv].copy(), visited[:0].copy(), False)
    # 2. induced subgraph (shared with CSRGraph.subgraph), relabelled 0..nv-1 in id order;
    # local[] holds hop counts >= 0 exactly on the visited vertices: reuse it as the map
    for i in range(nv):
        local[ids[i]] = i
    sub_ptr, sub_idx, sub_w = _induced_subgraph(
        indptr, indices, weights, has_w, ids, local, np.empty(0, dtype=np.int64)
    )
    if not has_w:
        sub_w = np.ones(sub_idx.shape[0], dtype=np.float64)
    # 3. personalized PageRank on the subgraph, teleporting to the seeds
    # (networkx.pagerank's iteration, written as a push since the subgraph is small)
    inv_out = np.zeros(nv, dtype=np.float64)
    for i in range(nv):
        s = 0.0
        for j in range(sub_ptr[i], sub_ptr[i + 1]):
            s += sub_w[j]
        if s != 0.0:
            inv_out[i] = 1.0 / s
    pers = np.zeros(nv, dtype=np.float64)
    for i in range(seeds.shape[0]):
        pers[local[seeds[i]]] = 1.0
    pers /= pers.sum()
    x = np.full(nv, 1.0 / nv)
    converged = False
    for _ in range(max_iter):
        xn = np.zeros(nv, dtype=np.float64)
        dangling = 0.0
        for i in range(nv):
            if inv_out[i] == 0.0:
                dangling += x[i]
            else:
                share = x[i] * inv_out[i]
                for j in range(sub_ptr[i], sub_ptr[i + 1]):
                    xn[sub_idx[j]] += share * sub_w[j]
        err = 0.0
        for i in range(nv):
            val = alpha * (xn[i] + dangling * pers[i]) + (1.0 - alpha) * pers[i]
            err += abs(val - x[i])
            xn[i] = val
        x = xn
        if err < nv * tol:
            converged = True
            break
    # 4. rank: score descending, vertex id ascending on ties (stable sort of sorted ids)
    neg, ranked = merge_sort_pairs(-x, ids.copy(), True)
    return ranked, -neg, converged


def local_search(
    g: CSRGraph,
    seeds: Any,
    k: int = 2,
    top: int = 10,
    *,
    damping: float = 0.85,
    tol: float = 1e-6,
    max_iter: int = 100,
    exclude_seeds: bool = False,
    return_scores: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The GraphRAG local query: vertices near the seeds, ranked by personalized PageRank.

    The ``k``-hop neighbourhood of the seeds (along out-edges) is extracted as an induced
    subgraph, personalized PageRank teleporting uniformly to the seeds is run on it
    (``networkx.pagerank`` semantics, dangling rank back to the seeds), and the ``top``
    best-ranked vertices are returned.

    Parameters
    ----------
    g : CSRGraph
    seeds : int or array_like of int
        Query entities, vertex ids in ``[0, g.n)``; not empty.
    k : int
        Neighbourhood radius in hops (``>= 0``).
    top : int
        How many results at most (``>= 1``).
    damping, tol, max_iter
        As in :func:`workbench.graph.pagerank`.
    exclude_seeds : bool
        Leave the seeds themselves out of the results.
    return_scores : bool
        Also return the PageRank scores of the results.

    Returns
    -------
    ids : numpy.ndarray of int64
        Up to ``top`` vertex ids, best first (ties by smaller id).
    scores : numpy.ndarray of float64
        Only with ``return_scores=True``: their scores (the subgraph's ranks sum to 1).

    Raises
    ------
    TypeError, ValueError
        Bad graph, empty or out-of-range seeds, bad ``k``/``top``, negative weights.
    ConvergenceError
        The PageRank iteration did not converge.

    Notes
    -----
    O(n) to allocate the visited map, plus O(s + e) per PageRank iteration for a
    neighbourhood of ``s`` vertices and ``e`` edges; nothing outside the neighbourhood is
    touched, which is what makes it fast on a big graph.

    Examples
    --------
    >>> g = CSRGraph.from_edges([0, 0, 0, 1, 4], [1, 2, 3, 2, 5])
    >>> local_search(g, [0], k=1, top=3).tolist()
    [0, 1, 2]
    >>> local_search(g, [0], k=1, top=3, exclude_seeds=True).tolist()
    [1, 2, 3]
    """
    check_graph(g)
    seeds_arr = as_vertex_array(seeds, g.n, "seeds")
    k = check_int(k, "k", minimum=0)
    top = check_int(top, "top", minimum=1)
    damping = check_real(damping, "damping", low=0.0, high=1.0)
    tol = check_real(tol, "tol", low=0.0, low_open=True)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    w = g.weights
    if w is not None and w.size and w.min() < 0:
        raise ValueError("g has negative edge weights; local_search needs non-negative weights")
    has_w = w is not None
    ids, scores, converged = _local_search_kernel(
        g.indptr, g.indices, w if has_w else np.empty(0, dtype=np.float64), has_w,
        seeds_arr, k, damping, tol, max_iter,
    )  # fmt: skip
    if not converged:
        raise ConvergenceError(
            f"local_search PageRank did not converge to tol={tol} within max_iter={max_iter}"
        )
    if exclude_seeds:
        keep = ~np.isin(ids, seeds_arr)
        ids, scores = ids[keep], scores[keep]
    ids, scores = ids[:top], scores[:top]
    return (ids, scores) if return_scores else ids
