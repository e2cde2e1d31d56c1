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
def _bfs_into(indptr, indices, rindptr, rindices, sources, max_depth, dist, visited):
    # Multi-source BFS, direction-optimising, stopping after max_depth levels (< 0: none).
    # dist (all -1 on entry) gets each reached vertex's hop count; visited[:nv] lists the
    # reached vertices level by level, so the frontier is always the slice of the last
    # level and a small query never scans all of dist. Returns nv. Shared by bfs, k_hop
    # and local_search.
    n = dist.shape[0]
    nv = 0
    m_f = 0
    for i in range(sources.shape[0]):
        s = sources[i]
        if dist[s] < 0:
            dist[s] = 0
            visited[nv] = s
            nv += 1
            m_f += indptr[s + 1] - indptr[s]
    m_u = indices.shape[0] - m_f
    # the bottom-up steps test frontier membership on a bitmap: n / 8 bytes that stay in
    # L1/L2 cache, where reading dist misses it (a bottom-up step ~15% faster at SCALE 18)
    in_front = np.zeros((n + 63) >> 6, dtype=np.uint64)
    lo = 0
    level = 0
    bottom_up = False
    while nv > lo and (max_depth < 0 or level < max_depth):
        hi = nv
        if not bottom_up and m_f > m_u / _ALPHA:
            bottom_up = True
        elif bottom_up and hi - lo < n / _BETA:
            bottom_up = False
        m_f = 0
        if bottom_up:
            in_front[:] = 0
            for i in range(lo, hi):
                u = visited[i]
                in_front[u >> 6] |= np.uint64(1) << np.uint64(u & 63)
            # every unvisited vertex looks for a parent in the frontier and stops at the
            # first; the vertices found join the next level, not this frontier
            for v in range(n):
                if dist[v] < 0:
                    for j in range(rindptr[v], rindptr[v + 1]):
                        x = rindices[j]
                        if (in_front[x >> 6] >> np.uint64(x & 63)) & np.uint64(1):
                            dist[v] = level + 1
                            visited[nv] = v
                            nv += 1
                            m_f += indptr[v + 1] - indptr[v]
                            break
        else:
            for i in range(lo, hi):
                u = visited[i]
                for j in range(indptr[u], indptr[u + 1]):
                    v = indices[j]
                    if dist[v] < 0:
                        dist[v] = level + 1
                        visited[nv] = v
                        nv += 1
                        m_f += indptr[v + 1] - indptr[v]
        m_u -= m_f
        lo = hi
        level += 1
    return nv


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _bfs_kernel(indptr, indices, rindptr, rindices, sources, max_depth):
    n = indptr.shape[0] - 1
    dist = np.full(n, -1, dtype=np.int64)
    visited = np.empty(n, dtype=indices.dtype)
    _bfs_into(indptr, indices, rindptr, rindices, sources, max_depth, dist, visited)
    return dist


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _sorted_reached(dist, visited, nv):
    # The nv reached vertices in increasing order. A big neighbourhood is read off dist in
    # one pass; below n/16 vertices sorting the visited list (about log2(nv) passes over
    # nv) is cheaper than the n-long scan.
    n = dist.shape[0]
    out = np.empty(nv, dtype=np.int64)
    if nv * 16 >= n:
        p = 0
        for v in range(n):
            if dist[v] >= 0:
                out[p] = v
                p += 1
        return out
    for i in range(nv):
        out[i] = visited[i]
    out, _ = merge_sort_pairs(out, out[:0].copy(), False)
    return out


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _k_hop_kernel(indptr, indices, rindptr, rindices, sources, k):
    n = indptr.shape[0] - 1
    # the id type is enough for hop counts and keeps dist half as big in cache
    dist = np.full(n, -1, dtype=indices.dtype)
    visited = np.empty(n, dtype=indices.dtype)
    nv = _bfs_into(indptr, indices, rindptr, rindices, sources, k, dist, visited)
    return _sorted_reached(dist, visited, nv)


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
def _sssp_heap_kernel(indptr, indices, weights, has_w, source):
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


# Buckets are used while the weights span at most this ratio (max / min): the number of
# circular buckets, and the empty ones a sparse stretch of distances may have to skip,
# grow with it.
_BUCKET_MAX_RATIO = 16.0


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _sssp_bucket_kernel(indptr, indices, weights, has_w, source, delta, nb):
    # Dinitz's buckets. With every weight >= w_min, a vertex whose tentative distance is
    # within w_min of the smallest one can no longer improve, so a whole bucket is settled
    # at once, in any order, and no heap is needed. Buckets are delta = w_min / 2 wide:
    # relaxing from bucket b lands exactly >= 2 buckets on, and after rounding still at
    # least 1, so the bucket being settled never receives a vertex. Distances are the same
    # sums Dijkstra takes the minimum of, so the result is identical to the heap's.
    # Each queued vertex sits in a doubly linked list per bucket (n-long arrays, O(1) move
    # on decrease-key); live distances span < w_max, so nb circular buckets suffice.
    n = indptr.shape[0] - 1
    dist = np.full(n, np.inf)
    head = np.full(nb, -1, dtype=indices.dtype)
    nxt = np.empty(n, dtype=indices.dtype)
    prv = np.empty(n, dtype=indices.dtype)
    slot_of = np.full(n, -1, dtype=indices.dtype)  # bucket slot while queued, else -1
    dist[source] = 0.0
    head[0] = source
    nxt[source] = -1
    prv[source] = -1
    slot_of[source] = 0
    queued = 1
    b = 0
    while queued > 0:
        slot = b % nb
        while head[slot] >= 0:
            u = head[slot]
            head[slot] = nxt[u]
            if nxt[u] >= 0:
                prv[nxt[u]] = -1
            slot_of[u] = -1
            queued -= 1
            d = dist[u]
            for j in range(indptr[u], indptr[u + 1]):
                v = indices[j]
                nd = d + (weights[j] if has_w else 1.0)
                if nd < dist[v]:
                    old = slot_of[v]
                    if old >= 0:
                        if prv[v] >= 0:
                            nxt[prv[v]] = nxt[v]
                        else:
                            head[old] = nxt[v]
                        if nxt[v] >= 0:
                            prv[nxt[v]] = prv[v]
                    else:
                        queued += 1
                    dist[v] = nd
                    s = np.int64(nd / delta) % nb
                    first = head[s]
                    nxt[v] = first
                    prv[v] = -1
                    if first >= 0:
                        prv[first] = v
                    head[s] = v
                    slot_of[v] = s
        b += 1
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
    Multi-source BFS bounded at depth ``k``, direction-optimising like :func:`bfs` (a
    frontier holding hubs is finished bottom-up); a big neighbourhood is read off the
    distance array in id order instead of being sorted. O(size of the neighbourhood and
    its edges) plus O(n) to allocate the distance array. Directed graphs use the cached
    :meth:`CSRGraph.reverse`.

    Examples
    --------
    >>> g = CSRGraph.from_edges([0, 1, 2, 3], [1, 2, 3, 4])
    >>> k_hop(g, [0], 2).tolist(), k_hop(g, [0, 4], 1).tolist()
    ([0, 1, 2], [0, 1, 3, 4])
    """
    check_graph(g)
    seeds_arr = as_vertex_array(seeds, g.n, "seeds")
    k = check_int(k, "k", minimum=0)
    rindptr, rindices = _reverse_arrays(g)
    return _k_hop_kernel(g.indptr, g.indices, rindptr, rindices, seeds_arr, k)


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
    When the weights lie within a factor 16 of each other (unweighted graphs included),
    Dinitz's bucket algorithm: buckets half the smallest weight wide, each settled whole,
    O(n + m + D / w_min) for a largest distance D. Otherwise (zero weights, wider spreads)
    Dijkstra with a binary heap and lazy deletion: O((n + m) log m). Both take the same
    floating-point sums, so the distances are identical.

    Examples
    --------
    >>> g = CSRGraph.from_edges([0, 1, 0], [1, 2, 2], weights=[1.0, 1.0, 5.0])
    >>> sssp(g, 0).tolist()
    [0.0, 1.0, 2.0]
    """
    check_graph(g)
    source = as_vertex(source, g.n, "source")
    w = g.weights
    w_min, w_max = g.weight_range()
    if w_min < 0:
        raise ValueError(
            f"g has negative edge weights (min {w_min}); sssp needs non-negative weights"
        )
    has_w = w is not None
    w = w if has_w else np.empty(0, dtype=np.float64)
    # Subnormal weights would make the bucket width w_min / 2 round to zero: heap instead.
    if w_min >= np.finfo(np.float64).tiny and w_max <= _BUCKET_MAX_RATIO * w_min:
        delta = w_min / 2.0
        return _sssp_bucket_kernel(
            g.indptr, g.indices, w, has_w, source, delta, int(w_max / delta) + 3
        )
    return _sssp_heap_kernel(g.indptr, g.indices, w, has_w, source)
