"""Compiled top-k selection shared by exact search and the IVF index.

Scores arrive block by block (a BLAS product of queries and a slice of the base, or of an
IVF cell); each query keeps a bounded min-heap of its k best (score, id) pairs, so memory
never grows with the base, and a score below the heap's worst is rejected without touching
the heap. "Better" is a total order: higher score, then lower id, which makes results
deterministic under ties. Scores are then recomputed in float64 for the k winners only.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from workbench.config import FASTMATH, NUMBA_CACHE

__all__: list[str] = []

# How block scores are turned into "larger is better" keys.
MODE_IP = 0  # key = q.b
MODE_COSINE = 1  # key = q.b * weight[j], weight = 1/|b| (0 for a zero row); queries normalised
MODE_L2 = 2  # key = 2 q.b - weight[j], weight = |b|^2; distance = |q|^2 - key

MISSING_ID = -1
# Queries whose keys _select_kernel tests in one vectorised pass: one AVX-512 register
QCHUNK = 16
# `ids` for _select_kernel when the vectors are consecutive base rows
NO_IDS = np.empty(0, dtype=np.int64)


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH, inline="always")
def _better(s1, i1, s2, i2):
    return s1 > s2 or (s1 == s2 and i1 < i2)


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _heap_replace_root(hs, hi, s, i):
    # min-heap on "better": the root is the worst kept pair, replaced by (s, i)
    k = hs.shape[0]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= k:
            break
        right = child + 1
        if right < k and _better(hs[child], hi[child], hs[right], hi[right]):
            child = right
        if _better(s, i, hs[child], hi[child]):
            hs[pos] = hs[child]
            hi[pos] = hi[child]
            pos = child
        else:
            break
    hs[pos] = s
    hi[pos] = i


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH, nogil=True)
def _keys_kernel(scores, weight, mode):
    # In place: dot products -> "larger is better" keys; row j (one base vector) uses
    # weight[j]. A separate pass keeps the selection free of per-score mode branches; it
    # vectorises and runs on a block that is still in cache (a small fraction of the product).
    if mode == MODE_IP:
        return
    m, g = scores.shape
    for j in range(m):
        row = scores[j]
        w = weight[j]
        if mode == MODE_COSINE:
            for r in range(g):
                row[r] = row[r] * w
        else:
            for r in range(g):
                row[r] = np.float32(2.0) * row[r] - w


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH, nogil=True)
def _select_kernel(keys, qrows, ids, id0, heap_s, heap_i, bad):
    # keys[j, r]: key of the vector with id ids[j] (or id0 + j when ids is empty: a block of
    # consecutive base rows) for query qrows[r]. Vector-major, as BLAS writes
    # `vectors @ queries.T`, which is 5-25% faster than `queries @ vectors.T` here (measured).
    # Serial: the caller runs one per worker thread; a parallel region's fork/join per block
    # cost more than it saved.
    #
    # Once a query has seen a few thousand vectors almost no new score beats its k-th best.
    # So each vector's keys are first compared with every query's current k-th best
    # (`worst`, kept contiguous) in one branch-free pass that vectorises across the queries.
    # A vector that is a candidate for some query is then tested QCHUNK queries at a time
    # the same way, and only a chunk holding a candidate, or a non-finite key, is walked
    # query by query (walking all 256 queries for one candidate made the selection 3x slower).
    m, g = keys.shape
    worst = np.empty(g, dtype=np.float32)
    for r in range(g):
        worst[r] = heap_s[qrows[r], 0]
    for j in range(m):
        row = keys[j]
        if not _any_candidate(row, worst, 0, g):
            continue
        gid = id0 + j if ids.size == 0 else ids[j]
        for r0 in range(0, g, QCHUNK):
            r1 = min(r0 + QCHUNK, g)
            if not _any_candidate(row, worst, r0, r1):
                continue
            for r in range(r0, r1):
                s = row[r]
                q = qrows[r]
                if not (abs(s) < np.inf):
                    bad[q] = True
                elif s >= worst[r] and _better(s, gid, heap_s[q, 0], heap_i[q, 0]):
                    _heap_replace_root(heap_s[q], heap_i[q], s, gid)
                    worst[r] = heap_s[q, 0]


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH, inline="always")
def _any_candidate(row, worst, r0, r1):
    # Branch-free, so it vectorises. NaN fails every comparison and -inf passes none, hence
    # their explicit tests: a non-finite key must reach `bad`, never be skipped.
    hit = False
    for r in range(r0, r1):
        s = row[r]
        hit |= (s >= worst[r]) | (s != s) | (s == -np.inf)
    return hit


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH, nogil=True)
def _rescore_kernel(queries, vectors, rows, ids, mode, out_s, out_i):
    # Exact float64 scores of the k winners, sorted best first (ties: lower id first).
    # The caller's out_s is float32, so sort on the float32-rounded score: values that differ
    # only beyond float32 precision come out as equal scores and must be ordered by id.
    # rows[q, t] is the row of `vectors` holding id ids[q, t], or -1 for "not found".
    # Serial: k * dim work per query is tiny next to the search itself.
    nq, k = rows.shape
    d = queries.shape[1]
    nrows = vectors.shape[0]
    key = np.empty(k, dtype=np.float64)
    val = np.empty(k, dtype=np.float64)
    gid = np.empty(k, dtype=np.int64)
    for q in range(nq):
        qsq = 0.0
        if mode == 1:
            for c in range(d):
                qsq += np.float64(queries[q, c]) ** 2
        for t in range(k):
            r = rows[q, t]
            if r < 0 or r >= nrows:  # never read outside `vectors`
                key[t] = np.inf
                val[t] = np.inf if mode == 2 else -np.inf
                gid[t] = -1
                continue
            gid[t] = ids[q, t]
            if mode == 2:
                acc = 0.0
                for c in range(d):
                    diff = np.float64(queries[q, c]) - np.float64(vectors[r, c])
                    acc += diff * diff
                val[t] = acc
                key[t] = np.float64(np.float32(acc))
            else:
                dot = 0.0
                bsq = 0.0
                for c in range(d):
                    b = np.float64(vectors[r, c])
                    dot += np.float64(queries[q, c]) * b
                    bsq += b * b
                if mode == 1:
                    den = np.sqrt(qsq) * np.sqrt(bsq)
                    dot = dot / den if den > 0.0 else 0.0
                val[t] = dot
                key[t] = -np.float64(np.float32(dot))
        if k <= 64:
            _insertion_sort(key, val, gid)
            for t in range(k):
                out_s[q, t] = val[t]
                out_i[q, t] = gid[t]
        else:
            # missing entries (id -1, key +inf) sort last whatever their id
            by_id = np.argsort(gid, kind="mergesort")
            order = by_id[np.argsort(key[by_id], kind="mergesort")]
            for t in range(k):
                out_s[q, t] = val[order[t]]
                out_i[q, t] = gid[order[t]]


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _insertion_sort(key, val, gid):
    # ascending key, then ascending id; the missing (-1, key +inf) go last
    for a in range(1, key.shape[0]):
        kk = key[a]
        vv = val[a]
        gg = gid[a]
        b = a - 1
        while b >= 0 and (key[b] > kk or (key[b] == kk and _id_after(gid[b], gg))):
            key[b + 1] = key[b]
            val[b + 1] = val[b]
            gid[b + 1] = gid[b]
            b -= 1
        key[b + 1] = kk
        val[b + 1] = vv
        gid[b + 1] = gg


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH, inline="always")
def _id_after(a, b):
    # is id a ordered after id b? -1 (missing) is after everything
    if a < 0:
        return b >= 0
    return b >= 0 and a > b


def new_heaps(nq: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Empty per-query heaps: score -inf and an id larger than any real one."""
    heap_s = np.full((nq, k), -np.inf, dtype=np.float32)
    heap_i = np.full((nq, k), np.iinfo(np.int64).max, dtype=np.int64)
    return heap_s, heap_i
