import numpy as np
import pytest

from vector import naive
from workbench.vector import clustered_embeddings, kmeans


def _lloyd_fixed_point(x, centroids):
    """Each centroid is the mean of the points nearest to it (what Lloyd converges to)."""
    assign = naive.scores(x, centroids, "l2").argmin(1)
    for c in range(centroids.shape[0]):
        members = x[assign == c]
        if len(members):
            np.testing.assert_allclose(centroids[c], members.mean(0), atol=1e-4)


def test_separated_blobs_are_found():
    rng = np.random.default_rng(0)
    centres = np.float32([[0, 0], [20, 0], [0, 20], [20, 20], [10, 40]])
    x = np.concatenate([c + rng.standard_normal((100, 2)).astype(np.float32) for c in centres])
    got = kmeans(x, 5, seed=1, n_iter=50)
    d = naive.scores(centres, got, "l2")
    assert np.sqrt(d.min(1)).max() < 0.5  # every true centre has a centroid next to it
    _lloyd_fixed_point(x, got)


def test_converged_result_is_a_lloyd_fixed_point():
    x = clustered_embeddings(3000, 16, n_clusters=12, seed=2)
    _lloyd_fixed_point(x, kmeans(x, 12, seed=0, n_iter=100))


def test_deterministic_for_a_seed_and_seed_matters():
    x = clustered_embeddings(5000, 8, n_clusters=20, seed=3)
    a = kmeans(x, 20, seed=7, max_points_per_centroid=100)
    np.testing.assert_array_equal(a, kmeans(x, 20, seed=7, max_points_per_centroid=100))
    assert not np.array_equal(a, kmeans(x, 20, seed=8, max_points_per_centroid=100))


def test_duplicate_points_give_no_empty_or_nan_centroids():
    x = np.repeat(np.float32([[0, 0], [1, 1], [5, 5]]), 30, axis=0)
    got = kmeans(x, 6, seed=0)
    assert np.isfinite(got).all()
    # the three distinct points are all covered
    assert naive.scores(np.float32([[0, 0], [1, 1], [5, 5]]), got, "l2").min(1).max() < 1e-2


def test_k_equals_n_puts_a_centroid_on_every_point():
    x = np.float32([[0, 0], [3, 0], [0, 7]])
    got = kmeans(x, 3, seed=0)
    assert naive.scores(x, got, "l2").min(1).max() < 1e-10


@pytest.mark.parametrize(
    ("kwargs", "exc", "msg"),
    [
        ({"k": 0}, ValueError, "k must be >= 1"),
        ({"k": 11}, ValueError, "k=11 is larger"),
        ({"n_iter": -1}, ValueError, "n_iter must be >= 0"),
        ({"max_points_per_centroid": 0}, ValueError, "max_points_per_centroid must be >= 1"),
        ({"init_points_per_centroid": 2.5}, TypeError, "init_points_per_centroid must be an"),
    ],
)
def test_bad_input(kwargs, exc, msg):
    args = {"x": np.ones((10, 2)), "k": 2}
    args.update(kwargs)
    with pytest.raises(exc, match=msg):
        kmeans(**args)


@pytest.mark.parametrize(
    ("seed", "exc", "msg"),
    [
        (-1, ValueError, "seed must be >= 0"),  # used to be numpy's message, not naming seed
        (1.5, TypeError, "seed must be an integer"),
        (True, TypeError, "seed must be an integer"),
        ("0", TypeError, "seed must be an integer"),
    ],
)
def test_bad_seed_is_named(seed, exc, msg):
    with pytest.raises(exc, match=msg):
        kmeans(np.ones((10, 2)), 2, seed=seed)


def test_numpy_integer_seed_accepted():
    x = np.random.default_rng(0).standard_normal((50, 3))
    np.testing.assert_array_equal(kmeans(x, 3, seed=np.int64(4)), kmeans(x, 3, seed=4))
