"""IVF (inverted file) index: k-means cells, inverted lists, probe the nearest cells."""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import numpy as np

from workbench.vector import _selection as sel
from workbench.vector import _threads
from workbench.vector._checks import as_vectors, check_k, check_metric
from workbench.vector.kmeans import kmeans
from workbench.vector.normalize import normalize, row_sqnorms
from workbench.vector.topk import exact_search

__all__ = ["IVFIndex"]

_FORMAT = 1
# below this many scored (query, vector) pairs a second thread costs more than it saves
_MIN_WORK_PER_WORKER = 200_000
# A cell probed by few queries (a batch spreads over the cells: about 4 queries per cell at
# 256 queries and nprobe = nlist/64) is scored in slices of at most _SMALL_PRODUCT
# (vector, query) pairs. OpenBLAS runs such small products without packing the operands,
# 1.5-3x faster per pair than one packed product over the whole cell for up to 16 queries
# (measured, 384 dims); from 32 queries on the packed product is faster.
_SMALL_PRODUCT = 1024
_SMALL_MAX_QUERIES = 16
# metric -> (selection mode on stored vectors, rescoring mode)
_MODES = {
    "ip": (sel.MODE_IP, sel.MODE_IP),
    "cosine": (sel.MODE_IP, sel.MODE_COSINE),  # vectors are stored normalised
    "l2": (sel.MODE_L2, sel.MODE_L2),
}


def default_nprobe(nlist: int) -> int:
    """Cells probed when ``search`` gets no ``nprobe``: ``ceil(nlist / 16)``, at least 1 and
    at most ``nlist``. Scans about 6% of the base; on clustered data of a few dozen
    clusters this keeps recall@10 above 0.95 (measured in the tests and the notebook)."""
    return max(1, min(nlist, math.ceil(nlist / 16)))


def _check_count(value: object, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


class IVFIndex:
    """Approximate nearest-neighbour index over inverted lists (FAISS's ``IndexIVFFlat``).

    ``nlist`` centroids from seeded k-means partition the vectors into cells; a search
    scores only the vectors of the ``nprobe`` cells whose centroids are nearest to the
    query (L2 between centroid and query, for every metric), then returns the best k exactly
    scored. Vectors are stored uncompressed, grouped by cell.

    Parameters
    ----------
    nlist : int
        Number of cells (>= 1); ``sqrt(n)`` to ``4 sqrt(n)`` is usual.
    metric : {"ip", "cosine", "l2"}
        As in :func:`~workbench.vector.topk`.

    Attributes
    ----------
    nprobe : int
        Cells probed by default (see :func:`default_nprobe`); settable.
    centroids : numpy.ndarray or None
        ``(nlist, dim)`` float32 after :meth:`train`.

    Examples
    --------
    >>> from workbench.vector.data import clustered_embeddings
    >>> base = clustered_embeddings(2000, 32, n_clusters=8, seed=0)
    >>> index = IVFIndex.build(base, nlist=16, seed=0)
    >>> scores, ids = index.search(base[:3], k=5)
    >>> ids[:, 0].tolist()  # each vector finds itself first
    [0, 1, 2]
    >>> index.ntotal, index.nprobe
    (2000, 1)
    """

    def __init__(self, nlist: int, metric: str = "ip") -> None:
        self.nlist = _check_count(nlist, "nlist")
        self.metric = check_metric(metric)
        self.nprobe = default_nprobe(self.nlist)
        self.centroids: np.ndarray | None = None
        self._vectors = np.empty((0, 0), dtype=np.float32)  # grouped by cell
        self._ids = np.empty(0, dtype=np.int64)  # id of each stored row
        self._offsets = np.zeros(self.nlist + 1, dtype=np.int64)  # cell c: [off[c], off[c+1])
        self._sqnorms = np.empty(0, dtype=np.float32)  # |v|^2 per stored row (l2 only)
        self._row_of = np.empty(0, dtype=np.int64)  # id -> stored row

    def __repr__(self) -> str:
        return (
            f"IVFIndex(nlist={self.nlist}, metric={self.metric!r}, dim={self.dim}, "
            f"ntotal={self.ntotal}, nprobe={self.nprobe})"
        )

    @property
    def nprobe(self) -> int:
        """Cells probed by default, ``1 <= nprobe <= nlist``; checked when set."""
        return self._nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        value = _check_count(value, "nprobe")
        if value > self.nlist:
            raise ValueError(f"nprobe={value} is larger than nlist={self.nlist}")
        self._nprobe = value

    @property
    def dim(self) -> int | None:
        return None if self.centroids is None else int(self.centroids.shape[1])

    @property
    def ntotal(self) -> int:
        return int(self._ids.shape[0])

    @property
    def is_trained(self) -> bool:
        return self.centroids is not None

    @property
    def list_sizes(self) -> np.ndarray:
        """Number of vectors in each cell."""
        return np.diff(self._offsets)

    @classmethod
    def build(cls, base: np.ndarray, nlist: int, metric: str = "ip", seed: int = 0) -> IVFIndex:
        """Train on ``base`` and add it: ids are the rows of ``base``.

        Parameters
        ----------
        base : array_like, shape (n, dim)
            Vectors; ``n >= nlist``.
        nlist : int
            Number of cells.
        metric : {"ip", "cosine", "l2"}
        seed : int
            Seeds k-means: the same base and seed give the same index.

        Returns
        -------
        IVFIndex

        Raises
        ------
        TypeError, ValueError
            Invalid ``base``, ``nlist`` not in ``[1, n]``, unknown metric.

        Notes
        -----
        O(iters * min(n, 256 nlist) * nlist * dim) for k-means, plus O(n * nlist * dim)
        to assign every vector to its cell.
        """
        index = cls(nlist, metric)
        X = index._prepare(base, "base")
        index._train(X, seed)
        index._add(X)
        return index

    def _prepare(self, x: object, name: str, *, allow_1d: bool = False) -> np.ndarray:
        X = as_vectors(x, name, dim=self.dim, allow_1d=allow_1d, allow_empty=allow_1d)
        return normalize(X) if self.metric == "cosine" else X

    def train(self, x: np.ndarray, seed: int = 0) -> IVFIndex:
        """Fit the ``nlist`` centroids on ``x`` (seeded k-means). Returns ``self``."""
        self._train(self._prepare(x, "x"), seed)
        return self

    def _train(self, X: np.ndarray, seed: int) -> None:
        if X.shape[0] < self.nlist:
            raise ValueError(
                f"nlist={self.nlist} needs at least that many training vectors, got {X.shape[0]}"
            )
        self.centroids = kmeans(X, self.nlist, seed=seed)
        self._vectors = np.empty((0, X.shape[1]), dtype=np.float32)

    def add(self, x: np.ndarray) -> np.ndarray:
        """Add vectors; returns their ids (consecutive, after the ones already held).

        Raises
        ------
        ValueError
            Index not trained, dimension mismatch, NaN or inf.
        """
        if self.centroids is None:
            raise ValueError("index is not trained: call train() or IVFIndex.build() first")
        return self._add(self._prepare(x, "x"))

    def _add(self, X: np.ndarray) -> np.ndarray:
        start = self.ntotal
        new_ids = np.arange(start, start + X.shape[0], dtype=np.int64)
        cells = exact_search(X, self.centroids, 1, sel.MODE_L2)[1][:, 0]
        old_cells = np.repeat(np.arange(self.nlist), self.list_sizes)
        all_cells = np.concatenate([old_cells, cells])
        order = np.argsort(all_cells, kind="stable")  # keeps ids increasing inside a cell
        self._vectors = np.concatenate([self._vectors, X])[order]
        self._ids = np.concatenate([self._ids, new_ids])[order]
        self._offsets = np.zeros(self.nlist + 1, dtype=np.int64)
        np.cumsum(np.bincount(all_cells, minlength=self.nlist), out=self._offsets[1:])
        self._sqnorms = (
            row_sqnorms(self._vectors).astype(np.float32)
            if self.metric == "l2"
            else np.empty(0, dtype=np.float32)
        )
        self._row_of = np.empty(self.ntotal, dtype=np.int64)
        self._row_of[self._ids] = np.arange(self.ntotal)
        return new_ids

    def search(
        self, queries: np.ndarray, k: int, nprobe: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Approximate k nearest neighbours of each query.

        Parameters
        ----------
        queries : array_like, shape (n_queries, dim) or (dim,)
        k : int
            ``1 <= k <= ntotal``.
        nprobe : int, optional
            Cells to scan, ``1 <= nprobe <= nlist``; default :attr:`nprobe`.

        Returns
        -------
        scores : numpy.ndarray of float32, shape (n_queries, k)
            Best first, as :func:`~workbench.vector.topk` (exact scores of the found ids).
        ids : numpy.ndarray of int64, shape (n_queries, k)
            ``-1`` (score ``-inf``, or ``+inf`` for ``"l2"``) where the probed cells held
            fewer than k vectors.

        Raises
        ------
        TypeError, ValueError
            Untrained or empty index, bad queries, ``k`` or ``nprobe`` out of range.

        Notes
        -----
        O(n_queries * (nlist + nprobe * n / nlist) * dim) for balanced cells. Queries
        probing the same cell are scored together (BLAS products over the cell), so each
        cell is read from memory once per batch. A large batch therefore costs at least
        one pass over the cells it probes, and 256 queries probing nlist/64 cells each
        touch nearly every cell: there the search is bound by memory bandwidth.
        """
        if self.centroids is None:
            raise ValueError("index is not trained: call train() or IVFIndex.build() first")
        if self.ntotal == 0:
            raise ValueError("index is empty: add() vectors first")
        k = check_k(k, self.ntotal)
        nprobe = self.nprobe if nprobe is None else _check_count(nprobe, "nprobe")
        if nprobe > self.nlist:
            raise ValueError(f"nprobe={nprobe} is larger than nlist={self.nlist}")
        Q = self._prepare(queries, "queries", allow_1d=True)
        sel_mode, rescore_mode = _MODES[self.metric]
        nq = Q.shape[0]
        if nq == 0:
            return np.empty((0, k), dtype=np.float32), np.empty((0, k), dtype=np.int64)

        with _threads.single_threaded_blas():
            probes = exact_search(
                Q, self.centroids, nprobe, sel.MODE_L2, row_sqnorms(self.centroids)
            )[1]
        flat = probes.ravel()
        order = np.argsort(flat, kind="stable")
        cells = flat[order]
        qrows = order // nprobe
        bounds = np.flatnonzero(np.diff(cells)) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [cells.size]])
        # work per cell visit: vectors in the cell x queries probing it
        work = int((np.diff(self._offsets)[cells[starts]] * (ends - starts)).sum())
        n_workers = max(1, min(_threads.workers(), work // _MIN_WORK_PER_WORKER))
        scan = functools.partial(self._scan, Q, cells, qrows, starts, ends, k, sel_mode)
        # many small products: one BLAS thread each, cells shared out between our workers
        with _threads.single_threaded_blas():
            parts = _threads.run_workers(n_workers, scan, starts.size)
        heap_i = np.concatenate([p[1] for p in parts], axis=1)
        bad = np.logical_or.reduce([p[2] for p in parts])
        if bad.any():
            raise ValueError("scores overflow float32: scale the queries or base down")
        found = heap_i < self.ntotal
        rows = np.where(found, self._row_of[np.where(found, heap_i, 0)], -1)
        out_s = np.empty(heap_i.shape, dtype=np.float32)
        out_i = np.empty(heap_i.shape, dtype=np.int64)
        # the workers' heaps hold disjoint cells, so their union has no duplicate ids
        sel._rescore_kernel(Q, self._vectors, rows, heap_i, rescore_mode, out_s, out_i)
        return np.ascontiguousarray(out_s[:, :k]), np.ascontiguousarray(out_i[:, :k])

    def _scan(self, Q, cells, qrows, starts, ends, k, sel_mode, groups):
        # one worker: score the cells of the groups it takes into its own heaps
        heap_s, heap_i = sel.new_heaps(Q.shape[0], k)
        bad = np.zeros(Q.shape[0], dtype=np.bool_)
        off = self._offsets
        with np.errstate(all="ignore"):  # overflow is reported through `bad`
            for grp in groups:
                a, b = int(starts[grp]), int(ends[grp])
                c = int(cells[a])
                lo, hi = int(off[c]), int(off[c + 1])
                if hi == lo:
                    continue
                qs = qrows[a:b]
                g = b - a
                # cell-major products (vectors @ queries.T), the layout the selection reads
                qt = Q[qs].T
                scores = np.empty((hi - lo, g), dtype=np.float32)
                step = hi - lo if g > _SMALL_MAX_QUERIES else max(64, _SMALL_PRODUCT // g)
                for s in range(lo, hi, step):
                    e = min(s + step, hi)
                    np.matmul(self._vectors[s:e], qt, out=scores[s - lo : e - lo])
                if sel_mode != sel.MODE_IP:
                    sel._keys_kernel(scores, self._sqnorms[lo:hi], sel_mode)
                sel._select_kernel(scores, qs, self._ids[lo:hi], 0, heap_s, heap_i, bad)
        return heap_s, heap_i, bad

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the index to an ``.npz`` file (no pickles). Returns the path written."""
        if self.centroids is None:
            raise ValueError("index is not trained: nothing to save")
        path = Path(path)
        with path.open("wb") as fh:
            np.savez(
                fh,
                format=np.int64(_FORMAT),
                nlist=np.int64(self.nlist),
                nprobe=np.int64(self.nprobe),
                metric=np.str_(self.metric),
                centroids=self.centroids,
                vectors=self._vectors,
                ids=self._ids,
                offsets=self._offsets,
            )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> IVFIndex:
        """Read an index written by :meth:`save`.

        Raises
        ------
        ValueError
            The file is not a saved IVFIndex or is inconsistent.
        """
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {name: z[name] for name in z.files}
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: cannot read an IVFIndex: {exc}") from exc
        need = {"format", "nlist", "nprobe", "metric", "centroids", "vectors", "ids", "offsets"}
        if not need <= data.keys() or int(data["format"]) != _FORMAT:
            raise ValueError(f"{path}: not an IVFIndex file (format {_FORMAT})")
        index = cls(int(data["nlist"]), str(data["metric"]))
        try:
            index.nprobe = data["nprobe"].item()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: bad nprobe: {exc}") from exc
        cent, vecs = data["centroids"], data["vectors"]
        ids, off = data["ids"].astype(np.int64), data["offsets"].astype(np.int64)
        n = ids.shape[0]
        if (
            cent.shape[0] != index.nlist
            or vecs.shape != (n, cent.shape[1])
            or off.shape != (index.nlist + 1,)
            or off[0] != 0
            or off[-1] != n
            or (np.diff(off) < 0).any()
            or not np.array_equal(np.sort(ids), np.arange(n))
        ):
            raise ValueError(f"{path}: inconsistent IVFIndex arrays")
        index.centroids = np.ascontiguousarray(cent, dtype=np.float32)
        index._vectors = np.ascontiguousarray(vecs, dtype=np.float32)
        index._ids = ids
        index._offsets = off
        index._sqnorms = (
            row_sqnorms(index._vectors).astype(np.float32)
            if index.metric == "l2"
            else np.empty(0, dtype=np.float32)
        )
        index._row_of = np.empty(n, dtype=np.int64)
        index._row_of[ids] = np.arange(n)
        return index
