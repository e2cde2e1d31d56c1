"""Community detection: label propagation, Louvain, Leiden, and modularity.

Weights and self-loops follow networkx's modularity convention: an undirected self-loop
of weight ``w`` adds ``2w`` to its vertex's degree and ``w`` to the internal weight
(``A_ii = 2w`` in the matrix form Louvain works with).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from workbench.config import FASTMATH, NUMBA_CACHE
from workbench.graph._validate import check_graph, check_int, check_real
from workbench.graph.components import _renumber_in_place, relabel_by_first_vertex
from workbench.graph.csr import CSRGraph

__all__ = ["label_propagation", "leiden", "louvain", "modularity"]


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _requeue_changed_neighbours(indptr, indices, u, labels, new, queued, queue, head, size):
    """After ``u`` moved to ``new``, put its neighbours outside ``new`` back on the circular
    work queue (once each); returns the queue's new size. Shared by label propagation and
    Louvain's local moving, whose queues work the same way."""
    n = queue.shape[0]
    for j in range(indptr[u], indptr[u + 1]):
        v = indices[j]
        if not queued[v] and labels[v] != new:
            queued[v] = 1
            tail = head + size
            if tail >= n:
                tail -= n
            queue[tail] = v
            size += 1
    return size


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _modularity_kernel(indptr, indices, weights, has_w, labels, k, directed, gamma):
    n = indptr.shape[0] - 1
    internal = np.zeros(k, dtype=np.float64)
    out_w = np.zeros(k, dtype=np.float64)
    in_w = np.zeros(k, dtype=np.float64)
    total = 0.0
    for u in range(n):
        cu = labels[u]
        for j in range(indptr[u], indptr[u + 1]):
            v = indices[j]
            w = weights[j] if has_w else 1.0
            if not directed and v == u:
                w = 2.0 * w
            cv = labels[v]
            out_w[cu] += w
            in_w[cv] += w
            total += w
            if cu == cv:
                internal[cu] += w
    if total == 0.0:
        return np.nan
    q = 0.0
    for c in range(k):
        q += internal[c] / total - gamma * out_w[c] * in_w[c] / (total * total)
    return q


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _lpa_kernel(indptr, indices, weights, has_w, seed, max_iter):
    n = indptr.shape[0] - 1
    np.random.seed(seed)
    labels = np.arange(n, dtype=np.int64)
    score = np.zeros(n, dtype=np.float64)
    seen = np.zeros(n, dtype=np.uint8)
    touched = np.empty(n, dtype=np.int64)
    best = np.empty(n, dtype=np.int64)
    # Active-vertex queue (as NetworKit's PLP keeps active nodes): all vertices in random
    # order first, then only neighbours of a vertex that changed whose label now differs
    # from it; those are the only ones whose best label can have changed.
    queue = np.random.permutation(n)
    queued = np.ones(n, dtype=np.uint8)
    head = 0
    size = n
    visits = 0
    max_visits = max_iter * n
    while size > 0 and visits < max_visits:
        u = queue[head]
        head = head + 1 if head + 1 < n else 0
        size -= 1
        queued[u] = 0
        visits += 1
        nt = 0
        for j in range(indptr[u], indptr[u + 1]):
            v = indices[j]
            if v == u:
                continue
            c = labels[v]
            if not seen[c]:
                seen[c] = 1
                touched[nt] = c
                nt += 1
            score[c] += weights[j] if has_w else 1.0
        if nt == 0:
            continue
        top = -1.0
        for t in range(nt):
            if score[touched[t]] > top:
                top = score[touched[t]]
        nb = 0
        keep = False
        for t in range(nt):
            c = touched[t]
            if score[c] == top:
                best[nb] = c
                nb += 1
                if c == labels[u]:
                    keep = True
        for t in range(nt):
            score[touched[t]] = 0.0
            seen[touched[t]] = 0
        # keeping the current label on a tie is what lets the propagation terminate
        if not keep:
            new = best[np.random.randint(0, nb)]
            labels[u] = new
            size = _requeue_changed_neighbours(
                indptr, indices, u, labels, new, queued, queue, head, size
            )
    return labels, visits


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _local_moving(indptr, indices, weights, k, m2, gamma, comm, max_visits, allow_empty):
    """Move single vertices to their best neighbouring community until none gains.

    Queue-based (Traag, Waltman & van Eck's fast local move): every vertex is queued once
    in random order, and a vertex that moves re-queues those neighbours that are not in
    its new community, since only their gains changed. With ``allow_empty`` a vertex may
    also leave for an empty community (Leiden needs this: starting from a non-singleton
    partition, a badly attached vertex must be able to split off; Louvain starts every
    level from singletons and keeps its published behaviour without it). ``comm`` holds
    labels below ``n`` and is updated in place; returns the number of moves and the
    modularity gained.
    """
    n = indptr.shape[0] - 1
    tot = np.zeros(n, dtype=np.float64)
    members = np.zeros(n, dtype=np.int64)
    for i in range(n):
        tot[comm[i]] += k[i]
        members[comm[i]] += 1
    # unused labels, as a stack; any one of them stands for "a new community"
    empty = np.empty(n, dtype=np.int64)
    n_empty = 0
    if allow_empty:
        for c in range(n - 1, -1, -1):
            if members[c] == 0:
                empty[n_empty] = c
                n_empty += 1
    nw = np.zeros(n, dtype=np.float64)
    seen = np.zeros(n, dtype=np.uint8)
    touched = np.empty(n, dtype=np.int64)
    queue = np.random.permutation(n)
    queued = np.ones(n, dtype=np.uint8)
    head = 0
    size = n
    # a move must gain more than this much modularity; without it rounding noise could
    # move a vertex back and forth forever
    eps = 0.5e-12 * m2
    moves = 0
    gained = 0.0
    visits = 0
    while size > 0 and visits < max_visits:
        i = queue[head]
        head = head + 1 if head + 1 < n else 0
        size -= 1
        queued[i] = 0
        visits += 1
        ci = comm[i]
        ki = k[i]
        nt = 0
        for j in range(indptr[i], indptr[i + 1]):
            c = comm[indices[j]]
            if not seen[c]:
                seen[c] = 1
                touched[nt] = c
                nt += 1
            nw[c] += weights[j]
        tot[ci] -= ki
        scale = gamma * ki / m2
        stay = nw[ci] - tot[ci] * scale
        best = ci
        best_gain = stay + eps
        # an empty community gains exactly 0; it is offered first so that a neighbouring
        # community has to do strictly better, and only when i is not alone already
        # (then staying is the same thing)
        if allow_empty and members[ci] > 1 and best_gain < 0.0:
            best = empty[n_empty - 1]
            best_gain = 0.0
        for t in range(nt):
            c = touched[t]
            gain = nw[c] - tot[c] * scale
            if gain > best_gain:
                best_gain = gain
                best = c
        for t in range(nt):
            nw[touched[t]] = 0.0
            seen[touched[t]] = 0
        tot[best] += ki
        if best != ci:
            if allow_empty and members[best] == 0:
                n_empty -= 1  # best is the empty label on top of the stack
            members[best] += 1
            members[ci] -= 1
            if allow_empty and members[ci] == 0:
                empty[n_empty] = ci
                n_empty += 1
            comm[i] = best
            moves += 1
            gained += 2.0 * (best_gain - stay) / m2
            size = _requeue_changed_neighbours(
                indptr, indices, i, comm, best, queued, queue, head, size
            )
    return moves, gained


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _aggregate(indptr, indices, weights, loops, comm, nc):
    n = indptr.shape[0] - 1
    # members of each community, by counting sort
    start = np.zeros(nc + 1, dtype=np.int64)
    for i in range(n):
        start[comm[i] + 1] += 1
    for c in range(nc):
        start[c + 1] += start[c]
    members = np.empty(n, dtype=np.int64)
    pos = start[:-1].copy()
    for i in range(n):
        members[pos[comm[i]]] = i
        pos[comm[i]] += 1
    new_loops = np.zeros(nc, dtype=np.float64)
    acc = np.zeros(nc, dtype=np.float64)
    seen = np.zeros(nc, dtype=np.uint8)
    touched = np.empty(nc, dtype=np.int64)
    new_indptr = np.zeros(nc + 1, dtype=np.int64)
    cols = np.empty(indices.shape[0], dtype=np.int64)
    vals = np.empty(indices.shape[0], dtype=np.float64)
    p = 0
    for c in range(nc):
        nt = 0
        for t in range(start[c], start[c + 1]):
            i = members[t]
            new_loops[c] += loops[i]
            for j in range(indptr[i], indptr[i + 1]):
                d = comm[indices[j]]
                if d == c:
                    # both directions of an internal edge land here: A_cc convention
                    new_loops[c] += weights[j]
                    continue
                if not seen[d]:
                    seen[d] = 1
                    touched[nt] = d
                    nt += 1
                acc[d] += weights[j]
        for t in range(nt):
            d = touched[t]
            cols[p] = d
            vals[p] = acc[d]
            p += 1
            acc[d] = 0.0
            seen[d] = 0
        new_indptr[c + 1] = p
    return new_indptr, cols[:p].copy(), vals[:p].copy(), new_loops


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _level_zero(indptr, indices, weights, has_w):
    """The input graph in the form every level works on: rows without self-loops, ``A_ii``
    in ``loops`` (an undirected self-loop of weight w counts 2w), weights always present;
    returns ``(indptr, indices, weights, loops)``."""
    n = indptr.shape[0] - 1
    loops = np.zeros(n, dtype=np.float64)
    cnt = 0
    for u in range(n):
        for j in range(indptr[u], indptr[u + 1]):
            if indices[j] != u:
                cnt += 1
    ip = np.zeros(n + 1, dtype=np.int64)
    ix = np.empty(cnt, dtype=np.int64)
    wx = np.empty(cnt, dtype=np.float64)
    p = 0
    for u in range(n):
        for j in range(indptr[u], indptr[u + 1]):
            w = weights[j] if has_w else 1.0
            if indices[j] == u:
                loops[u] += 2.0 * w
            else:
                ix[p] = indices[j]
                wx[p] = w
                p += 1
        ip[u + 1] = p
    return ip, ix, wx, loops


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _strengths(indptr, weights, loops):
    """Weighted degree of every vertex of a level (self-loops included)."""
    k = loops.copy()
    for u in range(indptr.shape[0] - 1):
        for j in range(indptr[u], indptr[u + 1]):
            k[u] += weights[j]
    return k


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _louvain_kernel(indptr, indices, weights, has_w, gamma, seed, threshold, max_levels, refine):
    n = indptr.shape[0] - 1
    np.random.seed(seed)
    ip, ix, wx, loops = _level_zero(indptr, indices, weights, has_w)
    assignment = np.arange(n, dtype=np.int64)
    k0 = _strengths(ip, wx, loops)
    ip0, ix0, wx0 = ip, ix, wx
    max_visits = 1000 * (n + 1)
    for _ in range(max_levels):
        nl = ip.shape[0] - 1
        k = _strengths(ip, wx, loops)
        m2 = k.sum()
        if m2 == 0.0:
            break
        comm = np.arange(nl, dtype=np.int64)
        moves, gained = _local_moving(ip, ix, wx, k, m2, gamma, comm, max_visits, False)
        if moves == 0:
            break
        nc = _renumber_in_place(comm, comm.shape[0])
        for u in range(n):
            assignment[u] = comm[assignment[u]]
        if gained < threshold:
            break
        ip, ix, wx, loops = _aggregate(ip, ix, wx, loops, comm, nc)
    # Refinement: one more local-moving phase on the original vertices, starting from the
    # final partition, moves single vertices the coarse levels could only move in blocks.
    m2 = k0.sum()
    if refine and m2 > 0.0:
        _local_moving(ip0, ix0, wx0, k0, m2, gamma, assignment, max_visits, False)
    return assignment


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _refine(indptr, indices, weights, k, m2, gamma, theta, comm, nc):
    """Leiden's refinement: split every community of ``comm`` into well-connected parts.

    Starts from singletons; visits vertices in random order, and a vertex that is still
    alone and well connected to its community (edge weight to the rest of it at least
    ``gamma * k_v * (K_C - k_v) / m2``) joins a part of the same community that is itself
    well connected, chosen at random with probability proportional to
    ``exp(gain / theta)`` among parts it would not lower the quality by joining (staying
    alone gains 0 and is always a candidate). The gain is ``w(v, part) - gamma * k_v *
    K_part / m2``, in edge-weight units as in Traag et al.'s and igraph's code. A vertex
    only joins a part it has an edge to, so every part is connected. Returns the parts
    (labels ``0..nr-1`` in order of first vertex) and their number.
    """
    n = indptr.shape[0] - 1
    part = np.arange(n, dtype=np.int64)
    part_k = k.copy()
    # weight of the edges from each part to the rest of its community
    part_out = np.zeros(n, dtype=np.float64)
    comm_k = np.zeros(nc, dtype=np.float64)
    for v in range(n):
        comm_k[comm[v]] += k[v]
        for j in range(indptr[v], indptr[v + 1]):
            if comm[indices[j]] == comm[v]:
                part_out[v] += weights[j]
    merged = np.zeros(n, dtype=np.uint8)  # part holds more than its first vertex
    w_to = np.zeros(n, dtype=np.float64)
    seen = np.zeros(n, dtype=np.uint8)
    touched = np.empty(n, dtype=np.int64)
    cum = np.empty(n, dtype=np.float64)
    scale = gamma / m2
    order = np.random.permutation(n)
    for t0 in range(n):
        v = order[t0]
        r = part[v]
        c = comm[v]
        kc = comm_k[c]
        if merged[r] or part_out[r] < part_k[r] * (kc - part_k[r]) * scale:
            continue
        # take v out: its part is empty now and stays the "alone" candidate
        part_k[r] = 0.0
        part_out[r] = 0.0
        touched[0] = r
        seen[r] = 1
        nt = 1
        for j in range(indptr[v], indptr[v + 1]):
            u = indices[j]
            if comm[u] != c:
                continue
            s = part[u]
            if not seen[s]:
                seen[s] = 1
                touched[nt] = s
                nt += 1
            w_to[s] += weights[j]
        best_gain = 0.0
        for t in range(nt):
            s = touched[t]
            if part_out[s] >= part_k[s] * (kc - part_k[s]) * scale:
                gain = w_to[s] - k[v] * part_k[s] * scale
                if gain > best_gain:
                    best_gain = gain
        # exp of gains relative to the best: the same probabilities without overflow
        total = 0.0
        for t in range(nt):
            s = touched[t]
            if part_out[s] >= part_k[s] * (kc - part_k[s]) * scale:
                gain = w_to[s] - k[v] * part_k[s] * scale
                if gain >= 0.0:
                    total += np.exp((gain - best_gain) / theta)
            cum[t] = total
        x = np.random.random() * total
        chosen = r
        for t in range(nt):
            if x < cum[t]:
                chosen = touched[t]
                break
        for t in range(nt):
            w_to[touched[t]] = 0.0
            seen[touched[t]] = 0
        part_k[chosen] += k[v]
        for j in range(indptr[v], indptr[v + 1]):
            u = indices[j]
            if comm[u] == c:
                # edges from v into its new part become internal, the others external
                if part[u] == chosen:
                    part_out[chosen] -= weights[j]
                else:
                    part_out[chosen] += weights[j]
        if chosen != r:
            part[v] = chosen
            merged[chosen] = 1
    return part, _renumber_in_place(part, part.shape[0])


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _split_disconnected(indptr, indices, comm):
    """The connected pieces of every community (labels ``0..nr-1``, first vertex first)."""
    n = indptr.shape[0] - 1
    piece = np.full(n, -1, dtype=np.int64)
    stack = np.empty(n, dtype=np.int64)
    nr = 0
    for s in range(n):
        if piece[s] >= 0:
            continue
        piece[s] = nr
        stack[0] = s
        top = 1
        while top > 0:
            top -= 1
            u = stack[top]
            for j in range(indptr[u], indptr[u + 1]):
                v = indices[j]
                if piece[v] < 0 and comm[v] == comm[u]:
                    piece[v] = nr
                    stack[top] = v
                    top += 1
        nr += 1
    return piece, nr


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _leiden_kernel(indptr, indices, weights, has_w, gamma, seed, theta, max_iterations):
    n = indptr.shape[0] - 1
    np.random.seed(seed)
    ip0, ix0, wx0, loops0 = _level_zero(indptr, indices, weights, has_w)
    k0 = _strengths(ip0, wx0, loops0)
    m2 = k0.sum()
    labels = np.arange(n, dtype=np.int64)
    if m2 == 0.0:
        return labels
    max_visits = 1000 * (n + 1)
    # Every node of every level is a connected set of vertices (refined parts are, and so
    # are the pieces of the fallback below), and the levels stop only when every
    # community is a single node: so every community returned is connected.
    for _ in range(max_iterations):
        ip, ix, wx, loops, k = ip0, ix0, wx0, loops0, k0
        comm = labels.copy()
        node = np.arange(n, dtype=np.int64)  # vertex -> its node on the current level
        moved = False
        while True:
            nl = ip.shape[0] - 1
            if _local_moving(ip, ix, wx, k, m2, gamma, comm, max_visits, True)[0] > 0:
                moved = True
            nc = _renumber_in_place(comm, comm.shape[0])
            if nc == nl:
                break
            part, nr = _refine(ip, ix, wx, k, m2, gamma, theta, comm, nc)
            if nr == nl:
                # The random merging merged nothing (rare). igraph and leidenalg then
                # aggregate by the communities themselves; aggregating by their connected
                # pieces makes the same progress without risking a disconnected node.
                part, nr = _split_disconnected(ip, ix, comm)
                if nr == nl:
                    # no community has two adjacent nodes: splitting them all into
                    # single nodes cannot lower modularity and keeps them connected
                    comm = np.arange(nl, dtype=np.int64)
                    break
            # the aggregate starts from the unrefined partition, not from singletons
            start = np.empty(nr, dtype=np.int64)
            for v in range(nl):
                start[part[v]] = comm[v]
            for u in range(n):
                node[u] = part[node[u]]
            ip, ix, wx, loops = _aggregate(ip, ix, wx, loops, part, nr)
            k = _strengths(ip, wx, loops)
            comm = start
        for u in range(n):
            labels[u] = comm[node[u]]
        if not moved:
            break
    return labels


def _community_input(g: CSRGraph, name: str) -> tuple[np.ndarray, bool]:
    check_graph(g)
    if g.directed:
        raise ValueError(f"{name} needs an undirected graph; convert with g.to_undirected() first")
    w = g.weights
    if w is not None and w.size and w.min() < 0:
        raise ValueError(f"g has negative edge weights; {name} needs non-negative weights")
    return (w if w is not None else np.empty(0, dtype=np.float64)), w is not None


def modularity(g: CSRGraph, labels: Any, resolution: float = 1.0) -> float:
    """Modularity of a partition, as ``networkx.community.modularity`` computes it.

    Parameters
    ----------
    g : CSRGraph
        Directed graphs use the directed definition (out- times in-weights).
    labels : array_like of int, shape (g.n,)
        Community of every vertex (any integer labels).
    resolution : float
        γ; values below 1 favour larger communities.

    Returns
    -------
    float

    Raises
    ------
    TypeError, ValueError
        Bad graph, labels of the wrong shape or type, or a graph without edges
        (modularity is undefined there).

    Notes
    -----
    ``Q = Σ_c [L_c / m - γ (d_c / 2m)^2]``; O(n + m).

    Examples
    --------
    >>> g = CSRGraph.from_edges([0, 1, 3, 4], [1, 2, 4, 5])
    >>> round(modularity(g, [0, 0, 0, 1, 1, 1]), 4)
    0.5
    """
    check_graph(g)
    resolution = check_real(resolution, "resolution")
    arr = np.asarray(labels)
    if arr.shape != (g.n,):
        raise ValueError(f"labels must have shape ({g.n},), got {arr.shape}")
    if arr.size and (arr.dtype == np.bool_ or arr.dtype.kind not in "iu"):
        raise TypeError(f"labels must hold integers, got dtype {arr.dtype}")
    _, dense = np.unique(arr, return_inverse=True)
    dense = np.ascontiguousarray(dense, dtype=np.int64).reshape(-1)
    w = g.weights
    has_w = w is not None
    q = _modularity_kernel(
        g.indptr, g.indices, w if has_w else np.empty(0, dtype=np.float64), has_w,
        dense, int(dense.max()) + 1 if dense.size else 0, g.directed, resolution,
    )  # fmt: skip
    if np.isnan(q):
        raise ValueError("g has no edges (or only zero weights): modularity is undefined")
    return float(q)


def label_propagation(g: CSRGraph, seed: int = 0, *, max_iter: int = 100) -> np.ndarray:
    """Communities by asynchronous label propagation (Raghavan, Albert & Kumara, 2007).

    Vertices are visited from a queue, in random order first; each takes the label
    carried by the largest (weighted) number of its neighbours, ties broken at random but
    keeping the current label when it is among the best. A vertex that changes label
    re-queues its neighbours that now differ from it. It stops when the queue is empty:
    then every vertex holds one of its neighbourhood's most frequent labels.

    Parameters
    ----------
    g : CSRGraph
        Undirected.
    seed : int
        The result is a function of ``g`` and ``seed``.
    max_iter : int
        Limit on vertex visits, in units of ``g.n`` (sweeps).

    Returns
    -------
    numpy.ndarray of int64, shape (g.n,)
        Labels ``0..c-1`` in order of each community's smallest vertex.

    Raises
    ------
    TypeError, ValueError
        Bad graph or arguments; directed graph; negative weights.

    Notes
    -----
    O(m) per sweep's worth of visits; after the first sweep only changed regions are
    revisited.

    Examples
    --------
    >>> g = CSRGraph.from_edges([0, 0, 1, 3, 3, 4], [1, 2, 2, 4, 5, 5])
    >>> label_propagation(g, seed=0).tolist()
    [0, 0, 0, 1, 1, 1]
    """
    w, has_w = _community_input(g, "label_propagation")
    seed = check_int(seed, "seed", minimum=0)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    labels, _ = _lpa_kernel(g.indptr, g.indices, w, has_w, seed, max_iter)
    return relabel_by_first_vertex(labels)


def louvain(
    g: CSRGraph,
    resolution: float = 1.0,
    seed: int = 0,
    *,
    threshold: float = 1e-7,
    max_levels: int = 100,
    refine: bool = True,
) -> np.ndarray:
    """Communities by the Louvain method (Blondel et al., 2008).

    Parameters
    ----------
    g : CSRGraph
        Undirected, optionally weighted.
    resolution : float
        γ of the modularity being maximised (> 0).
    seed : int
        Seeds the vertex visiting order; the result is a function of the arguments.
    threshold : float
        Stop when a level gains less modularity than this (networkx's ``threshold``).
    max_levels : int
        Aggregation levels at most.
    refine : bool
        After the last level, move single vertices once more starting from the final
        partition (never lowers modularity; usually raises it a little).

    Returns
    -------
    numpy.ndarray of int64, shape (g.n,)
        Labels ``0..c-1`` in order of each community's smallest vertex.

    Raises
    ------
    TypeError, ValueError
        Bad graph or arguments; directed graph; negative weights.

    Notes
    -----
    Each level moves single vertices to the neighbouring community with the best
    modularity gain, visiting them from a queue (random order first, then only the
    neighbours of vertices that moved), and then aggregates communities into vertices;
    O(m) per pass over the queue. Communities are not guaranteed connected (Leiden's
    refinement step would guarantee it). Vertices without edges stay alone.

    Examples
    --------
    >>> g = CSRGraph.from_edges([0, 0, 1, 3, 3, 4, 2], [1, 2, 2, 4, 5, 5, 3])
    >>> louvain(g).tolist()
    [0, 0, 0, 1, 1, 1]
    """
    w, has_w = _community_input(g, "louvain")
    resolution = check_real(resolution, "resolution", low=0.0, low_open=True)
    seed = check_int(seed, "seed", minimum=0)
    threshold = check_real(threshold, "threshold", low=0.0)
    max_levels = check_int(max_levels, "max_levels", minimum=1)
    if g.n == 0:
        return np.empty(0, dtype=np.int64)
    labels = _louvain_kernel(
        g.indptr, g.indices, w, has_w, resolution, seed, threshold, max_levels, refine
    )
    return relabel_by_first_vertex(labels)


def leiden(
    g: CSRGraph,
    resolution: float = 1.0,
    seed: int = 0,
    *,
    theta: float = 0.01,
    max_iterations: int = 100,
) -> np.ndarray:
    """Communities by the Leiden algorithm (Traag, Waltman & van Eck, 2019), maximising
    modularity; unlike Louvain's, every community it returns is connected.

    Parameters
    ----------
    g : CSRGraph
        Undirected, optionally weighted.
    resolution : float
        γ of the modularity being maximised (> 0).
    seed : int
        Seeds the visiting orders and the refinement's random merges; the result is a
        function of the arguments.
    theta : float
        Randomness of the refinement (> 0): a vertex joins a sub-community with
        probability proportional to ``exp(gain / theta)``, the gain in edge-weight units;
        small values merge almost greedily. 0.01 is the paper's and igraph's default.
    max_iterations : int
        Runs of the whole algorithm at most, each starting from the previous one's
        partition; it stops as soon as a run moves no vertex or node. Graphs with clear
        communities settle in a few runs; R-MAT SCALE 16, with weak ones, takes 60-80
        runs (20 s) for about 2% more modularity than 2 runs (1 s, igraph's default).

    Returns
    -------
    numpy.ndarray of int64, shape (g.n,)
        Labels ``0..c-1`` in order of each community's smallest vertex.

    Raises
    ------
    TypeError, ValueError
        Bad graph or arguments; directed graph; negative weights.

    Notes
    -----
    Each level (1) moves single nodes to the neighbouring or an empty community with the
    best modularity gain, from a queue that after a first pass in random order holds only
    neighbours of nodes that moved (Louvain's local moving, shared with :func:`louvain`);
    (2) refines every community into well-connected sub-communities, merging singletons
    at random into parts of the same community they are connected to; (3) aggregates the
    refined parts into nodes, the aggregate starting from the unrefined partition.
    Levels stop when every community is a single node, so communities are unions of
    parts, which are connected. Should a refinement merge nothing, the level aggregates
    each community's connected pieces instead (igraph and leidenalg aggregate the whole
    community, which may be disconnected). A run that ends with no move leaves every
    vertex where no single move raises modularity. O(m) per level and pass over the
    queue. Vertices without edges stay alone.

    Examples
    --------
    >>> g = CSRGraph.from_edges([0, 0, 1, 3, 3, 4, 2], [1, 2, 2, 4, 5, 5, 3])
    >>> leiden(g).tolist()
    [0, 0, 0, 1, 1, 1]
    """
    w, has_w = _community_input(g, "leiden")
    resolution = check_real(resolution, "resolution", low=0.0, low_open=True)
    seed = check_int(seed, "seed", minimum=0)
    theta = check_real(theta, "theta", low=0.0, low_open=True)
    max_iterations = check_int(max_iterations, "max_iterations", minimum=1)
    if g.n == 0:
        return np.empty(0, dtype=np.int64)
    labels = _leiden_kernel(g.indptr, g.indices, w, has_w, resolution, seed, theta, max_iterations)
    return relabel_by_first_vertex(labels)
