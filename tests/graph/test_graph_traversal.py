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


@pytest.mark.parametrize("directed", [False, True])
def test_k_hop_rmat_bottom_up_and_scan_paths_exact(directed):
    # 60 seeds of an R-MAT graph reach hubs at hop 1, so hop 2 is found bottom-up and the
    # big result is read off the distance array; a single low-degree seed at k=1 stays
    # top-down and is sorted instead
    g = rmat(11, seed=5, directed=directed)
    G = g.to_networkx()
    seeds = np.arange(0, g.n, g.n // 60)
    big = k_hop(g, seeds, 2)
    assert big.size * 16 >= g.n
    np.testing.assert_array_equal(big, naive.k_hop(G, seeds, 2))
    low = int(np.argmin(np.where(g.degree() > 0, g.degree(), g.n)))
    small = k_hop(g, [low], 1)
    assert small.size * 16 < g.n
    np.testing.assert_array_equal(small, naive.k_hop(G, [low], 1))


@pytest.mark.parametrize("directed", [False, True])
@pytest.mark.parametrize(
    ("low", "high", "zeros"),
    [(1.0, 10.0, False), (0.5, 0.75, False), (1.0, 10.0, True), (0.001, 10.0, False)],
    ids=["buckets", "narrow-buckets", "zero-weights-heap", "wide-spread-heap"],
)
def test_sssp_rmat_bit_identical_to_networkx(directed, low, high, zeros):
    # Dinitz's buckets (weights within a factor 16) and the heap (zero weights, a wider
    # spread) must both give networkx's floating-point sums exactly
    g = rmat(10, seed=4, directed=directed)
    src, dst = g.edges()
    w = np.random.default_rng(1).uniform(low, high, size=src.size)
    if zeros:
        w[::7] = 0.0
    h = CSRGraph.from_edges(src, dst, g.n, directed=directed, weights=w)
    G = h.to_networkx()
    for s in [0, int(np.argmax(h.degree())), h.n - 1]:
        np.testing.assert_array_equal(sssp(h, s), naive.dijkstra(G, s))
    # unweighted: every weight 1, through the buckets
    np.testing.assert_array_equal(sssp(g, 0), naive.dijkstra(g.to_networkx(), 0))


def test_sssp_subnormal_weights():
    # Half the smallest subnormal weight rounds to zero: sssp must not divide by it.
    g = CSRGraph.from_edges([0, 1], [1, 2], weights=[5e-324, 5e-324])
    np.testing.assert_array_equal(sssp(g, 0), [0.0, 5e-324, 1e-323])
