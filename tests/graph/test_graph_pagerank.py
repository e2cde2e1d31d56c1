"""PageRank against networkx.pagerank at the same tolerance (L1 within 1e-8)."""

from __future__ import annotations

import graph_naive as naive
import numpy as np
import pytest
from graph_helpers import edge_lists, nx_from_edges
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.graph import ConvergenceError, CSRGraph, pagerank, rmat


def _l1(a, b):
    return float(np.abs(a - b).sum())


def test_pagerank_named(named):
    G, g = named
    assert _l1(pagerank(g), naive.pagerank(G)) < 1e-8
    assert _l1(pagerank(g, 0.5, tol=1e-10), naive.pagerank(G, alpha=0.5, tol=1e-10)) < 1e-8
    pers = {0: 1.0, 3: 2.0}
    assert _l1(pagerank(g, personalization=pers), naive.pagerank(G, personalization=pers)) < 1e-8


def test_pagerank_snap(snap):
    G, g = snap
    assert _l1(pagerank(g), naive.pagerank(G)) < 1e-8


def test_pagerank_directed_with_dangling():
    g = rmat(10, seed=5, directed=True)
    G = g.to_networkx()
    assert np.count_nonzero(g.degree() == 0) > 0  # has dangling vertices
    assert _l1(pagerank(g), naive.pagerank(G)) < 1e-8
    rng = np.random.default_rng(0)
    pers = rng.random(g.n)
    dang = rng.random(g.n)
    expected = naive.pagerank(
        G, personalization=dict(enumerate(pers)), dangling=dict(enumerate(dang))
    )
    assert _l1(pagerank(g, personalization=pers, dangling=dang), expected) < 1e-8


@settings(max_examples=80, deadline=None)
@given(edge_lists(weighted=True), st.booleans(), st.data())
def test_pagerank_random(case, use_pers, data):
    n, src, dst, w, directed = case
    g = CSRGraph.from_edges(src, dst, n, directed=directed, weights=w)
    G = nx_from_edges(n, src, dst, w, directed)
    if n == 0:
        assert pagerank(g).size == 0
        return
    pers = None
    if use_pers:
        seeds = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3))
        pers = {s: 1.0 for s in seeds}
    expected = naive.pagerank(G, personalization=pers, tol=1e-9, max_iter=1000)
    got = pagerank(g, personalization=pers, tol=1e-9, max_iter=1000)
    assert _l1(got, expected) < 1e-8
    assert abs(got.sum() - 1.0) < 1e-6


def test_weights_can_be_ignored():
    g = CSRGraph.from_edges([0, 0], [1, 2], weights=[1.0, 9.0])
    unweighted = CSRGraph.from_edges([0, 0], [1, 2])
    assert np.array_equal(pagerank(g, weighted=False), pagerank(unweighted))
    assert not np.allclose(pagerank(g), pagerank(unweighted))


def test_convergence_error_and_bad_input():
    g = rmat(8, seed=1)
    with pytest.raises(ConvergenceError):
        pagerank(g, max_iter=2)
    with pytest.raises(ValueError, match="damping"):
        pagerank(g, damping=1.5)
    with pytest.raises(ValueError, match="tol"):
        pagerank(g, tol=0)
    with pytest.raises(ValueError, match="personalization"):
        pagerank(g, personalization=np.zeros(g.n))
    with pytest.raises(ValueError, match="personalization"):
        pagerank(g, personalization=np.ones(3))
    with pytest.raises(ValueError, match="personalization"):
        pagerank(g, personalization={g.n: 1.0})
    with pytest.raises(ValueError, match="personalization"):
        pagerank(g, personalization=-np.ones(g.n))
    with pytest.raises(ValueError, match="dangling"):
        pagerank(g, dangling={0: np.nan})
    with pytest.raises(TypeError, match="max_iter"):
        pagerank(g, max_iter=1.5)
    with pytest.raises(ValueError, match="negative"):
        pagerank(CSRGraph.from_edges([0], [1], weights=[-1.0]))
