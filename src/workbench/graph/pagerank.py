"""PageRank and personalized PageRank with ``networkx.pagerank``'s semantics."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from workbench.config import FASTMATH, NUMBA_CACHE, PARALLEL
from workbench.errors import WorkbenchError
from workbench.graph._parallel import thread_limit
from workbench.graph._validate import as_vertex_weights, check_graph, check_int, check_real
from workbench.graph.csr import CSRGraph

__all__ = ["ConvergenceError", "pagerank"]


class ConvergenceError(WorkbenchError, RuntimeError):
    """A power iteration did not reach its tolerance within ``max_iter`` iterations
    (networkx raises ``PowerIterationFailedConvergence`` in the same case)."""


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _out_weight_kernel(indptr, weights, has_w):
    n = indptr.shape[0] - 1
    inv = np.zeros(n, dtype=np.float64)
    for u in range(n):
        s = 0.0
        if has_w:
            for j in range(indptr[u], indptr[u + 1]):
                s += weights[j]
        else:
            s = float(indptr[u + 1] - indptr[u])
        if s != 0.0:
            inv[u] = 1.0 / s
    return inv


@njit(cache=NUMBA_CACHE, parallel=PARALLEL, fastmath=FASTMATH)
def _pagerank_kernel(rindptr, rindices, rweights, has_w, inv_out, p, dw, alpha, tol, max_iter):
    n = rindptr.shape[0] - 1
    x = np.full(n, 1.0 / n)
    # y = x / out-weight, the share each vertex sends along each out-edge
    y = x * inv_out
    dangling = 0.0
    for u in range(n):
        if inv_out[u] == 0.0:
            dangling += x[u]
    xn = np.empty(n, dtype=np.float64)
    yn = np.empty(n, dtype=np.float64)
    iters = -1
    for it in range(max_iter):
        err = 0.0
        dn = 0.0
        # pull: each vertex sums over its in-edges and writes only its own entries; one
        # parallel region per iteration (y and the dangling sum come out of the same loop)
        for v in prange(n):
            s = 0.0
            if has_w:
                for j in range(rindptr[v], rindptr[v + 1]):
                    s += y[rindices[j]] * rweights[j]
            else:
                for j in range(rindptr[v], rindptr[v + 1]):
                    s += y[rindices[j]]
            val = alpha * (s + dangling * dw[v]) + (1.0 - alpha) * p[v]
            err += abs(val - x[v])
            xn[v] = val
            yn[v] = val * inv_out[v]
            if inv_out[v] == 0.0:
                dn += val
        x, xn = xn, x
        y, yn = yn, y
        dangling = dn
        if err < n * tol:
            iters = it + 1
            break
    return x, iters


def pagerank(
    g: CSRGraph,
    damping: float = 0.85,
    personalization: Any = None,
    tol: float = 1e-6,
    max_iter: int = 100,
    *,
    dangling: Any = None,
    weighted: bool = True,
) -> np.ndarray:
    """PageRank by power iteration, with the semantics of ``networkx.pagerank``.

    Parameters
    ----------
    g : CSRGraph
        Undirected edges count in both directions; a self-loop is one out-edge.
    damping : float
        Probability of following an edge (networkx's ``alpha``), in [0, 1].
    personalization : array_like of shape (g.n,) or dict {vertex: weight}, optional
        Teleport distribution (normalised here); uniform when omitted.
    tol : float
        Stop when the L1 change of one iteration is below ``g.n * tol`` (networkx's
        criterion, so equal ``tol`` means equal stopping rule).
    max_iter : int
        Iteration limit.
    dangling : array_like or dict, optional
        Where the rank of vertices without out-edges goes; default ``personalization``.
    weighted : bool
        Use ``g.weights`` (networkx's ``weight="weight"``); ignored for unweighted graphs.

    Returns
    -------
    numpy.ndarray of float64, shape (g.n,)
        Ranks summing to 1 (up to the tolerance).

    Raises
    ------
    TypeError, ValueError
        Bad graph or arguments; negative weights; a personalization or dangling vector
        that is negative, of the wrong length, or sums to 0.
    ConvergenceError
        No convergence within ``max_iter`` iterations.

    Notes
    -----
    Each iteration is a parallel pull over in-edges, O(n + m); the number of iterations
    depends on ``damping`` and ``tol`` only, not on the graph size. An empty graph gives
    an empty array.

    Examples
    --------
    >>> g = CSRGraph.from_edges([0, 1, 2], [1, 2, 0], directed=True)
    >>> pagerank(g).round(4).tolist()
    [0.3333, 0.3333, 0.3333]
    >>> pagerank(g, personalization={0: 1}).argmax()
    np.int64(0)
    """
    check_graph(g)
    damping = check_real(damping, "damping", low=0.0, high=1.0)
    tol = check_real(tol, "tol", low=0.0, low_open=True)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    n = g.n
    if n == 0:
        return np.empty(0, dtype=np.float64)
    p = (
        np.full(n, 1.0 / n)
        if personalization is None
        else as_vertex_weights(personalization, n, "personalization")
    )
    dw = p if dangling is None else as_vertex_weights(dangling, n, "dangling")
    use_w = weighted and g.weights is not None
    if use_w and g.weights.size and g.weights.min() < 0:
        raise ValueError("g has negative edge weights; pagerank needs non-negative weights")
    empty = np.empty(0, dtype=np.float64)
    r = g.reverse()
    with thread_limit(g.n + g.nnz):
        inv_out = _out_weight_kernel(g.indptr, g.weights if use_w else empty, use_w)
        x, iters = _pagerank_kernel(
            r.indptr, r.indices, r.weights if use_w else empty, use_w, inv_out, p, dw,
            damping, tol, max_iter,
        )  # fmt: skip
    if iters < 0:
        raise ConvergenceError(
            f"pagerank did not converge to tol={tol} within max_iter={max_iter} iterations"
        )
    return x
