"""Leiden: connected communities, modularity against igraph, planted partitions recovered."""

from __future__ import annotations

import random

import graph_naive as naive
import networkx as nx
import numpy as np
import pytest
from graph_helpers import edge_lists, nx_from_edges
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.graph import CSRGraph, leiden, load_snap, louvain, modularity, stochastic_block_model


def disconnected_communities(G: nx.Graph, labels: np.ndarray) -> list[int]:
    """Labels whose vertices do not induce a connected subgraph of ``G``."""
    return [
        int(c)
        for c in np.unique(labels)
        if not nx.is_connected(G.subgraph(np.nonzero(labels == c)[0].tolist()))
    ]


def igraph_leiden_modularity(g: CSRGraph) -> float:
    """igraph's Leiden on modularity, run until stable (its RNG is Python's ``random``)."""
    random.seed(0)
    w = "weight" if g.weights is not None else None
    part = g.to_igraph().community_leiden(
        objective_function="modularity", weights=w, n_iterations=-1
    )
    return part.modularity


def test_leiden_named_vs_igraph(named):
    G, g = named
    labels = leiden(g, seed=1)
    q = modularity(g, labels)
    assert q == pytest.approx(nx.community.modularity(G, naive.partition(labels)), abs=1e-12)
    w = "weight" if g.weights is not None else None
    assert q >= 0.99 * igraph_leiden_modularity(g)
    assert q >= 0.99 * g.to_igraph().community_multilevel(weights=w).modularity
    assert disconnected_communities(G, labels) == []


def test_leiden_snap_vs_igraph(snap):
    G, g = snap
    labels = leiden(g, seed=0)
    q = modularity(g, labels)
    assert q >= 0.99 * igraph_leiden_modularity(g)
    assert q >= 0.99 * g.to_igraph().community_multilevel().modularity
    assert disconnected_communities(G, labels) == []


def test_louvain_can_disconnect_a_community_leiden_cannot():
    # On the Oregon AS graph Louvain (seed 0) returns a community that falls apart into
    # pieces without edges between them, the defect Leiden's refinement removes.
    g = load_snap("oregon1_010331")
    G = g.to_networkx()
    assert disconnected_communities(G, louvain(g, seed=0)) != []
    for seed in range(3):
        assert disconnected_communities(G, leiden(g, seed=seed)) == []


def moves_that_gain(G: nx.Graph, labels: np.ndarray, gamma: float) -> list[tuple[int, int]]:
    """(vertex, community) moves that raise modularity by more than rounding (networkx)."""
    parts = naive.partition(labels)
    q = nx.community.modularity(G, parts, resolution=gamma)
    new = int(labels.max()) + 1
    found = []
    for v in G:
        targets = {int(labels[u]) for u in G[v]} | {new}
        for c in targets - {int(labels[v])}:
            moved = labels.copy()
            moved[v] = c
            if nx.community.modularity(G, naive.partition(moved), resolution=gamma) > q + 1e-9:
                found.append((v, c))
    return found


@settings(max_examples=60, deadline=None)
@given(edge_lists(weighted=True), st.integers(0, 3), st.sampled_from([0.5, 1.0, 2.0]))
def test_leiden_random_graphs(case, seed, gamma):
    n, src, dst, w, _ = case
    g = CSRGraph.from_edges(src, dst, n, weights=w)
    labels = leiden(g, gamma, seed)
    assert labels.shape == (n,)
    np.testing.assert_array_equal(labels, leiden(g, gamma, seed))
    G = nx_from_edges(n, src, dst, w)
    assert disconnected_communities(G, labels) == []
    iso = np.nonzero(g.degree() == 0)[0]
    assert len(set(labels[iso].tolist())) == iso.size
    if g.num_edges and (w is None or w.sum() > 0):
        # a run that changed nothing leaves every vertex where no single move gains
        assert moves_that_gain(G, labels, gamma) == []


def test_planted_partition_recovered():
    g, truth = stochastic_block_model([60, 60, 60, 60], 0.3, 0.01, seed=4)
    labels = leiden(g, seed=0)
    assert naive.nmi(labels, truth) >= 0.9
    np.testing.assert_array_equal(labels, leiden(g, seed=0))


def test_planted_partition_weighted_and_seeds():
    g, truth = stochastic_block_model([50, 80, 30, 40], 0.25, 0.01, seed=9)
    src, dst = g.edges()
    # heavier inside the blocks: weights must be used, not just the structure
    w = np.where(truth[src] == truth[dst], 3.0, 1.0)
    gw = CSRGraph.from_edges(src, dst, g.n, weights=w)
    for seed in (0, 5, 11):
        labels = leiden(gw, seed=seed)
        assert naive.nmi(labels, truth) >= 0.9
        assert disconnected_communities(gw.to_networkx(), labels) == []


def test_same_seed_same_labels_different_seed_still_valid():
    g = load_snap("facebook_combined")
    a = leiden(g, seed=3)
    np.testing.assert_array_equal(a, leiden(g, seed=3))
    b = leiden(g, seed=4)
    assert modularity(g, b) >= 0.99 * modularity(g, a)


def test_resolution_and_theta():
    g, truth = stochastic_block_model([40, 40, 40], 0.3, 0.02, seed=2)
    assert leiden(g, resolution=0.05).max() + 1 < leiden(g, resolution=5.0).max() + 1
    # more randomness in the refinement still finds the planted blocks
    assert naive.nmi(leiden(g, theta=1.0), truth) >= 0.9


def test_bad_input():
    g = CSRGraph.from_edges([0, 1], [1, 2])
    with pytest.raises(ValueError, match="undirected"):
        leiden(CSRGraph.from_edges([0, 1], [1, 2], directed=True))
    with pytest.raises(TypeError, match="g must"):
        leiden(None)
    with pytest.raises(ValueError, match="seed"):
        leiden(g, seed=-1)
    with pytest.raises(ValueError, match="resolution"):
        leiden(g, resolution=0)
    with pytest.raises(ValueError, match="theta"):
        leiden(g, theta=0.0)
    with pytest.raises(TypeError, match="theta"):
        leiden(g, theta="0.01")
    with pytest.raises(ValueError, match="max_iterations"):
        leiden(g, max_iterations=0)
    with pytest.raises(ValueError, match="negative"):
        leiden(CSRGraph.from_edges([0], [1], weights=[-2.0]))
    assert leiden(CSRGraph.from_edges([], [])).size == 0
    assert leiden(CSRGraph.from_edges([], [], n=3)).tolist() == [0, 1, 2]
