"""graphrag answers match networkx and numpy references on the same data."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

from workbench.services.common import ApiError
from workbench.services.graphrag import GraphStore


@pytest.fixture(scope="module")
def store():
    s = GraphStore({"graph": {"scale": 9, "edge_factor": 8, "seed": 2},
                    "vectors": {"n": 500, "dim": 16, "seed": 4}})  # fmt: skip
    s.warm()
    return s


@pytest.fixture(scope="module")
def nxg(store):
    return store.graph.to_networkx()


def test_khop_matches_networkx(store, nxg):
    out = store.query({"kind": "khop", "seeds": [3, 17], "k": 2, "top": 1000})
    ref = set()
    for s in (3, 17):
        ref |= set(nx.single_source_shortest_path_length(nxg, s, cutoff=2))
    assert out["count"] == len(ref)
    assert out["nodes"] == sorted(ref)[:1000]


def test_ppr_matches_networkx(store, nxg):
    out = store.query({"kind": "ppr", "seeds": [1, 2], "top": 20})
    # Same damping and tolerance as the service: the same stopping rule, so close agreement.
    ref = nx.pagerank(nxg, alpha=0.85, personalization={1: 1, 2: 1})
    for v, score in zip(out["nodes"], out["scores"], strict=True):
        assert score == pytest.approx(ref[v], abs=1e-7)
    best = sorted(ref, key=lambda v: (-ref[v], v))[:5]
    assert out["nodes"][:5] == best


def test_path_is_a_shortest_path(store, nxg):
    comp = max(nx.connected_components(nxg), key=len)
    a, b = sorted(comp)[:2][0], sorted(comp)[-1]
    out = store.query({"kind": "path", "seeds": [a], "target": b})
    path = out["path"]
    assert path[0] == a and path[-1] == b
    assert len(path) - 1 == nx.shortest_path_length(nxg, a, b)
    assert all(nxg.has_edge(u, v) for u, v in itertools.pairwise(path))


def test_path_none_when_unreachable(store, nxg):
    isolated = next(v for v in nxg if nxg.degree(v) == 0)
    other = next(v for v in nxg if nxg.degree(v) > 0)
    assert store.query({"kind": "path", "seeds": [other], "target": isolated})["path"] is None


def test_community_members_share_a_label(store):
    out = store.query({"kind": "community", "seeds": [5], "top": 1000})
    labels = store.communities
    assert labels[5] == out["community"] and 5 in out["nodes"]
    assert out["count"] == int((labels == labels[5]).sum())


def test_local_search_ranked(store):
    out = store.query({"kind": "local_search", "seeds": [0, 5], "k": 2, "top": 10})
    assert out["scores"] == sorted(out["scores"], reverse=True) and len(out["nodes"]) <= 10


def test_vector_search_matches_numpy(store):
    rng = np.random.default_rng(0)
    q = rng.standard_normal(16)
    out = store.search({"vector": q.tolist(), "k": 5})
    base = store.vectors.astype(np.float64)
    cos = base @ q / (np.linalg.norm(base, axis=1) * np.linalg.norm(q))
    assert out["ids"] == np.argsort(-cos, kind="stable")[:5].tolist()
    assert np.allclose(out["scores"], np.sort(cos)[::-1][:5], atol=1e-5)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"kind": "khop", "seeds": []}, "seeds"),
        ({"kind": "khop", "seeds": [10**9]}, "out of range"),
        ({"kind": "khop", "seeds": [-1]}, "out of range"),
        ({"kind": "khop", "seeds": [True]}, "integers"),
        ({"kind": "khop", "seeds": [0], "k": 9}, "'k'"),
        ({"kind": "ppr", "seeds": [0], "alpha": 1.0}, "alpha"),
        ({"kind": "path", "seeds": [0]}, "target"),
        ({"kind": "walk", "seeds": [0]}, "kind"),
    ],
)
def test_graph_bad_input(store, body, needle):
    with pytest.raises(ApiError) as info:
        store.query(body)
    assert info.value.status == 422 and needle in info.value.detail


@pytest.mark.parametrize(
    "body",
    [{"vector": [1.0] * 3}, {"vector": [1.0] * 15 + ["x"]}, {"vector": [1e308] * 16},
     {"vector": [0.0] * 16, "k": 0}],
)  # fmt: skip
def test_vector_bad_input(store, body):
    with pytest.raises(ApiError) as info:
        store.search(body)
    assert info.value.status == 422


def test_ivf_with_every_cell_probed_is_exact():
    s = GraphStore({"graph": {"scale": 4}, "vectors": {"n": 400, "dim": 8, "seed": 2,
                                                         "nlist": 8, "nprobe": 8}})  # fmt: skip
    q = np.random.default_rng(5).standard_normal(8).tolist()
    exact = s.search({"vector": q, "k": 7})
    ivf = s.search({"vector": q, "k": 7, "index": "ivf"})
    assert ivf["ids"] == exact["ids"] and ivf["index"] == "ivf"
    assert np.allclose(ivf["scores"], exact["scores"], atol=1e-5)


def test_graph_from_edge_list(tmp_path):
    path = tmp_path / "g.tsv"
    path.write_text("# comment\n0\t1\n1\t2\n2\t0\n3\t4\n")
    s = GraphStore({"graph": {"edge_list": str(path)}, "vectors": {"n": 10, "dim": 4}})
    s.warm()
    assert s.info()["n_nodes"] == 5 and s.info()["n_edges"] == 4
    assert s.query({"kind": "path", "seeds": [0], "target": 4})["path"] is None
    assert s.query({"kind": "khop", "seeds": [0], "k": 1})["nodes"] == [0, 1, 2]
