"""Seeded random graph generators: R-MAT (Graph500), Erdős–Rényi G(n, m), stochastic block model."""

from __future__ import annotations

import numpy as np
from numba import njit

from workbench.config import FASTMATH, NUMBA_CACHE
from workbench.graph._validate import check_int, check_real
from workbench.graph.csr import CSRGraph

__all__ = ["erdos_renyi", "rmat", "rmat_edges", "stochastic_block_model"]

# Edges are drawn in this many independently seeded chunks.
_RMAT_CHUNKS = 64


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_LOW32 = np.uint64(0xFFFFFFFF)


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _splitmix64(state):
    # SplitMix64 (Steele, Lea & Flood, 2014): tiny, fast, and the same stream on every
    # platform and numba version, unlike numba's np.random.
    state = state + _GOLDEN
    z = state
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return state, z ^ (z >> np.uint64(31))


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _rmat_kernel(scale, m, a, b, c, seed):
    src = np.empty(m, dtype=np.int64)
    dst = np.empty(m, dtype=np.int64)
    # quadrant thresholds on 32-bit uniforms: one 64-bit draw serves two levels
    two32 = 4294967296.0
    ta = np.uint64(a * two32)
    tab = np.uint64((a + b) * two32)
    tabc = np.uint64((a + b + c) * two32)
    step = (m + _RMAT_CHUNKS - 1) // _RMAT_CHUNKS
    for chunk in range(_RMAT_CHUNKS):
        # each chunk's stream is a function of (seed, chunk) alone, so the chunks could
        # run in parallel and still give the same graph
        state = np.uint64(seed) * np.uint64(_RMAT_CHUNKS) + np.uint64(chunk)
        lo = chunk * step
        hi = min(m, lo + step)
        for e in range(lo, hi):
            u = 0
            v = 0
            bits = np.uint64(0)
            for level in range(scale):
                if level % 2 == 0:
                    state, bits = _splitmix64(state)
                    r = bits & _LOW32
                else:
                    r = bits >> np.uint64(32)
                u <<= 1
                v <<= 1
                if r < ta:
                    pass
                elif r < tab:
                    v |= 1
                elif r < tabc:
                    u |= 1
                else:
                    u |= 1
                    v |= 1
            src[e] = u
            dst[e] = v
    return src, dst


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _relabel_kernel(src, dst, perm):
    for e in range(src.shape[0]):
        src[e] = perm[src[e]]
        dst[e] = perm[dst[e]]


def rmat_edges(
    scale: int,
    edge_factor: int = 16,
    seed: int = 0,
    *,
    a: float = 0.57,
    b: float = 0.19,
    c: float = 0.19,
) -> tuple[np.ndarray, np.ndarray]:
    """The raw R-MAT edge list (self-loops and duplicates included), vertex ids permuted.

    See :func:`rmat` for the parameters. Returns ``(src, dst)`` int64 arrays of length
    ``edge_factor * 2**scale``.
    """
    scale = check_int(scale, "scale", minimum=0)
    if scale > 40:
        raise ValueError(f"scale must be <= 40, got {scale}")
    edge_factor = check_int(edge_factor, "edge_factor", minimum=0)
    seed = check_int(seed, "seed", minimum=0)
    a = check_real(a, "a", low=0.0, high=1.0)
    b = check_real(b, "b", low=0.0, high=1.0)
    c = check_real(c, "c", low=0.0, high=1.0)
    if a + b + c > 1.0 + 1e-12:
        raise ValueError(f"a + b + c must be <= 1, got {a + b + c}")
    n = 1 << scale
    src, dst = _rmat_kernel(scale, edge_factor * n, a, b, c, seed)
    # Graph500 permutes vertex ids so that degree does not follow the id.
    perm = np.random.default_rng(seed).permutation(n).astype(np.int64)
    _relabel_kernel(src, dst, perm)
    return src, dst


def rmat(
    scale: int,
    edge_factor: int = 16,
    seed: int = 0,
    *,
    a: float = 0.57,
    b: float = 0.19,
    c: float = 0.19,
    directed: bool = False,
) -> CSRGraph:
    """An R-MAT (Kronecker) graph with the Graph500 parameters.

    Parameters
    ----------
    scale : int
        ``2**scale`` vertices.
    edge_factor : int
        ``edge_factor * 2**scale`` edges are drawn (before duplicates and self-loops are
        dropped).
    seed : int
        Non-negative seed; the graph is a function of the arguments only.
    a, b, c : float
        Quadrant probabilities (``d = 1 - a - b - c``); Graph500 uses 0.57, 0.19, 0.19.
    directed : bool
        Keep edge directions (default: undirected, as Graph500 BFS uses it).

    Returns
    -------
    CSRGraph
        Simple graph: self-loops and duplicate edges removed.

    Raises
    ------
    TypeError, ValueError
        Non-integer or negative ``scale``/``edge_factor``/``seed``; probabilities outside
        [0, 1] or summing past 1.

    Notes
    -----
    O(m * scale) to draw; the Graph500 reference additionally perturbs
    the probabilities per level ("noise"), which is left out here.

    Examples
    --------
    >>> g = rmat(8, seed=1)
    >>> g.n, g.num_edges < 16 * 256, g == rmat(8, seed=1)
    (256, True, True)
    """
    src, dst = rmat_edges(scale, edge_factor, seed, a=a, b=b, c=c)
    return CSRGraph.from_edges(src, dst, 1 << scale, directed=directed, remove_self_loops=True)


def erdos_renyi(n: int, m: int, seed: int = 0, *, directed: bool = False) -> CSRGraph:
    """A uniformly random simple graph G(n, m): ``m`` distinct edges, no self-loops.

    Parameters
    ----------
    n, m : int
        Vertices and edges; ``m`` at most ``n(n-1)/2`` (``n(n-1)`` directed).
    seed : int
    directed : bool

    Returns
    -------
    CSRGraph

    Raises
    ------
    ValueError
        ``m`` larger than the number of possible edges, or negative arguments.

    Examples
    --------
    >>> g = erdos_renyi(100, 250, seed=3)
    >>> g.n, g.num_edges, g.num_self_loops
    (100, 250, 0)
    """
    n = check_int(n, "n", minimum=0)
    m = check_int(m, "m", minimum=0)
    seed = check_int(seed, "seed", minimum=0)
    possible = n * (n - 1) if directed else n * (n - 1) // 2
    if m > possible:
        raise ValueError(f"m must be <= {possible} for n={n}, got {m}")
    rng = np.random.default_rng(seed)
    keys = np.empty(0, dtype=np.int64)
    # Rejection sampling of pair keys; dense requests fall back to a permutation of all pairs.
    if m > possible // 2:
        keys = rng.choice(possible, size=m, replace=False).astype(np.int64)
        u, v = _pair_from_index(keys, n, directed)
    else:
        while keys.size < m:
            draw = max(16, int(1.2 * (m - keys.size)) + 16)
            u = rng.integers(0, n, size=draw)
            v = rng.integers(0, n, size=draw)
            ok = u != v
            u, v = u[ok], v[ok]
            if not directed:
                u, v = np.minimum(u, v), np.maximum(u, v)
            new = u * n + v
            _, first = np.unique(np.concatenate([keys, new]), return_index=True)
            keys = np.concatenate([keys, new])[np.sort(first)]
        keys = keys[:m]
        u, v = keys // n, keys % n
    return CSRGraph.from_edges(u, v, n, directed=directed)


def _pair_from_index(idx: np.ndarray, n: int, directed: bool) -> tuple[np.ndarray, np.ndarray]:
    if directed:
        u = idx // (n - 1)
        v = idx % (n - 1)
        return u, v + (v >= u)
    # index over the upper triangle, row by row
    row_start = np.array([i * n - i * (i + 1) // 2 for i in range(n)], dtype=np.int64)
    u = np.searchsorted(row_start, idx, side="right") - 1
    v = idx - row_start[u] + u + 1
    return u, v


def stochastic_block_model(
    sizes: list[int] | np.ndarray,
    p_in: float,
    p_out: float,
    seed: int = 0,
) -> tuple[CSRGraph, np.ndarray]:
    """An undirected planted-partition graph and its ground-truth communities.

    Every pair inside a block is an edge with probability ``p_in``, every pair across
    blocks with probability ``p_out``, independently.

    Parameters
    ----------
    sizes : sequence of int
        Block sizes; vertices are numbered block by block.
    p_in, p_out : float
        Edge probabilities within and between blocks, in [0, 1].
    seed : int

    Returns
    -------
    graph : CSRGraph
    labels : numpy.ndarray of int64
        The block of each vertex.

    Notes
    -----
    O(n^2) pair draws, so meant for the test and benchmark sizes (up to ~10^4 vertices).

    Examples
    --------
    >>> g, labels = stochastic_block_model([5, 5], 1.0, 0.0)
    >>> g.num_edges, labels.tolist()
    (20, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    """
    sizes_arr = np.asarray(sizes)
    if sizes_arr.ndim != 1 or sizes_arr.size == 0:
        raise ValueError("sizes must be a non-empty sequence of block sizes")
    if sizes_arr.dtype.kind not in "iu" or np.any(sizes_arr < 0):
        raise ValueError("sizes must hold non-negative integers")
    p_in = check_real(p_in, "p_in", low=0.0, high=1.0)
    p_out = check_real(p_out, "p_out", low=0.0, high=1.0)
    seed = check_int(seed, "seed", minimum=0)
    labels = np.repeat(np.arange(sizes_arr.size, dtype=np.int64), sizes_arr)
    n = labels.size
    rng = np.random.default_rng(seed)
    src_parts, dst_parts = [], []
    # row by row keeps memory at O(n) per step
    for u in range(n - 1):
        same = labels[u + 1 :] == labels[u]
        prob = np.where(same, p_in, p_out)
        hit = np.nonzero(rng.random(n - u - 1) < prob)[0] + u + 1
        src_parts.append(np.full(hit.size, u, dtype=np.int64))
        dst_parts.append(hit.astype(np.int64))
    src = np.concatenate(src_parts) if src_parts else np.empty(0, dtype=np.int64)
    dst = np.concatenate(dst_parts) if dst_parts else np.empty(0, dtype=np.int64)
    return CSRGraph.from_edges(src, dst, n), labels
