"""CSRGraph construction, conversion, subgraphs and edge-list I/O, against networkx/igraph."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from graph_helpers import edge_lists, nx_from_edges
from hypothesis import given, settings

from workbench.graph import CSRGraph, load_snap, read_edgelist, write_edgelist


def _same_as_nx(g: CSRGraph, G) -> None:
    assert g.n == G.number_of_nodes()
    assert g.num_edges == G.number_of_edges()
    assert g.directed == G.is_directed()
    if g.n == 0:
        assert g.nnz == 0
        return
    A = nx.to_scipy_sparse_array(G, nodelist=range(G.number_of_nodes()), format="csr")
    A.sort_indices()
    np.testing.assert_array_equal(g.indptr, A.indptr)
    np.testing.assert_array_equal(g.indices, A.indices)
    if g.weights is not None:
        np.testing.assert_array_equal(g.weights, A.data)


@settings(max_examples=60, deadline=None)
@given(edge_lists(weighted=True))
def test_from_edges_matches_networkx_adjacency(case):
    n, src, dst, w, directed = case
    g = CSRGraph.from_edges(src, dst, n, directed=directed, weights=w)
    _same_as_nx(g, nx_from_edges(n, src, dst, w, directed))


@settings(max_examples=40, deadline=None)
@given(edge_lists())
def test_networkx_round_trip(case):
    n, src, dst, _, directed = case
    G = nx_from_edges(n, src, dst, None, directed)
    g = CSRGraph.from_networkx(G)
    _same_as_nx(g, G)
    back = g.to_networkx()
    assert nx.utils.graphs_equal(back, G)
    assert CSRGraph.from_igraph(g.to_igraph()) == g


def test_from_networkx_uses_node_order_and_weights():
    G = nx.Graph()
    G.add_edge("b", "a", weight=2.5)
    G.add_edge("a", "c", weight=1.0)
    g = CSRGraph.from_networkx(G)
    assert list(G) == ["b", "a", "c"]
    assert g.neighbors(1).tolist() == [0, 2]
    assert g.weights.tolist() == [2.5, 2.5, 1.0, 1.0]
    assert CSRGraph.from_networkx(G, weight=None).weights is None


def test_multigraph_weights_are_summed_like_scipy():
    G = nx.MultiGraph()
    G.add_edge(0, 1, weight=1.0)
    G.add_edge(0, 1, weight=2.0)
    g = CSRGraph.from_networkx(G)
    assert g.weights.tolist() == [3.0, 3.0]


def test_self_loops_kept_once_or_removed():
    g = CSRGraph.from_edges([0, 1, 1], [0, 1, 2])
    assert g.num_self_loops == 2 and g.num_edges == 3
    assert g.indices.tolist() == [0, 1, 2, 1]
    h = CSRGraph.from_edges([0, 1, 1], [0, 1, 2], remove_self_loops=True)
    assert h.num_self_loops == 0 and h.n == 3 and h.num_edges == 1


def test_reverse_is_transpose():
    g = CSRGraph.from_edges([0, 0, 2, 3], [1, 2, 1, 0], directed=True, weights=[1, 2, 3, 4])
    r = g.reverse()
    G = g.to_networkx().reverse()
    _same_as_nx(r, G)
    assert r.reverse() is g
    assert g.in_degree().tolist() == [1, 2, 1, 0]


@settings(max_examples=40, deadline=None)
@given(edge_lists(weighted=True))
def test_subgraph_matches_networkx(case):
    n, src, dst, w, directed = case
    g = CSRGraph.from_edges(src, dst, n, directed=directed, weights=w)
    keep = np.arange(0, n, 2)
    sub = g.subgraph(keep[::-1])
    H = nx.convert_node_labels_to_integers(
        g.to_networkx().subgraph(keep.tolist()), ordering="sorted"
    )
    _same_as_nx(sub, H)


def test_to_undirected_sums_both_directions():
    g = CSRGraph.from_edges([0, 1], [1, 0], directed=True, weights=[1.0, 2.0])
    u = g.to_undirected()
    assert not u.directed and u.weights.tolist() == [3.0, 3.0]


def test_constructor_validates_arrays():
    CSRGraph([0, 1, 2], [1, 0])
    with pytest.raises(ValueError, match="indptr"):
        CSRGraph([0, 3], [0])
    with pytest.raises(ValueError, match="indices"):
        CSRGraph([0, 1], [5])
    with pytest.raises(ValueError, match="increasing"):
        CSRGraph([0, 2], [0, 0])
    with pytest.raises(TypeError, match="indices"):
        CSRGraph([0, 1], [0.5])
    with pytest.raises(ValueError, match="weights"):
        CSRGraph([0, 1], [0], [np.nan])
    g = CSRGraph([0, 1, 2], [1, 0])
    with pytest.raises(ValueError):
        g.indices[0] = 1  # read-only


@pytest.mark.parametrize(
    ("kwargs", "exc", "word"),
    [
        (dict(src=[0, 1], dst=[1]), ValueError, "same length"),
        (dict(src=[-1], dst=[0]), ValueError, "src"),
        (dict(src=[0.5], dst=[0]), TypeError, "src"),
        (dict(src=[True], dst=[0]), TypeError, "src"),
        (dict(src=[0], dst=[[1]]), ValueError, "dst"),
        (dict(src=[0], dst=[3], n=2), ValueError, "n must"),
        (dict(src=[0], dst=[1], n=2.0), TypeError, "n must"),
        (dict(src=[0], dst=[1], weights=[1.0, 2.0]), ValueError, "weights"),
        (dict(src=[0], dst=[1], weights=[np.inf]), ValueError, "weights"),
        (dict(src=[0], dst=[1], weights=["x"]), TypeError, "weights"),
        (dict(src="01", dst=[1]), TypeError, "src"),
    ],
)
def test_from_edges_rejects_bad_input(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        CSRGraph.from_edges(**kwargs)


def test_empty_and_isolated():
    g = CSRGraph.from_edges([], [])
    assert g.n == 0 and g.num_edges == 0
    g = CSRGraph.from_edges([], [], n=3)
    assert g.degree().tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="v must"):
        g.neighbors(3)


@pytest.mark.parametrize("suffix", [".tsv", ".csv", ".parquet"])
def test_edgelist_round_trip(tmp_path, suffix):
    g = CSRGraph.from_edges([0, 2, 3, 3], [1, 1, 0, 3], n=5, weights=[0.5, 1.5, 2.0, 3.0])
    path = write_edgelist(g, tmp_path / f"g{suffix}")
    assert read_edgelist(path, weighted=True, n=5) == g
    h = read_edgelist(path, n=5)
    assert h.weights is None and np.array_equal(h.indices, g.indices)


def test_read_edgelist_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_edgelist(tmp_path / "missing.tsv")
    bad = tmp_path / "g.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="format"):
        read_edgelist(bad)
    one = tmp_path / "one.tsv"
    one.write_text("0\n1\n")
    with pytest.raises(ValueError, match="columns"):
        read_edgelist(one)
    empty = tmp_path / "empty.tsv"
    empty.write_text("# nothing\n")
    assert read_edgelist(empty).n == 0


def test_snap_graphs_load_like_networkx():
    from workbench.config import data_dir

    for name, n, m in [("facebook_combined", 4039, 88234), ("oregon1_010331", 10670, 22002)]:
        g = load_snap(name)
        G = nx.read_edgelist(data_dir() / "graphs" / f"{name}.tsv", nodetype=int)
        assert (g.n, g.num_edges) == (n, m) == (G.number_of_nodes(), G.number_of_edges())
        assert sorted(g.degree().tolist()) == sorted(d for _, d in G.degree())
    with pytest.raises(ValueError, match="name"):
        load_snap("nope")


@pytest.mark.parametrize("big", [2**63, 2**63 + 5, 2**64 - 1])
def test_from_edges_rejects_uint64_ids_beyond_int64(big):
    # uint64 ids >= 2**63 used to wrap negative on the int64 cast: a segfault with n given,
    # a wrong graph without.
    src = np.array([big], dtype=np.uint64)
    dst = np.array([0], dtype=np.uint64)
    with pytest.raises(ValueError, match="src"):
        CSRGraph.from_edges(src, dst, n=3)
    with pytest.raises(ValueError, match="src"):
        CSRGraph.from_edges(src, dst)
    with pytest.raises(ValueError, match="dst"):
        CSRGraph.from_edges(dst, src)


@pytest.mark.parametrize(
    "indices",
    [
        np.array([2**32], dtype=np.int64),
        np.array([2**32 + 1], dtype=np.int64),
        np.array([-(2**32)], dtype=np.int64),
        np.array([2**64 - 1], dtype=np.uint64),
    ],
)
def test_constructor_bounds_checks_indices_before_narrowing(indices):
    # The int32 cast used to run before the bounds check: 2**32 wrapped to a self-loop on 0.
    with pytest.raises(ValueError, match="indices"):
        CSRGraph([0, 1], indices)


def test_constructor_rejects_uint64_indptr_beyond_int64():
    with pytest.raises(ValueError, match="indptr"):
        CSRGraph(np.array([0, 2**64 - 1], dtype=np.uint64), [0])


def test_weight_range():
    g = CSRGraph.from_edges([0, 1, 2], [1, 2, 0], weights=[3.0, -1.5, 2.0], directed=True)
    assert g.weight_range() == (-1.5, 3.0)
    assert g.weight_range() is g.weight_range()  # cached on the immutable graph
    assert CSRGraph.from_edges([0], [1]).weight_range() == (1.0, 1.0)
    assert CSRGraph.from_edges([], [], n=2, weights=[]).weight_range() == (1.0, 1.0)
