"""Fixtures for the graph kernel tests: networkx's built-in graphs and the SNAP graphs."""

from __future__ import annotations

import networkx as nx
import pytest

from workbench.graph import CSRGraph, load_snap

NAMED = {
    "karate": nx.karate_club_graph,
    "lesmis": nx.les_miserables_graph,
    "florentine": nx.florentine_families_graph,
}


@pytest.fixture(params=sorted(NAMED))
def named(request):
    """(networkx graph relabelled 0..n-1, its CSRGraph) for each networkx built-in graph."""
    G = nx.convert_node_labels_to_integers(NAMED[request.param]())
    return G, CSRGraph.from_networkx(G)


@pytest.fixture(scope="session", params=["facebook_combined", "oregon1_010331"])
def snap(request):
    """(networkx graph, CSRGraph) for each bundled SNAP graph."""
    g = load_snap(request.param)
    return g.to_networkx(), g
