"""The parallel and single-thread paths of every kernel give identical results."""

from __future__ import annotations

import numpy as np
import pytest

import workbench.graph._parallel as par
import workbench.graph.traversal as traversal
from workbench.graph import CSRGraph, bfs, pagerank, rmat, rmat_edges


def _results(directed):
    g = rmat(11, seed=9, directed=directed)
    src, dst = rmat_edges(9, seed=2)
    w = np.arange(src.size, dtype=float)
    h = CSRGraph.from_edges(src, dst, weights=w)
    hub = int(np.argmax(g.degree()))
    return g, h, bfs(g, hub), pagerank(g, tol=1e-10)


@pytest.mark.parametrize("directed", [False, True])
def test_parallel_equals_serial(directed, monkeypatch):
    monkeypatch.setattr(par, "use_parallel", lambda work: True)
    monkeypatch.setattr(traversal, "use_parallel", lambda work: True)
    g1, h1, d1, p1 = _results(directed)
    monkeypatch.setattr(par, "use_parallel", lambda work: False)
    monkeypatch.setattr(traversal, "use_parallel", lambda work: False)
    g2, h2, d2, p2 = _results(directed)
    assert g1 == g2 and h1 == h2
    np.testing.assert_array_equal(d1, d2)
    # a parallel reduction may add in another order
    np.testing.assert_allclose(p1, p2, rtol=0, atol=1e-14)


def test_small_work_is_serial():
    assert not par.use_parallel(10)
    with par.thread_limit(10):
        from numba import get_num_threads

        assert get_num_threads() == 1
