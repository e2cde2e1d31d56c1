"""The parallel and single-thread paths of PageRank (the one parallel kernel, which
local_search also runs) agree."""

from __future__ import annotations

import numpy as np
import pytest
from numba import get_num_threads

import workbench.graph._parallel as par
from workbench.graph import CSRGraph, local_search, pagerank, rmat


@pytest.mark.parametrize("directed", [False, True])
def test_parallel_equals_serial(directed, monkeypatch):
    g = rmat(11, seed=9, directed=directed)
    src, dst = g.edges()
    h = CSRGraph.from_edges(src, dst, g.n, directed=directed, weights=np.arange(src.size) % 7)
    monkeypatch.setattr(par, "use_parallel", lambda work: True)
    p1, q1 = pagerank(g, tol=1e-10), pagerank(h, tol=1e-10)
    monkeypatch.setattr(par, "use_parallel", lambda work: False)
    p2, q2 = pagerank(g, tol=1e-10), pagerank(h, tol=1e-10)
    # a parallel reduction may add in another order, nothing more
    np.testing.assert_allclose(p1, p2, rtol=0, atol=1e-14)
    np.testing.assert_allclose(q1, q2, rtol=0, atol=1e-14)


@pytest.mark.parametrize("directed", [False, True])
def test_local_search_parallel_equals_serial(directed, monkeypatch):
    g = rmat(11, seed=9, directed=directed)
    seeds = [int(v) for v in np.argsort(g.degree())[-3:]]  # hubs: a big neighbourhood
    monkeypatch.setattr(par, "use_parallel", lambda work: True)
    ids1, s1 = local_search(g, seeds, 2, 50, tol=1e-12, max_iter=1000, return_scores=True)
    monkeypatch.setattr(par, "use_parallel", lambda work: False)
    ids2, s2 = local_search(g, seeds, 2, 50, tol=1e-12, max_iter=1000, return_scores=True)
    np.testing.assert_allclose(s1, s2, rtol=0, atol=1e-14)
    # ids may swap only where two scores tie within that rounding
    for i in np.nonzero(ids1 != ids2)[0]:
        assert abs(s1[i] - s2[i]) < 1e-14


def test_small_work_is_serial():
    assert not par.use_parallel(10)
    before = get_num_threads()
    with par.thread_limit(10):
        assert get_num_threads() == 1
    assert get_num_threads() == before
