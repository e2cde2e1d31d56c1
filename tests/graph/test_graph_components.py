"""Connected components against networkx and igraph."""

from __future__ import annotations

import graph_naive as naive
import numpy as np
import pytest
from graph_helpers import edge_lists, nx_from_edges
from hypothesis import given, settings

from workbench.graph import CSRGraph, connected_components, relabel_by_first_vertex, rmat


@settings(max_examples=80, deadline=None)
@given(edge_lists())
def test_components_random(case):
    n, src, dst, _, directed = case
    g = CSRGraph.from_edges(src, dst, n, directed=directed)
    G = nx_from_edges(n, src, dst, None, directed)
    np.testing.assert_array_equal(connected_components(g), naive.components(G))


def test_components_snap_and_rmat_vs_igraph(snap):
    G, g = snap
    np.testing.assert_array_equal(connected_components(g), naive.components(G))
    r = rmat(12, seed=2)
    ig_labels = np.asarray(r.to_igraph().connected_components().membership)
    np.testing.assert_array_equal(connected_components(r), relabel_by_first_vertex(ig_labels))


def test_components_directed_are_weak():
    g = CSRGraph.from_edges([0, 2], [1, 1], n=4, directed=True)
    assert connected_components(g).tolist() == [0, 0, 0, 1]


def test_bad_input():
    with pytest.raises(TypeError, match="g must"):
        connected_components(np.zeros(3))


@pytest.mark.parametrize(
    ("labels", "exc", "word"),
    [
        ([-1, 2], ValueError, "labels must be non-negative"),
        (np.array([0.5, 1.7]), TypeError, "labels must hold integers"),
        (np.array([True, False]), TypeError, "labels must hold integers"),
        (np.zeros((2, 2), dtype=np.int64), ValueError, "labels must be one-dimensional"),
        ("01", TypeError, "labels"),
    ],
)
def test_relabel_rejects_bad_labels(labels, exc, word):
    # negative labels used to index from the end inside numba ([-1, 2] -> [0, 0]) and floats
    # were truncated
    with pytest.raises(exc, match=word):
        relabel_by_first_vertex(labels)


def test_relabel_handles_huge_sparse_labels():
    # [10**12] used to allocate a 10**12-entry table (numba MemoryError)
    assert relabel_by_first_vertex([10**12]).tolist() == [0]
    big = np.array([2**64 - 1, 5, 2**64 - 1, 2**63], dtype=np.uint64)
    assert relabel_by_first_vertex(big).tolist() == [0, 1, 0, 2]
    assert relabel_by_first_vertex([10**12, 3, 10**12, 7, 3]).tolist() == [0, 1, 0, 2, 1]
    assert relabel_by_first_vertex([]).tolist() == []


@pytest.mark.parametrize("directed", [False, True])
def test_components_rmat_with_many_small_components(directed):
    # R-MAT leaves a giant component plus isolated vertices and small pieces: the giant
    # one is skipped after sampling (undirected only), everything else linked edge by edge
    g = rmat(12, seed=7, directed=directed)
    labels = connected_components(g)
    assert labels.max() > 10
    np.testing.assert_array_equal(labels, naive.components(g.to_networkx()))
