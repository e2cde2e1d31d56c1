"""local_search against its definition written with networkx."""

from __future__ import annotations

import graph_naive as naive
import numpy as np
import pytest
from graph_helpers import edge_lists, nx_from_edges
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.graph import ConvergenceError, CSRGraph, k_hop, local_search


def _check(g, G, seeds, k, top, exclude=False):
    ids, scores = local_search(g, seeds, k, top, exclude_seeds=exclude, return_scores=True)
    ref_ids, ref_scores = naive.local_search(G, seeds, k, top, exclude_seeds=exclude)
    assert ids.size == ref_ids.size
    np.testing.assert_allclose(scores, ref_scores, atol=1e-9)
    # ids agree except where scores tie within rounding
    for i in np.nonzero(ids != ref_ids)[0]:
        assert abs(scores[i] - ref_scores[i]) < 1e-9
    assert set(ids.tolist()) <= set(k_hop(g, seeds, k).tolist())


def test_local_search_named(named):
    G, g = named
    for seeds in ([0], [1, 5], [g.n - 1]):
        _check(g, G, seeds, 2, 10)
        _check(g, G, seeds, 1, 5, exclude=True)


def test_local_search_snap(snap):
    G, g = snap
    _check(g, G, [0, 100, 2000], 2, 20)
    _check(g, G, [7], 1, 50)


@settings(max_examples=60, deadline=None)
@given(edge_lists(weighted=True), st.data())
def test_local_search_random(case, data):
    n, src, dst, w, directed = case
    if n == 0:
        return
    g = CSRGraph.from_edges(src, dst, n, directed=directed, weights=w)
    G = nx_from_edges(n, src, dst, w, directed)
    seeds = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3))
    _check(g, G, seeds, data.draw(st.integers(0, 3)), data.draw(st.integers(1, 8)))


def test_local_search_ranks_seeds_first_and_returns_ids_only_by_default():
    g = CSRGraph.from_edges([0, 1, 2, 3], [1, 2, 3, 4])
    out = local_search(g, [2], k=1, top=10)
    assert out.dtype == np.int64 and out[0] == 2 and sorted(out.tolist()) == [1, 2, 3]


def test_bad_input():
    g = CSRGraph.from_edges([0, 1], [1, 2])
    with pytest.raises(ValueError, match="seeds"):
        local_search(g, [])
    with pytest.raises(ValueError, match="seeds"):
        local_search(g, [3])
    with pytest.raises(TypeError, match="seeds"):
        local_search(g, ["a"])
    with pytest.raises(ValueError, match="top"):
        local_search(g, [0], top=0)
    with pytest.raises(ValueError, match="k must"):
        local_search(g, [0], k=-1)
    with pytest.raises(ValueError, match="negative"):
        local_search(CSRGraph.from_edges([0], [1], weights=[-1.0]), [0])
    with pytest.raises(ConvergenceError):
        local_search(g, [0], max_iter=1)


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_neighbourhood_is_exactly_k_hop(k):
    # local_search shares k_hop's BFS and CSRGraph.subgraph's induced-subgraph code
    g = CSRGraph.from_edges(*np.random.default_rng(k).integers(0, 60, (2, 120)), n=70)
    ids = local_search(g, [3, 17], k, top=g.n)
    np.testing.assert_array_equal(np.sort(ids), k_hop(g, [3, 17], k))
