"""Breadth-first search, k-hop neighbourhoods and single-source shortest paths."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from workbench.config import FASTMATH, NUMBA_CACHE
from workbench.graph._sort import merge_sort_pairs
from workbench.graph._validate import as_vertex, as_vertex_array, check_graph, check_int
from workbench.graph.csr import CSRGraph

__all__ = ["bfs", "k_hop", "sssp"]

# Beamer's direction-optimising switch points: go bottom-up once the frontier's edges
# exceed 1/ALPHA of the unexplored edges, back top-down once the frontier holds fewer
# than n/BETA vertices. The paper's values.
_ALPHA = 15.0
_BETA = 18.0


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _bottom_up_step(rindptr, rindices, dist, level, mark):
    # Every unvisited vertex looks for a parent in the frontier (dist == level) and is
    # marked; dist itself is only written in _apply_marks, after the scan.
    found = 0
    for v in range(dist.shape[0]):
        if dist[v] < 0:
            for j in range(rindptr[v], rindptr[v + 1]):
                if dist[rindices[j]] == level:
                    mark[v] = 1
                    found += 1
                    break
    return found


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _apply_marks(indptr, dist, level, mark):
    edges = 0
    for v in range(dist.shape[0]):
        if mark[v]:
            mark[v] = 0
            dist[v] = level + 1
            edges += indptr[v + 1] - indptr[v]
    return edges


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _bfs_kernel(indptr, indices, rindptr, rindices, sources, max_depth):
    n = indptr.shape[0] - 1
    dist = np.full(n, -1, dtype=np.int64)
    frontier = np.empty(n, dtype=np.int64)
    nxt = np.empty(n, dtype=np.int64)
    mark = np.zeros(n, dtype=np.uint8)
    nf = 0
    m_f = 0
    for i in range(sources.shape[0]):
        s = sources[i]
        if dist[s] < 0:
            dist[s] = 0
            frontier[nf] = s
            nf += 1
            m_f += indptr[s + 1] - indptr[s]
    m_u = indices.shape[0] - m_f
    level = 0
    bottom_up = False
    while nf > 0 and (max_depth < 0 or level < max_depth):
        if not bottom_up and m_f > m_u / _ALPHA:
            bottom_up = True
        elif bottom_up and nf < n / _BETA:
            bottom_up = False
            # the bottom-up steps kept no frontier list; rebuild it from dist
            nf = 0
            for v in range(n):
                if dist[v] == level:
                    frontier[nf] = v
                    nf += 1
        if bottom_up:
            nf = _bottom_up_step(rindptr, rindices, dist, level, mark)
            m_f = _apply_marks(indptr, dist, level, mark)
        else:
            nn = 0
            m_f = 0
            for i in range(nf):
                u = frontier[i]
                for j in range(indptr[u], indptr[u + 1]):
                    v = indices[j]
                    if dist[v] < 0:
                        dist[v] = level + 1
                        nxt[nn] = v
                        nn += 1
                        m_f += indptr[v + 1] - indptr[v]
            frontier, nxt = nxt, frontier
            nf = nn
        m_u -= m_f
        level += 1
    return dist


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _k_hop_small_into(indptr, indices, sources, k, dist, visited):
    # Top-down only, and the visited list instead of a scan of dist: a GraphRAG query
    # touches a few hundred vertices of a graph that may have millions.
    # dist (all -1 on entry) gets each reached vertex's hop count; visited[:nv] lists them
    # in visiting order. Returns nv. Shared with local_search, which reuses dist as a map.
    nv = 0
    for i in range(sources.shape[0]):
        s = sources[i]
        if dist[s] < 0:
            dist[s] = 0
            visited[nv] = s
            nv += 1
    lo = 0
    for level in range(k):
        hi = nv
        if lo == hi:
            break
        for i in range(lo, hi):
            u = visited[i]
            for j in range(indptr[u], indptr[u + 1]):
                v = indices[j]
                if dist[v] < 0:
                    dist[v] = level + 1
                    visited[nv] = v
                    nv += 1
        lo = hi
    return nv


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _k_hop_small_kernel(indptr, indices, sources, k, n):
    dist = np.full(n, -1, dtype=np.int32)
    visited = np.empty(n, dtype=np.int64)
    nv = _k_hop_small_into(indptr, indices, sources, k, dist, visited)
    out, _ = merge_sort_pairs(visited[:nv].copy(), visited[:0].copy(), False)
    return out


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _heap_push(keys, vals, size, key, val):
    i = size
    keys[i] = key
    vals[i] = val
    while i > 0:
        p = (i - 1) >> 1
        if keys[p] <= keys[i]:
            break
        keys[p], keys[i] = keys[i], keys[p]
        vals[p], vals[i] = vals[i], vals[p]
        i = p
    return size + 1


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _heap_pop(keys, vals, size):
    key = keys[0]
    val = vals[0]
    size -= 1
    keys[0] = keys[size]
    vals[0] = vals[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        c = left
        if left + 1 < size and keys[left + 1] < keys[left]:
            c = left + 1
        if keys[i] <= keys[c]:
            break
        keys[c], keys[i] = keys[i], keys[c]
        vals[c], vals[i] = vals[i], vals[c]
        i = c
    return key, val, size


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _sssp_kernel(indptr, indices, weights, has_w, source):
    n = indptr.shape[0] - 1
    dist = np.full(n, np.inf)
    done = np.zeros(n, dtype=np.uint8)
    # lazy deletion: at most one entry per relaxation plus the source
    cap = indices.shape[0] + 1
    keys = np.empty(cap, dtype=np.float64)
    vals = np.empty(cap, dtype=np.int64)
    dist[source] = 0.0
    size = _heap_push(keys, vals, 0, 0.0, source)
    while size > 0:
        d, u, size = _heap_pop(keys, vals, size)
        if done[u]:
            continue
        done[u] = 1
        for j in range(indptr[u], indptr[u + 1]):
            v = indices[j]
            nd = d + (weights[j] if has_w else 1.0)
            if nd < dist[v]:
                dist[v] = nd
                size = _heap_push(keys, vals, size, nd, v)
    return dist


def _reverse_arrays(g: CSRGraph) -> tuple[np.ndarray, np.ndarray]:
    r = g.reverse()
    return r.indptr, r.indices


def bfs(g: CSRGraph, source: int, *, max_depth: int | None = None) -> np.ndarray:
    """Hop distances from ``source`` along out-edges.

    Parameters
    ----------
    g : CSRGraph
    source : int
        Start vertex, in ``[0, g.n)``.
    max_depth : int, optional
        Stop after this many hops (vertices further away get -1).

    Returns
    -------
    numpy.ndarray of int64, shape (g.n,)
        Hops from ``source``; -1 where unreachable.

    Raises
    ------
    TypeError
        ``g`` is not a CSRGraph or ``source`` not an integer.
    ValueError
        ``source`` out of range (an empty graph has none).

    Notes
    -----
    Direction-optimising (Beamer, Asanović & Patterson, 2012): top-down steps while the
    frontier is small, bottom-up steps (each unvisited vertex looks for a parent in the
    frontier and stops at the first) while it is large. O(n + m), usually far fewer edge
    checks on low-diameter graphs. Single-threaded: it is already memory-bound, and a
    parallel step pays only on an idle machine. Directed graphs use the cached
    :meth:`CSRGraph.reverse` for the bottom-up steps.

    Examples
    --------
    >>> g = CSRGraph.from_edges([0, 1, 3], [1, 2, 4])
    >>> bfs(g, 0).tolist()
    [0, 1, 2, -1, -1]
    """
    check_graph(g)
    source = as_vertex(source, g.n, "source")
    depth = -1 if max_depth is None else check_int(max_depth, "max_depth", minimum=0)
    rindptr, rindices = _reverse_arrays(g)
    return _bfs_kernel(
        g.indptr, g.indices, rindptr, rindices, np.array([source], dtype=np.int64), depth
    )


def k_hop(g: CSRGraph, seeds: Any, k: int) -> np.ndarray:
    """Vertices within ``k`` hops (along out-edges) of any seed, seeds included.

    Parameters
    ----------
    g : CSRGraph
    seeds : int or array_like of int
        One or more vertex ids in ``[0, g.n)``; duplicates are fine, empty is not.
    k : int
        Hop limit, ``k >= 0`` (``k = 0`` returns the seeds).

    Returns
    -------
    numpy.ndarray of int64
        Sorted, unique vertex ids.

    Raises
    ------
    TypeError, ValueError
        Bad graph, empty or out-of-range ``seeds``, negative ``k``.

    Notes
    -----
    Multi-source BFS bounded at depth ``k``: O(size of the neighbourhood and its edges)
    plus one O(n) array allocation.

    Examples
    --------
    >>> g = CSRGraph.from_edges([0, 1, 2, 3], [1, 2, 3, 4])
    >>> k_hop(g, [0], 2).tolist(), k_hop(g, [0, 4], 1).tolist()
    ([0, 1, 2], [0, 1, 3, 4])
    """
    check_graph(g)
    seeds_arr = as_vertex_array(seeds, g.n, "seeds")
    k = check_int(k, "k", minimum=0)
    return _k_hop_small_kernel(g.indptr, g.indices, seeds_arr, k, g.n)


def sssp(g: CSRGraph, source: int) -> np.ndarray:
    """Weighted shortest-path distances from ``source`` (Dijkstra).

    Parameters
    ----------
    g : CSRGraph
        Unweighted graphs use weight 1 on every edge.
    source : int

    Returns
    -------
    numpy.ndarray of float64, shape (g.n,)
        Distances; ``inf`` where unreachable.

    Raises
    ------
    TypeError, ValueError
        Bad graph or ``source``; negative edge weights (Dijkstra would be wrong).

    Notes
    -----
    Binary heap with lazy deletion: O((n + m) log m).

    Examples
    --------
    >>> g = CSRGraph.from_edges([0, 1, 0], [1, 2, 2], weights=[1.0, 1.0, 5.0])
    >>> sssp(g, 0).tolist()
    [0.0, 1.0, 2.0]
    """
    check_graph(g)
    source = as_vertex(source, g.n, "source")
    w = g.weights
    if w is not None and w.size and w.min() < 0:
        raise ValueError(
            f"g has negative edge weights (min {w.min()}); sssp needs non-negative weights"
        )
    has_w = w is not None
    return _sssp_kernel(
        g.indptr, g.indices, w if has_w else np.empty(0, dtype=np.float64), has_w, source
    )
