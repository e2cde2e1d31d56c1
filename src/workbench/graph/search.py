"""The GraphRAG "graph query": a seed neighbourhood ranked by personalized PageRank."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from workbench.config import FASTMATH, NUMBA_CACHE
from workbench.graph._parallel import thread_limit
from workbench.graph._validate import as_vertex_array, check_graph, check_int, check_real
from workbench.graph.csr import CSRGraph, _induced_subgraph, _transpose_kernel
from workbench.graph.pagerank import ConvergenceError, _out_weight_kernel, _pagerank_kernel
from workbench.graph.traversal import _bfs_into, _sorted_reached

__all__ = ["local_search"]


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _neighbourhood_kernel(indptr, indices, rindptr, rindices, weights, has_w, seeds, k):
    n = indptr.shape[0] - 1
    # 1. bounded multi-source BFS (shared with k_hop): the sorted neighbourhood ids
    local = np.full(n, -1, dtype=indices.dtype)
    visited = np.empty(n, dtype=indices.dtype)
    nv = _bfs_into(indptr, indices, rindptr, rindices, seeds, k, local, visited)
    ids = _sorted_reached(local, visited, nv)
    # 2. induced subgraph (shared with CSRGraph.subgraph), relabelled 0..nv-1 in id order;
    # local[] holds hop counts >= 0 exactly on the visited vertices: reuse it as the map
    for i in range(nv):
        local[ids[i]] = i
    sub_ptr, sub_idx, sub_w = _induced_subgraph(
        indptr, indices, weights, has_w, ids, local, np.empty(0, dtype=indices.dtype)
    )
    # 3. the teleport vector: uniform over the distinct seeds, as networkx's
    # personalization={s: 1 for s in seeds} is
    pers = np.zeros(nv, dtype=np.float64)
    for i in range(seeds.shape[0]):
        pers[local[seeds[i]]] = 1.0
    pers /= pers.sum()
    return ids, sub_ptr, sub_idx, sub_w, pers


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
    neighbourhood of ``s`` vertices and ``e`` edges; a small neighbourhood touches nothing
    else, which is what makes it fast on a big graph (O(n) scans happen only once the
    neighbourhood holds hubs, where they are cheaper than following the hubs' edges). The
    BFS is :func:`workbench.graph.k_hop`'s, the PageRank iteration
    :func:`workbench.graph.pagerank`'s (parallel on a big neighbourhood when threads are
    free). Directed graphs use the cached :meth:`CSRGraph.reverse`.

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
    if g.weight_range()[0] < 0:
        raise ValueError("g has negative edge weights; local_search needs non-negative weights")
    has_w = g.weights is not None
    empty = np.empty(0, dtype=np.float64)
    r = g.reverse()  # the BFS's bottom-up steps read in-edges
    ids, sub_ptr, sub_idx, sub_w, pers = _neighbourhood_kernel(
        g.indptr, g.indices, r.indptr, r.indices, g.weights if has_w else empty, has_w,
        seeds_arr, k,
    )  # fmt: skip
    # 4. personalized PageRank on the subgraph: the same pull iteration as pagerank(), so
    # a directed subgraph is transposed; an undirected one is its own transpose
    if g.directed:
        r_ptr = np.zeros(sub_ptr.size, dtype=np.int64)
        r_idx = np.empty_like(sub_idx)
        r_w = np.empty(sub_w.size, dtype=np.float64)
        _transpose_kernel(sub_ptr, sub_idx, sub_w, has_w, r_ptr, r_idx, r_w)
    else:
        r_ptr, r_idx, r_w = sub_ptr, sub_idx, sub_w
    with thread_limit(ids.size + sub_idx.size):
        inv_out = _out_weight_kernel(sub_ptr, sub_w, has_w)
        x, iters = _pagerank_kernel(
            r_ptr, r_idx, r_w, has_w, inv_out, pers, pers, damping, tol, max_iter
        )
    if iters < 0:
        raise ConvergenceError(
            f"local_search PageRank did not converge to tol={tol} within max_iter={max_iter}"
        )
    # 5. rank: score descending, vertex id ascending on ties
    order = np.lexsort((ids, -x))
    ids, scores = ids[order], x[order]
    if exclude_seeds:
        keep = ~np.isin(ids, seeds_arr)
        ids, scores = ids[keep], scores[keep]
    ids, scores = ids[:top], scores[:top]
    return (ids, scores) if return_scores else ids
