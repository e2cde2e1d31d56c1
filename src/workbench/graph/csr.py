"""The immutable compressed-sparse-row graph every kernel works on.

A :class:`CSRGraph` holds ``indptr`` (int64, length ``n + 1``), ``indices`` (int32 when the
ids fit, else int64) and optional float64 ``weights``; row ``u`` lists the out-neighbours of
``u`` in increasing order without duplicates. An undirected graph stores each edge in both
rows and a self-loop once, which is the adjacency matrix networkx and scipy build
(``nx.to_scipy_sparse_array``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from workbench.config import FASTMATH, NUMBA_CACHE
from workbench.graph._sort import merge_sort_pairs
from workbench.graph._validate import as_vertex, as_vertex_array

__all__ = ["CSRGraph"]

# Rows this short are sorted by insertion sort: cheaper than numpy's sort and its allocation.
_SHORT_ROW = 32


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _count_rows_kernel(src, dst, n, symmetrize, drop_loops):
    indptr = np.zeros(n + 1, dtype=np.int64)
    for e in range(src.shape[0]):
        u = src[e]
        v = dst[e]
        if u == v and drop_loops:
            continue
        indptr[u + 1] += 1
        if symmetrize and u != v:
            indptr[v + 1] += 1
    for i in range(n):
        indptr[i + 1] += indptr[i]
    return indptr


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _fill_rows_kernel(src, dst, w, has_w, indptr, symmetrize, drop_loops, cols, vals):
    # Edges are placed in input order, so within a row equal columns keep input order:
    # "last one wins" for duplicate weights then means the last edge given.
    pos = indptr[:-1].copy()
    for e in range(src.shape[0]):
        u = src[e]
        v = dst[e]
        if u == v and drop_loops:
            continue
        cols[pos[u]] = v
        if has_w:
            vals[pos[u]] = w[e]
        pos[u] += 1
        if symmetrize and u != v:
            cols[pos[v]] = u
            if has_w:
                vals[pos[v]] = w[e]
            pos[v] += 1


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _sort_row(cols, vals, has_w, a, b):
    # Stable, so duplicates stay in input order. Written out rather than np.argsort:
    # numba's generic sorts cost seconds of compile time for every new array type.
    if b - a <= _SHORT_ROW:
        for i in range(a + 1, b):
            c = cols[i]
            x = vals[i] if has_w else 0.0
            j = i - 1
            while j >= a and cols[j] > c:
                cols[j + 1] = cols[j]
                if has_w:
                    vals[j + 1] = vals[j]
                j -= 1
            cols[j + 1] = c
            if has_w:
                vals[j + 1] = x
        return
    keys = np.empty(b - a, dtype=cols.dtype)
    ws = np.empty(b - a if has_w else 0, dtype=np.float64)
    for i in range(b - a):
        keys[i] = cols[a + i]
        if has_w:
            ws[i] = vals[a + i]
    # element loops rather than slice copies: slice assignment costs seconds of compile
    sorted_k, sorted_w = merge_sort_pairs(keys, ws, has_w)
    for i in range(b - a):
        cols[a + i] = sorted_k[i]
        if has_w:
            vals[a + i] = sorted_w[i]


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _sort_dedupe_kernel(indptr, cols, vals, has_w, sum_dups):
    n = indptr.shape[0] - 1
    counts = np.zeros(n, dtype=np.int64)
    for r in range(n):
        a = indptr[r]
        b = indptr[r + 1]
        if b == a:
            continue
        _sort_row(cols, vals, has_w, a, b)
        k = a + 1
        for j in range(a + 1, b):
            if cols[j] == cols[k - 1]:
                if has_w:
                    if sum_dups:
                        vals[k - 1] += vals[j]
                    else:
                        vals[k - 1] = vals[j]
            else:
                cols[k] = cols[j]
                if has_w:
                    vals[k] = vals[j]
                k += 1
        counts[r] = k - a
    new_indptr = np.zeros(n + 1, dtype=np.int64)
    for r in range(n):
        new_indptr[r + 1] = new_indptr[r] + counts[r]
    return new_indptr


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _compact_kernel(old_indptr, new_indptr, cols, vals, has_w, out_cols, out_vals):
    n = old_indptr.shape[0] - 1
    for r in range(n):
        a = old_indptr[r]
        b = new_indptr[r]
        for j in range(new_indptr[r + 1] - b):
            out_cols[b + j] = cols[a + j]
            if has_w:
                out_vals[b + j] = vals[a + j]


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _transpose_kernel(indptr, indices, weights, has_w, out_indptr, out_indices, out_weights):
    n = indptr.shape[0] - 1
    for j in range(indices.shape[0]):
        out_indptr[indices[j] + 1] += 1
    for i in range(n):
        out_indptr[i + 1] += out_indptr[i]
    pos = out_indptr[:-1].copy()
    # Rows are visited in increasing order, so every transposed row comes out sorted.
    for u in range(n):
        for j in range(indptr[u], indptr[u + 1]):
            v = indices[j]
            out_indices[pos[v]] = u
            if has_w:
                out_weights[pos[v]] = weights[j]
            pos[v] += 1


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _subgraph_kernel(indptr, indices, weights, has_w, vertices, n, out_cols_dtype_marker):
    local = np.full(n, -1, dtype=np.int64)
    for i in range(vertices.shape[0]):
        local[vertices[i]] = i
    return _induced_subgraph(
        indptr, indices, weights, has_w, vertices, local, out_cols_dtype_marker
    )


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _induced_subgraph(indptr, indices, weights, has_w, vertices, local, out_cols_dtype_marker):
    # The subgraph induced by the sorted `vertices`; local[v] is v's position in `vertices`,
    # or negative for a vertex outside. Shared with local_search, which builds `local` from
    # its BFS workspace instead of allocating another n-long map.
    k = vertices.shape[0]
    # One pass over the rows into buffers sized by the rows' total length (a counting pass
    # first would read every row twice); the caller gets views of the filled part.
    cap = 0
    for i in range(k):
        u = vertices[i]
        cap += indptr[u + 1] - indptr[u]
    sub_indptr = np.zeros(k + 1, dtype=np.int64)
    sub_indices = np.empty(cap, dtype=out_cols_dtype_marker.dtype)
    sub_weights = np.empty(cap if has_w else 0, dtype=np.float64)
    p = 0
    # vertices are sorted, so the relabelled columns stay sorted within each row
    for i in range(k):
        u = vertices[i]
        for j in range(indptr[u], indptr[u + 1]):
            loc = local[indices[j]]
            if loc >= 0:
                sub_indices[p] = loc
                if has_w:
                    sub_weights[p] = weights[j]
                p += 1
        sub_indptr[i + 1] = p
    return sub_indptr, sub_indices[:p], sub_weights[: p if has_w else 0]


def _index_dtype(n: int) -> np.dtype:
    return np.dtype(np.int32) if n < 2**31 else np.dtype(np.int64)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _as_edge_array(values: Any, name: str) -> np.ndarray:
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be an array of vertex ids, got {type(values).__name__}")
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    if int(arr.min()) < 0:
        raise ValueError(f"{name} must hold non-negative vertex ids, got {int(arr.min())}")
    limit = int(np.iinfo(np.int64).max)
    if int(arr.max()) > limit:
        raise ValueError(f"{name} must hold vertex ids <= {limit}, got {int(arr.max())}")
    out = np.ascontiguousarray(arr, dtype=np.int64)
    if int(out.min()) < 0:  # defensive: the cast must not have wrapped
        raise ValueError(f"{name} must hold vertex ids <= {limit}")
    return out


def _build(src, dst, n, directed, weights, drop_loops, sum_dups):
    has_w = weights is not None
    w = weights if has_w else np.empty(0, dtype=np.float64)
    symmetrize = not directed
    indptr = _count_rows_kernel(src, dst, n, symmetrize, drop_loops)
    nnz = int(indptr[-1])
    cols = np.empty(nnz, dtype=_index_dtype(n))
    vals = np.empty(nnz if has_w else 0, dtype=np.float64)
    _fill_rows_kernel(src, dst, w, has_w, indptr, symmetrize, drop_loops, cols, vals)
    new_indptr = _sort_dedupe_kernel(indptr, cols, vals, has_w, sum_dups)
    if new_indptr[-1] == nnz:
        return new_indptr, cols, (vals if has_w else None)
    out_cols = np.empty(int(new_indptr[-1]), dtype=cols.dtype)
    out_vals = np.empty(int(new_indptr[-1]) if has_w else 0, dtype=np.float64)
    _compact_kernel(indptr, new_indptr, cols, vals, has_w, out_cols, out_vals)
    return new_indptr, out_cols, (out_vals if has_w else None)


class CSRGraph:
    """An immutable graph in compressed sparse row form.

    Build one with :meth:`from_edges`, :meth:`from_networkx` or :meth:`from_igraph`, or
    generate one (:func:`workbench.graph.rmat`). The constructor takes ready CSR arrays and
    checks them; the arrays are copied and made read-only.

    Parameters
    ----------
    indptr : array_like of int, shape (n + 1,)
        Row offsets: the out-neighbours of ``u`` are ``indices[indptr[u]:indptr[u + 1]]``.
    indices : array_like of int, shape (nnz,)
        Column ids, sorted and unique within each row.
    weights : array_like of float, shape (nnz,), optional
        Finite edge weights; ``None`` for an unweighted graph (every weight 1).
    directed : bool
        ``False`` means the arrays hold both directions of every edge (a symmetric matrix).

    Raises
    ------
    TypeError
        Non-integer ``indptr``/``indices`` or non-numeric ``weights``.
    ValueError
        Inconsistent lengths, decreasing ``indptr``, column ids outside ``[0, n)``, rows not
        strictly increasing, or non-finite weights.

    Examples
    --------
    >>> g = CSRGraph.from_edges([0, 1, 1], [1, 2, 2])
    >>> g.n, g.num_edges, g.directed
    (3, 2, False)
    >>> g.neighbors(1).tolist()
    [0, 2]
    >>> g.degree().tolist()
    [1, 2, 1]
    """

    __slots__ = ("_directed", "_indices", "_indptr", "_reverse", "_weight_range", "_weights")

    def __init__(
        self,
        indptr: Any,
        indices: Any,
        weights: Any = None,
        *,
        directed: bool = False,
        _trusted: bool = False,
    ) -> None:
        if _trusted:
            self._indptr = _readonly(indptr)
            self._indices = _readonly(indices)
            self._weights = None if weights is None else _readonly(weights)
        else:
            self._indptr, self._indices, self._weights = self._checked(indptr, indices, weights)
        self._directed = bool(directed)
        self._reverse: CSRGraph | None = None
        self._weight_range: tuple[float, float] | None = None

    @staticmethod
    def _checked(indptr, indices, weights):
        indptr = np.asarray(indptr)
        indices = np.asarray(indices)
        if indptr.ndim != 1 or indptr.size < 1:
            raise ValueError("indptr must be one-dimensional with at least one entry")
        for name, arr in (("indptr", indptr), ("indices", indices)):
            if arr.size and (arr.dtype == np.bool_ or arr.dtype.kind not in "iu"):
                raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
        if indices.ndim != 1:
            raise ValueError(f"indices must be one-dimensional, got shape {indices.shape}")
        n = indptr.size - 1
        if indptr.size and int(indptr.max()) > int(np.iinfo(np.int64).max):
            raise ValueError("indptr must start at 0, never decrease and end at len(indices)")
        indptr = np.array(indptr, dtype=np.int64)
        # Bounds-check before the cast: a narrowing cast would wrap out-of-range ids.
        if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= n):
            raise ValueError(f"indices must hold vertex ids in [0, {n})")
        indices = np.array(indices, dtype=_index_dtype(n))
        if indptr[0] != 0 or indptr[-1] != indices.size or np.any(np.diff(indptr) < 0):
            raise ValueError("indptr must start at 0, never decrease and end at len(indices)")
        if indices.size > 1:
            step = np.diff(indices.astype(np.int64))
            row_start = np.zeros(indices.size, dtype=bool)
            row_start[indptr[1:-1][indptr[1:-1] < indices.size]] = True
            if np.any((step <= 0) & ~row_start[1:]):
                raise ValueError("indices must be strictly increasing within each row")
        if weights is not None:
            weights = np.asarray(weights)
            if weights.dtype == np.bool_ or weights.dtype.kind not in "iuf":
                raise TypeError(f"weights must be numeric, got dtype {weights.dtype}")
            if weights.shape != indices.shape:
                raise ValueError(f"weights must have shape {indices.shape}, got {weights.shape}")
            weights = np.array(weights, dtype=np.float64)
            if not np.all(np.isfinite(weights)):
                raise ValueError("weights must be finite")
            weights = _readonly(weights)
        return _readonly(indptr), _readonly(indices), weights

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_edges(
        cls,
        src: Any,
        dst: Any,
        n: int | None = None,
        *,
        directed: bool = False,
        weights: Any = None,
        remove_self_loops: bool = False,
    ) -> CSRGraph:
        """Build a graph from parallel arrays of edge endpoints.

        Parameters
        ----------
        src, dst : array_like of int, shape (m,)
            Edge ``i`` goes from ``src[i]`` to ``dst[i]``.
        n : int, optional
            Number of vertices; default ``max(src, dst) + 1`` (0 for no edges).
        directed : bool
            If ``False`` each edge is stored in both directions.
        weights : array_like of float, shape (m,), optional
            Finite edge weights. For duplicate edges the last one given wins, as when the
            edges are added to a networkx graph one after the other.
        remove_self_loops : bool
            Drop edges ``u -> u``.

        Returns
        -------
        CSRGraph

        Raises
        ------
        TypeError
            Non-integer ids or non-numeric weights.
        ValueError
            Mismatched lengths, negative ids, ``n`` too small, non-finite weights.

        Notes
        -----
        Duplicates are merged and rows sorted in O(n + m) plus the per-row sorts, in numba.

        Examples
        --------
        >>> g = CSRGraph.from_edges([0, 0, 2], [1, 1, 2], directed=True)
        >>> g.indptr.tolist(), g.indices.tolist()
        ([0, 1, 1, 2], [1, 2])
        """
        return cls._from_arrays(src, dst, n, directed, weights, remove_self_loops, False)

    @classmethod
    def _from_arrays(cls, src, dst, n, directed, weights, drop_loops, sum_dups) -> CSRGraph:
        src = _as_edge_array(src, "src")
        dst = _as_edge_array(dst, "dst")
        if src.shape != dst.shape:
            raise ValueError(
                f"src and dst must have the same length, got {src.size} and {dst.size}"
            )
        top = int(max(src.max(), dst.max())) + 1 if src.size else 0
        if n is None:
            n = top
        else:
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
                raise TypeError(f"n must be an integer, got {type(n).__name__}")
            n = int(n)
            if n < top:
                raise ValueError(f"n must be at least max(src, dst) + 1 = {top}, got {n}")
        if weights is not None:
            weights = np.asarray(weights)
            if weights.dtype == np.bool_ or weights.dtype.kind not in "iuf":
                raise TypeError(f"weights must be numeric, got dtype {weights.dtype}")
            if weights.shape != src.shape:
                raise ValueError(f"weights must have shape {src.shape}, got {weights.shape}")
            weights = np.ascontiguousarray(weights, dtype=np.float64)
            if not np.all(np.isfinite(weights)):
                raise ValueError("weights must be finite")
        indptr, indices, w = _build(src, dst, n, directed, weights, drop_loops, sum_dups)
        return cls(indptr, indices, w, directed=directed, _trusted=True)

    @classmethod
    def from_networkx(cls, G: Any, weight: str | None = "weight") -> CSRGraph:
        """Convert a networkx graph; vertex ``i`` is the ``i``-th node of ``list(G)``.

        Parameters
        ----------
        G : networkx.Graph, DiGraph, MultiGraph or MultiDiGraph
        weight : str or None
            Edge attribute read as the weight when every edge has it; ``None`` ignores
            weights. Parallel edges of a multigraph are merged and their weights summed,
            as ``nx.to_scipy_sparse_array`` does.

        Examples
        --------
        >>> import networkx as nx
        >>> g = CSRGraph.from_networkx(nx.path_graph(["a", "b", "c"]))
        >>> g.n, g.num_edges
        (3, 2)
        """
        import networkx as nx

        if not isinstance(G, nx.Graph):
            raise TypeError(f"G must be a networkx graph, got {type(G).__name__}")
        nodes = list(G)
        index = {node: i for i, node in enumerate(nodes)}
        m = G.number_of_edges()
        src = np.empty(m, dtype=np.int64)
        dst = np.empty(m, dtype=np.int64)
        use_w = weight is not None and m > 0 and all(weight in d for _, _, d in G.edges(data=True))
        w = np.empty(m, dtype=np.float64) if use_w else None
        for i, (u, v, d) in enumerate(G.edges(data=True)):
            src[i] = index[u]
            dst[i] = index[v]
            if use_w:
                w[i] = d[weight]
        return cls._from_arrays(src, dst, len(nodes), G.is_directed(), w, False, G.is_multigraph())

    @classmethod
    def from_igraph(cls, G: Any, weight: str | None = "weight") -> CSRGraph:
        """Convert an ``igraph.Graph`` (vertex ids kept); multi-edges merged, weights summed."""
        import igraph as ig

        if not isinstance(G, ig.Graph):
            raise TypeError(f"G must be an igraph.Graph, got {type(G).__name__}")
        edges = np.array(G.get_edgelist(), dtype=np.int64).reshape(-1, 2)
        w = None
        if weight is not None and G.ecount() and weight in G.es.attributes():
            w = np.asarray(G.es[weight], dtype=np.float64)
        return cls._from_arrays(
            edges[:, 0], edges[:, 1], G.vcount(), G.is_directed(), w, False, True
        )

    # -- conversion ---------------------------------------------------------------------

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """Edge endpoints ``(src, dst)``; an undirected edge appears once, with ``src <= dst``."""
        src = np.repeat(np.arange(self.n, dtype=np.int64), np.diff(self._indptr))
        dst = self._indices.astype(np.int64)
        if self._directed:
            return src, dst
        keep = src <= dst
        return src[keep], dst[keep]

    def edge_weights(self) -> np.ndarray | None:
        """Weights in the order of :meth:`edges`, or ``None``."""
        if self._weights is None:
            return None
        if self._directed:
            return self._weights.copy()
        src = np.repeat(np.arange(self.n, dtype=np.int64), np.diff(self._indptr))
        return self._weights[src <= self._indices]

    def to_networkx(self) -> Any:
        """A ``networkx.Graph`` (or ``DiGraph``) with nodes ``0..n-1`` and ``weight`` attributes.

        Examples
        --------
        >>> G = CSRGraph.from_edges([0], [1], n=3).to_networkx()
        >>> sorted(G.nodes), list(G.edges)
        ([0, 1, 2], [(0, 1)])
        """
        import networkx as nx

        G = nx.DiGraph() if self._directed else nx.Graph()
        G.add_nodes_from(range(self.n))
        src, dst = self.edges()
        w = self.edge_weights()
        if w is None:
            G.add_edges_from(zip(src.tolist(), dst.tolist(), strict=True))
        else:
            G.add_weighted_edges_from(zip(src.tolist(), dst.tolist(), w.tolist(), strict=True))
        return G

    def to_igraph(self) -> Any:
        """An ``igraph.Graph`` with the same vertex ids (and a ``weight`` edge attribute)."""
        import igraph as ig

        src, dst = self.edges()
        G = ig.Graph(n=self.n, edges=np.column_stack([src, dst]).tolist(), directed=self._directed)
        w = self.edge_weights()
        if w is not None:
            G.es["weight"] = w.tolist()
        return G

    def to_undirected(self) -> CSRGraph:
        """Every edge in both directions; the weights of ``u->v`` and ``v->u`` are summed."""
        if not self._directed:
            return self
        src = np.repeat(np.arange(self.n, dtype=np.int64), np.diff(self._indptr))
        return CSRGraph._from_arrays(src, self._indices, self.n, False, self._weights, False, True)

    def reverse(self) -> CSRGraph:
        """The transpose (every edge reversed); the graph itself when undirected. Cached."""
        if not self._directed:
            return self
        if self._reverse is None:
            has_w = self._weights is not None
            out_indptr = np.zeros(self.n + 1, dtype=np.int64)
            out_indices = np.empty_like(self._indices)
            out_w = np.empty(self.nnz if has_w else 0, dtype=np.float64)
            w = self._weights if has_w else np.empty(0, dtype=np.float64)
            _transpose_kernel(self._indptr, self._indices, w, has_w, out_indptr, out_indices, out_w)
            rev = CSRGraph(
                out_indptr, out_indices, out_w if has_w else None, directed=True, _trusted=True
            )
            rev._reverse = self
            self._reverse = rev
        return self._reverse

    def subgraph(self, vertices: Any) -> CSRGraph:
        """The subgraph induced by ``vertices``.

        The ids are sorted and deduplicated; vertex ``i`` of the result is the ``i``-th
        smallest id given.

        Examples
        --------
        >>> g = CSRGraph.from_edges([0, 1, 2], [1, 2, 3])
        >>> g.subgraph([3, 1, 2]).edges()[0].tolist()
        [0, 1]
        """
        ids = np.unique(as_vertex_array(vertices, self.n, "vertices", allow_empty=True))
        has_w = self._weights is not None
        w = self._weights if has_w else np.empty(0, dtype=np.float64)
        indptr, indices, sub_w = _subgraph_kernel(
            self._indptr, self._indices, w, has_w, ids, self.n,
            np.empty(0, dtype=_index_dtype(ids.size)),
        )  # fmt: skip
        # copies, so that the graph does not keep the kernel's oversized buffers alive
        return CSRGraph(
            indptr, indices.copy(), sub_w.copy() if has_w else None,
            directed=self._directed, _trusted=True,
        )  # fmt: skip

    # -- properties ---------------------------------------------------------------------

    @property
    def indptr(self) -> np.ndarray:
        return self._indptr

    @property
    def indices(self) -> np.ndarray:
        return self._indices

    @property
    def weights(self) -> np.ndarray | None:
        return self._weights

    @property
    def directed(self) -> bool:
        return self._directed

    @property
    def n(self) -> int:
        return self._indptr.size - 1

    @property
    def nnz(self) -> int:
        """Stored entries: directed edges, or twice the undirected edges minus self-loops."""
        return self._indices.size

    @property
    def num_edges(self) -> int:
        """Edges as networkx counts them (``G.number_of_edges()``)."""
        if self._directed:
            return self.nnz
        return (self.nnz + self.num_self_loops) // 2

    @property
    def num_self_loops(self) -> int:
        src = np.repeat(np.arange(self.n, dtype=np.int64), np.diff(self._indptr))
        return int(np.count_nonzero(src == self._indices))

    def weight_range(self) -> tuple[float, float]:
        """Smallest and largest edge weight; ``(1.0, 1.0)`` if unweighted or without edges.

        Cached: the kernels that check for negative weights or choose an algorithm by the
        weights' spread would otherwise pay two passes over every weight on each call.

        Examples
        --------
        >>> CSRGraph.from_edges([0, 1], [1, 2], weights=[2.5, 0.5]).weight_range()
        (0.5, 2.5)
        """
        if self._weight_range is None:
            w = self._weights
            if w is None or w.size == 0:
                self._weight_range = (1.0, 1.0)
            else:
                self._weight_range = (float(w.min()), float(w.max()))
        return self._weight_range

    def degree(self) -> np.ndarray:
        """Out-degree per vertex, counting stored entries (a self-loop counts once)."""
        return np.diff(self._indptr)

    def in_degree(self) -> np.ndarray:
        """In-degree per vertex (equal to :meth:`degree` when undirected)."""
        return np.diff(self.reverse()._indptr)

    def neighbors(self, v: int) -> np.ndarray:
        """Sorted out-neighbours of ``v`` (a read-only view)."""
        v = as_vertex(v, self.n, "v")
        return self._indices[self._indptr[v] : self._indptr[v + 1]]

    def __repr__(self) -> str:
        kind = "directed" if self._directed else "undirected"
        w = ", weighted" if self._weights is not None else ""
        return f"CSRGraph(n={self.n}, edges={self.num_edges}, {kind}{w})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CSRGraph):
            return NotImplemented
        same_w = (self._weights is None and other._weights is None) or (
            self._weights is not None
            and other._weights is not None
            and np.array_equal(self._weights, other._weights)
        )
        return (
            self._directed == other._directed
            and np.array_equal(self._indptr, other._indptr)
            and np.array_equal(self._indices, other._indices)
            and same_w
        )

    __hash__ = None  # type: ignore[assignment]
