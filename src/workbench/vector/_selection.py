"""Compiled top-k selection shared by exact search and the IVF index.

Scores arrive block by block (a BLAS product of queries and a slice of the base); each query
keeps a bounded min-heap of its k best (score, id) pairs, so memory never grows with the
base. "Better" is a total order: higher score, then lower id, which makes results
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
def _select_block_kernel(scores, weight, mode, start, heap_s, heap_i, bad):
    # scores[q, j] belongs to base row start + j. Serial on purpose: at ~0.4 ns per score
    # it costs a few per cent of the BLAS product that made the block, and a parallel
    # region's fork/join cost more than it saved on the shared 2-core machine (measured).
    nq, m = scores.shape
    for q in range(nq):
        hs = heap_s[q]
        hi = heap_i[q]
        ws = hs[0]
        wi = hi[0]
        nonfinite = False
        for j in range(m):
            s = scores[q, j]
            if mode == 1:
                s = s * weight[start + j]
            elif mode == 2:
                s = np.float32(2.0) * s - weight[start + j]
            if not (abs(s) < np.inf):
                nonfinite = True
                continue
            gid = start + j
            if s > ws or (s == ws and gid < wi):
                _heap_replace_root(hs, hi, s, gid)
                ws = hs[0]
                wi = hi[0]
        if nonfinite:
            bad[q] = True


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH, nogil=True)
def _select_rows_kernel(scores, qrows, col_ids, weight, mode, heap_s, heap_i, bad):
    # IVF: row r of scores belongs to query qrows[r], column j to vector col_ids[j]
    # (weight is indexed by column)
    r_count, m = scores.shape
    for r in range(r_count):
        q = qrows[r]
        hs = heap_s[q]
        hi = heap_i[q]
        ws = hs[0]
        wi = hi[0]
        for j in range(m):
            s = scores[r, j]
            if mode == 2:
                s = np.float32(2.0) * s - weight[j]
            if not (abs(s) < np.inf):
                bad[q] = True
                continue
            gid = col_ids[j]
            if s > ws or (s == ws and gid < wi):
                _heap_replace_root(hs, hi, s, gid)
                ws = hs[0]
                wi = hi[0]


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
