"""Random graphs for the graph tests (hypothesis) and the networkx graph the same edges build."""

from __future__ import annotations

import networkx as nx
import numpy as np
from hypothesis import strategies as st


@st.composite
def edge_lists(draw, max_n: int = 24, max_m: int = 60, weighted: bool = False):
    """Random (n, src, dst, weights, directed): isolated vertices, self-loops, duplicates,
    single-vertex and empty graphs all occur."""
    n = draw(st.integers(0, max_n))
    directed = draw(st.booleans())
    if n == 0:
        return 0, np.empty(0, np.int64), np.empty(0, np.int64), None, directed
    m = draw(st.integers(0, max_m))
    src = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), np.int64)
    dst = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), np.int64)
    w = None
    if weighted:
        w = np.array(draw(st.lists(st.integers(1, 9), min_size=m, max_size=m)), dtype=np.float64)
    return n, src, dst, w, directed


def nx_from_edges(n, src, dst, weights=None, directed=False):
    """The networkx graph the same edges build, added one after the other."""
    G = nx.DiGraph() if directed else nx.Graph()
    G.add_nodes_from(range(n))
    if weights is None:
        G.add_edges_from(zip(src.tolist(), dst.tolist(), strict=True))
    else:
        G.add_weighted_edges_from(zip(src.tolist(), dst.tolist(), weights.tolist(), strict=True))
    return G
