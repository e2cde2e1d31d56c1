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
