"""Slow, obvious reference versions of the vector kernels (STUMPY's tests/naive.py idea)."""

from __future__ import annotations

import numpy as np


def scores(queries: np.ndarray, base: np.ndarray, metric: str) -> np.ndarray:
    """All query x base scores in float64; for "l2" the squared distance."""
    q = np.atleast_2d(np.asarray(queries, dtype=np.float64))
    b = np.asarray(base, dtype=np.float64)
    if metric == "ip":
        return q @ b.T
    if metric == "cosine":
        return normalize(q) @ normalize(b).T
    return ((q[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    norms = np.sqrt((x * x).sum(-1, keepdims=True))
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def topk(queries, base, k: int, metric: str):
    """Sort every score: best first, ties by lower id."""
    s = scores(queries, base, metric)
    key = s if metric == "l2" else -s
    ids = np.array([np.lexsort((np.arange(row.size), row))[:k] for row in key])
    return np.take_along_axis(s, ids, 1), ids


def assert_topk_equal(got_scores, got_ids, queries, base, k, metric, tol=1e-5):
    """ids equal up to ties: the returned ids are distinct, carry the scores reported, and
    those scores are the k best (within ``tol``, relative to the score's size)."""
    s = scores(queries, base, metric)
    ref_s, _ = topk(queries, base, k, metric)
    assert got_ids.shape == got_scores.shape == ref_s.shape
    for row in range(s.shape[0]):
        ids = got_ids[row]
        assert len(set(ids.tolist())) == k, f"duplicate ids in row {row}: {ids}"
        scale = np.maximum(1.0, np.abs(ref_s[row]))
        np.testing.assert_array_less(np.abs(got_scores[row] - ref_s[row]), tol * scale)
        np.testing.assert_array_less(np.abs(s[row, ids] - got_scores[row]), tol * scale)
