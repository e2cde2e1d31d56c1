"""BFS, k-hop and SSSP: exact against networkx (and igraph) on every kind of graph."""

from __future__ import annotations

import graph_naive as naive
import numpy as np
import pytest
from graph_helpers import edge_lists, nx_from_edges
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.graph import CSRGraph, bfs, k_hop, rmat, sssp


def test_bfs_named(named):
    G, g = named
    for s in range(0, g.n, 7):
        np.testing.assert_array_equal(bfs(g, s), naive.bfs_distances(G, s))


def test_bfs_snap_and_igraph(snap):
    G, g = snap
    deg = g.degree()
    for s in [0, int(np.argmax(deg)), g.n - 1]:
        expected = naive.bfs_distances(G, s)
        np.testing.assert_array_equal(bfs(g, s), expected)
    ig_dist = np.asarray(g.to_igraph().distances(source=[0])[0], dtype=float)
    ours = bfs(g, 0).astype(float)
    ours[ours < 0] = np.inf
    np.testing.assert_array_equal(ours, ig_dist)


@pytest.mark.parametrize("directed", [False, True])
def test_bfs_rmat_switches_direction_and_stays_exact(directed):
    # a hub source on R-MAT makes the frontier large enough for bottom-up steps
    g = rmat(11, seed=3, directed=directed)
    G = g.to_networkx()
    s = int(np.argmax(g.degree()))
    np.testing.assert_array_equal(bfs(g, s), naive.bfs_distances(G, s))
    np.testing.assert_array_equal(
        bfs(g, s, max_depth=2),
        np.where(naive.bfs_distances(G, s) > 2, -1, naive.bfs_distances(G, s)),
    )


@settings(max_examples=80, deadline=None)
@given(edge_lists(), st.data())
def test_bfs_k_hop_random(case, data):
    n, src, dst, _, directed = case
    if n == 0:
        return
    g = CSRGraph.from_edges(src, dst, n, directed=directed)
    G = nx_from_edges(n, src, dst, None, directed)
    s = data.draw(st.integers(0, n - 1))
    np.testing.assert_array_equal(bfs(g, s), naive.bfs_distances(G, s))
    seeds = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=4))
    k = data.draw(st.integers(0, 4))
    np.testing.assert_array_equal(k_hop(g, seeds, k), naive.k_hop(G, seeds, k))


def test_k_hop_named_and_snap(named):
    G, g = named
    for k in range(4):
        np.testing.assert_array_equal(k_hop(g, [0, 5], k), naive.k_hop(G, [0, 5], k))


def test_k_hop_snap(snap):
    G, g = snap
    seeds = np.arange(0, g.n, max(1, g.n // 50))
    np.testing.assert_array_equal(k_hop(g, seeds, 2), naive.k_hop(G, seeds, 2))
    assert k_hop(g, 3, 0).tolist() == [3]


@settings(max_examples=80, deadline=None)
@given(edge_lists(weighted=True), st.data())
def test_sssp_random(case, data):
    n, src, dst, w, directed = case
    if n == 0:
        return
    g = CSRGraph.from_edges(src, dst, n, directed=directed, weights=w)
    G = nx_from_edges(n, src, dst, w, directed)
    s = data.draw(st.integers(0, n - 1))
    np.testing.assert_allclose(sssp(g, s), naive.dijkstra(G, s))


def test_sssp_named_and_igraph(named):
    G, g = named
    expected = naive.dijkstra(G, 0)
    np.testing.assert_allclose(sssp(g, 0), expected)
    ig = g.to_igraph()
    w = "weight" if g.weights is not None else None
    np.testing.assert_allclose(sssp(g, 0), np.asarray(ig.distances(source=[0], weights=w)[0]))


def test_sssp_unweighted_equals_bfs(snap):
    _, g = snap
    d = bfs(g, 0).astype(float)
    d[d < 0] = np.inf
    np.testing.assert_array_equal(sssp(g, 0), d)


def test_bad_input():
    g = CSRGraph.from_edges([0, 1], [1, 2])
    for fn in (bfs, sssp):
        with pytest.raises(ValueError, match="source"):
            fn(g, 3)
        with pytest.raises(ValueError, match="source"):
            fn(g, -1)
        with pytest.raises(TypeError, match="source"):
            fn(g, 1.0)
        with pytest.raises(TypeError, match="g must"):
            fn("graph", 0)
    with pytest.raises(ValueError, match="source"):
        bfs(CSRGraph.from_edges([], []), 0)
    with pytest.raises(ValueError, match="seeds"):
        k_hop(g, [], 1)
    with pytest.raises(ValueError, match="seeds"):
        k_hop(g, [0, 9], 1)
    with pytest.raises(TypeError, match="seeds"):
        k_hop(g, [0.5], 1)
    with pytest.raises(ValueError, match="k must"):
        k_hop(g, [0], -1)
    with pytest.raises(ValueError, match="max_depth"):
        bfs(g, 0, max_depth=-2)
    neg = CSRGraph.from_edges([0], [1], weights=[-1.0])
    with pytest.raises(ValueError, match="negative"):
        sssp(neg, 0)
