"""Modularity against networkx, Louvain against igraph, planted partitions recovered."""

from __future__ import annotations

import graph_naive as naive
import networkx as nx
import numpy as np
import pytest
from graph_helpers import edge_lists, nx_from_edges
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.graph import (
    CSRGraph,
    label_propagation,
    louvain,
    modularity,
    stochastic_block_model,
)


@settings(max_examples=80, deadline=None)
@given(edge_lists(weighted=True), st.data(), st.sampled_from([0.5, 1.0, 2.0]))
def test_modularity_random_vs_networkx(case, data, gamma):
    n, src, dst, w, directed = case
    if n == 0:
        return
    g = CSRGraph.from_edges(src, dst, n, directed=directed, weights=w)
    G = nx_from_edges(n, src, dst, w, directed)
    labels = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    if G.size(weight="weight") == 0:
        with pytest.raises(ValueError, match="no edges"):
            modularity(g, labels)
        return
    expected = nx.community.modularity(G, naive.partition(labels), resolution=gamma)
    assert modularity(g, labels, gamma) == pytest.approx(expected, abs=1e-12)


def test_louvain_named_vs_networkx_modularity(named):
    G, g = named
    labels = louvain(g, seed=1)
    q = modularity(g, labels)
    assert q == pytest.approx(nx.community.modularity(G, naive.partition(labels)), abs=1e-12)
    w = "weight" if g.weights is not None else None
    assert q >= 0.99 * g.to_igraph().community_multilevel(weights=w).modularity


def test_louvain_snap_at_least_igraph(snap):
    _, g = snap
    ig_q = g.to_igraph().community_multilevel().modularity
    q = modularity(g, louvain(g, seed=0))
    assert q >= 0.99 * ig_q


@settings(max_examples=40, deadline=None)
@given(edge_lists(weighted=True), st.integers(0, 3))
def test_louvain_random_graphs(case, seed):
    n, src, dst, w, _ = case
    g = CSRGraph.from_edges(src, dst, n, weights=w)
    labels = louvain(g, seed=seed)
    assert labels.shape == (n,)
    np.testing.assert_array_equal(labels, louvain(g, seed=seed))
    if g.num_edges and (w is None or w.sum() > 0):
        # never worse than every vertex alone
        assert modularity(g, labels) >= modularity(g, np.arange(n)) - 1e-12
    # isolated vertices stay alone
    iso = np.nonzero(g.degree() == 0)[0]
    assert len(set(labels[iso].tolist())) == iso.size


@pytest.mark.parametrize("algorithm", [louvain, label_propagation])
def test_planted_partition_recovered(algorithm):
    g, truth = stochastic_block_model([60, 60, 60, 60], 0.3, 0.01, seed=4)
    labels = algorithm(g, seed=0)
    assert naive.nmi(labels, truth) >= 0.9
    np.testing.assert_array_equal(labels, algorithm(g, seed=0))


def test_label_propagation_is_a_fixed_point(named):
    G, g = named
    labels = label_propagation(g, seed=3)
    W = nx.to_scipy_sparse_array(G, nodelist=range(g.n), weight="weight").tocsr()
    for u in range(g.n):
        row = W[[u]]
        scores: dict[int, float] = {}
        for v, wt in zip(row.indices, row.data, strict=True):
            if v != u:
                scores[labels[v]] = scores.get(labels[v], 0.0) + wt
        if scores:
            assert scores.get(labels[u], 0.0) == max(scores.values())


def test_seed_changes_order_not_validity():
    g, truth = stochastic_block_model([30, 30], 0.4, 0.02, seed=1)
    a = louvain(g, seed=0)
    b = louvain(g, seed=7)
    assert naive.nmi(a, truth) >= 0.9 and naive.nmi(b, truth) >= 0.9


def test_resolution_controls_granularity():
    g, _ = stochastic_block_model([40, 40, 40], 0.3, 0.02, seed=2)
    coarse = louvain(g, resolution=0.05).max() + 1
    fine = louvain(g, resolution=5.0).max() + 1
    assert coarse < fine


def test_bad_input():
    g = CSRGraph.from_edges([0, 1], [1, 2])
    d = CSRGraph.from_edges([0, 1], [1, 2], directed=True)
    for fn in (louvain, label_propagation):
        with pytest.raises(ValueError, match="undirected"):
            fn(d)
        with pytest.raises(ValueError, match="seed"):
            fn(g, seed=-1)
        with pytest.raises(TypeError, match="g must"):
            fn(None)
    with pytest.raises(ValueError, match="resolution"):
        louvain(g, resolution=0)
    with pytest.raises(ValueError, match="negative"):
        louvain(CSRGraph.from_edges([0], [1], weights=[-2.0]))
    with pytest.raises(ValueError, match="labels"):
        modularity(g, [0, 1])
    with pytest.raises(TypeError, match="labels"):
        modularity(g, [0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="no edges"):
        modularity(CSRGraph.from_edges([], [], n=2), [0, 1])
    assert louvain(CSRGraph.from_edges([], [])).size == 0
