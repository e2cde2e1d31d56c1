import numpy as np
import pytest

from workbench.vector import clustered_embeddings, recall_at_k


@pytest.mark.parametrize("dim", [64, 384, 1024])
def test_unit_vectors_of_the_right_shape(dim):
    x = clustered_embeddings(300, dim, seed=0)
    assert x.shape == (300, dim) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


def test_seeded_and_samples_independent():
    a = clustered_embeddings(200, 32, seed=1)
    np.testing.assert_array_equal(a, clustered_embeddings(200, 32, seed=1))
    assert not np.allclose(a, clustered_embeddings(200, 32, seed=2))
    assert not np.allclose(a, clustered_embeddings(200, 32, seed=1, sample=1))


def test_points_lie_near_their_own_centre():
    x, labels = clustered_embeddings(4000, 64, n_clusters=8, spread=0.5, seed=3, return_labels=True)
    assert labels.shape == (4000,) and set(labels.tolist()) == set(range(8))
    means = np.stack([x[labels == c].mean(0) for c in range(8)])
    nearest_mean = (x @ means.T).argmax(1)
    assert (nearest_mean == labels).mean() > 0.99
    # spread sets the cosine to the centre: 1 / sqrt(1 + spread^2) for large dim
    centre = means / np.linalg.norm(means, axis=1, keepdims=True)
    cos = (x * centre[labels]).sum(1)
    assert abs(cos.mean() - 1 / np.sqrt(1 + 0.25)) < 0.02


def test_spread_zero_collapses_on_centres():
    x, labels = clustered_embeddings(50, 16, n_clusters=3, spread=0.0, return_labels=True)
    for c in range(3):
        assert np.allclose(x[labels == c], x[labels == c][0])


@pytest.mark.parametrize(
    ("kwargs", "exc", "msg"),
    [
        ({"n": -1}, ValueError, "n must be >= 0"),
        ({"dim": 1}, ValueError, "dim must be >= 2"),
        ({"n_clusters": 0}, ValueError, "n_clusters must be >= 1"),
        ({"spread": -0.1}, ValueError, "spread must be"),
        ({"spread": float("nan")}, ValueError, "spread must be"),
        ({"n": 2.0}, TypeError, "n must be an integer"),
    ],
)
def test_bad_input(kwargs, exc, msg):
    args = {"n": 10, "dim": 8}
    args.update(kwargs)
    with pytest.raises(exc, match=msg):
        clustered_embeddings(**args)


def test_recall_at_k_matches_set_arithmetic():
    rng = np.random.default_rng(0)
    truth = np.array([rng.permutation(50)[:10] for _ in range(30)])
    found = np.array([rng.permutation(50)[:12] for _ in range(30)])
    found[0, :3] = -1
    expected = np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)])
    assert recall_at_k(found, truth) == pytest.approx(expected)
    assert recall_at_k(truth, truth) == 1.0
    with pytest.raises(ValueError, match="found has 2 rows but truth has 30"):
        recall_at_k(found[:2], truth)
    with pytest.raises(ValueError, match="truth must be a 2-D integer array"):
        recall_at_k(found, truth.astype(float))
