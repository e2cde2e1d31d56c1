"""Generators: determinism, the shapes they promise, and the distributions they draw."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

from workbench.graph import erdos_renyi, rmat, rmat_edges, stochastic_block_model


def test_rmat_deterministic_and_simple():
    g = rmat(10, seed=4)
    assert g == rmat(10, seed=4)
    assert g != rmat(10, seed=5)
    assert g.n == 1024 and g.num_self_loops == 0 and not g.directed
    src, dst = rmat_edges(10, seed=4)
    assert src.size == 16 * 1024
    keep = src != dst
    pairs = np.unique(np.sort(np.column_stack([src[keep], dst[keep]]), axis=1), axis=0)
    assert g.num_edges == pairs.shape[0]


def test_rmat_quadrant_probabilities():
    # Before the permutation, the top bit of (src, dst) falls in quadrant a/b/c/d.
    from workbench.graph.generators import _rmat_kernel

    src, dst = _rmat_kernel(12, 200_000, 0.57, 0.19, 0.19, 0)
    top_u = src >> 11
    top_v = dst >> 11
    freq = [np.mean((top_u == i) & (top_v == j)) for i, j in [(0, 0), (0, 1), (1, 0), (1, 1)]]
    np.testing.assert_allclose(freq, [0.57, 0.19, 0.19, 0.05], atol=0.005)


def test_rmat_degree_is_skewed_and_ids_permuted():
    g = rmat(12, seed=0)
    deg = g.degree()
    assert deg.max() > 20 * np.median(deg[deg > 0])
    # without the permutation vertex 0 would be the hub
    assert np.argmax(deg) != 0


def test_erdos_renyi_exact_edge_count():
    for directed in (False, True):
        for n, m in [(50, 0), (50, 100), (10, 45 if not directed else 90), (200, 1000)]:
            g = erdos_renyi(n, m, seed=1, directed=directed)
            assert g.n == n and g.num_edges == m and g.num_self_loops == 0
    assert erdos_renyi(30, 60, seed=2) == erdos_renyi(30, 60, seed=2)
    with pytest.raises(ValueError, match="m must"):
        erdos_renyi(4, 7)


def test_erdos_renyi_is_uniform_over_pairs():
    counts = np.zeros((6, 6))
    for seed in range(400):
        src, dst = erdos_renyi(6, 3, seed=seed).edges()
        counts[src, dst] += 1
    upper = counts[np.triu_indices(6, 1)]
    # each of the 15 pairs appears with probability 3/15 per draw: 80 expected
    assert upper.min() > 45 and upper.max() < 115


def test_sbm_densities():
    g, labels = stochastic_block_model([100, 100], 0.2, 0.02, seed=3)
    src, dst = g.edges()
    inside = labels[src] == labels[dst]
    assert inside.sum() / (2 * 100 * 99 / 2) == pytest.approx(0.2, abs=0.02)
    assert (~inside).sum() / (100 * 100) == pytest.approx(0.02, abs=0.01)
    with pytest.raises(ValueError, match="p_in"):
        stochastic_block_model([3], 1.5, 0.0)
    with pytest.raises(ValueError, match="sizes"):
        stochastic_block_model([], 0.5, 0.0)


def test_generator_bad_input():
    with pytest.raises(ValueError, match="scale"):
        rmat(-1)
    with pytest.raises(TypeError, match="scale"):
        rmat(2.5)
    with pytest.raises(ValueError, match="a \\+ b \\+ c"):
        rmat(4, a=0.6, b=0.3, c=0.3)
    with pytest.raises(ValueError, match="seed"):
        rmat(4, seed=-3)


@pytest.mark.parametrize(
    "module",
    ["csr", "generators", "traversal", "pagerank", "components", "community", "search", "io"],
)
def test_docstring_examples(module):
    mod = importlib.import_module(f"workbench.graph.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
