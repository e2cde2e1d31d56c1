import importlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vector import naive
from workbench.vector import clustered_embeddings, normalize, topk

METRICS = ["ip", "cosine", "l2"]
# the module, not the function the package re-exports under the same name
topk_module = importlib.import_module("workbench.vector.topk")


@pytest.fixture
def small_blocks(monkeypatch):
    """Force many base blocks and query blocks so the block boundaries are exercised."""
    monkeypatch.setattr(topk_module, "SCORE_BLOCK", 700)
    monkeypatch.setattr(topk_module, "QUERY_BLOCK", 3)
    monkeypatch.setattr(topk_module, "_rows_per_block", lambda nq, n: min(n, 700 // nq))


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("k", [1, 10, 64, 65])
def test_random_matches_reference(metric, k):
    rng = np.random.default_rng(k)
    base = rng.standard_normal((3000, 24)).astype(np.float32)
    queries = rng.standard_normal((9, 24)).astype(np.float32)
    s, i = topk(queries, base, k, metric)
    assert s.dtype == np.float32 and i.dtype == np.int64 and s.shape == (9, k)
    naive.assert_topk_equal(s, i, queries, base, k, metric)


@pytest.mark.parametrize("metric", METRICS)
def test_block_boundaries_match_reference(metric, small_blocks):
    rng = np.random.default_rng(1)
    base = rng.standard_normal((1001, 8)).astype(np.float32)
    queries = rng.standard_normal((10, 8)).astype(np.float32)
    s, i = topk(queries, base, 7, metric)
    naive.assert_topk_equal(s, i, queries, base, 7, metric)


@pytest.mark.parametrize("metric", METRICS)
def test_single_query_1d(metric):
    rng = np.random.default_rng(2)
    base = rng.standard_normal((5000, 16)).astype(np.float32)
    q = rng.standard_normal(16)
    s, i = topk(q, base, 5, metric)
    assert s.shape == i.shape == (1, 5)
    naive.assert_topk_equal(s, i, q[None], base, 5, metric)


@pytest.mark.parametrize("metric", METRICS)
def test_ties_duplicates_and_zeros_exact(metric, small_blocks):
    # small integers: float32 arithmetic is exact, so ties are exact and must be broken by id
    rng = np.random.default_rng(3)
    base = rng.integers(-2, 3, size=(400, 5)).astype(np.float32)
    base[::7] = 0.0  # zero vectors
    base[1::5] = base[2]  # many duplicates of one row
    queries = rng.integers(-2, 3, size=(12, 5)).astype(np.float32)
    queries[0] = 0.0  # a zero query: every ip/cosine score ties at 0
    k = 30
    s, i = topk(queries, base, k, metric)
    ref_s, ref_i = naive.topk(queries, base, k, metric)
    if metric == "cosine":  # cosines of integer vectors are irrational: ties up to rounding
        naive.assert_topk_equal(s, i, queries, base, k, metric)
        np.testing.assert_array_equal(i[0], np.arange(k))
    else:
        np.testing.assert_array_equal(i, ref_i)
        np.testing.assert_allclose(s, ref_s, rtol=1e-6)


def test_k_equals_n_returns_a_permutation():
    base = np.random.default_rng(4).standard_normal((50, 3)).astype(np.float32)
    s, i = topk(base[:2], base, 50, "l2")
    assert sorted(i[0].tolist()) == list(range(50))
    assert (np.diff(s, axis=1) >= 0).all()
    assert i[0, 0] == 0 and i[1, 0] == 1
    assert s[0, 0] == pytest.approx(0.0, abs=1e-6)


def test_metrics_agree_on_normalised_data():
    base = clustered_embeddings(4000, 32, n_clusters=10, seed=5)
    queries = clustered_embeddings(20, 32, n_clusters=10, seed=5, sample=1)
    s_ip, i_ip = topk(queries, base, 10, "ip")
    s_cos, i_cos = topk(queries, base, 10, "cosine")
    s_l2, i_l2 = topk(queries, base, 10, "l2")
    np.testing.assert_array_equal(i_ip, i_cos)
    np.testing.assert_array_equal(i_ip, i_l2)
    np.testing.assert_allclose(s_ip, s_cos, atol=1e-6)
    np.testing.assert_allclose(s_l2, 2 - 2 * s_ip, atol=1e-5)  # |q-b|^2 = 2 - 2 q.b


def test_cosine_equals_ip_on_normalised_inputs_and_handles_zero_base_rows():
    rng = np.random.default_rng(6)
    base = rng.standard_normal((300, 6)).astype(np.float32) * rng.uniform(0.1, 9, (300, 1))
    base[10] = 0
    queries = rng.standard_normal((4, 6)).astype(np.float32) * 7
    s, i = topk(queries, base, 300, "cosine")
    s2, _ = topk(normalize(queries), normalize(base), 300, "ip")
    np.testing.assert_allclose(s, s2, atol=1e-6)
    assert np.isfinite(s).all()
    assert all(s[r, list(i[r]).index(10)] == 0.0 for r in range(4))


def test_float64_and_integer_inputs_accepted():
    base = np.arange(12, dtype=np.int64).reshape(4, 3)
    s, i = topk(np.array([[1.0, 0.0, 0.0]]), base, 2)
    np.testing.assert_array_equal(i, [[3, 2]])
    np.testing.assert_allclose(s, [[9.0, 6.0]])


def test_empty_query_batch():
    s, i = topk(np.empty((0, 4)), np.ones((3, 4)), 2)
    assert s.shape == i.shape == (0, 2)


@pytest.mark.parametrize(
    ("kwargs", "exc", "msg"),
    [
        ({"queries": np.ones((2, 3))}, ValueError, "queries has dimension 3, expected 4"),
        ({"k": 11}, ValueError, r"k=11 is larger than the number of base vectors \(10\)"),
        ({"k": 0}, ValueError, "k must be >= 1"),
        ({"k": 2.0}, TypeError, "k must be an integer"),
        ({"k": True}, TypeError, "k must be an integer"),
        ({"metric": "dot"}, ValueError, "metric must be one of"),
        ({"metric": None}, TypeError, "metric must be a string"),
        ({"base": np.ones((0, 4))}, ValueError, "base is empty"),
        ({"base": np.ones(4)}, ValueError, "base must be a 2-D array"),
        ({"base": np.ones((10, 4), dtype=complex)}, TypeError, "base must hold real numbers"),
        ({"queries": np.ones((2, 4), dtype=bool)}, TypeError, "queries must hold real"),
        ({"queries": np.array([[1, 2, 3, None]])}, TypeError, "queries must hold real"),
        ({"queries": np.array([[1, 2, 3, np.nan]])}, ValueError, "queries contains NaN or inf"),
        ({"queries": np.array([[1, 2, 3, np.inf]])}, ValueError, "queries contains NaN or inf"),
    ],
)
def test_bad_input_raises_clear_errors(kwargs, exc, msg):
    args = {"queries": np.ones((2, 4)), "base": np.ones((10, 4)), "k": 3, "metric": "ip"}
    args.update(kwargs)
    with pytest.raises(exc, match=msg):
        topk(**args)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_base_rejected(metric, bad, small_blocks):
    base = np.ones((100, 4), dtype=np.float32)
    base[77, 2] = bad
    queries = np.zeros((2, 4), dtype=np.float32)  # even a zero query must not hide it
    with pytest.raises(ValueError, match="base contains NaN or inf"):
        topk(queries, base, 3, metric)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_score_after_the_heaps_fill_is_rejected(bad):
    # the selection skips scores below each query's k-th best without looking at them one
    # by one; a non-finite score far into the base (heaps long full, so -inf is "below the
    # threshold") must still be reported, for a batch and for a single query
    rng = np.random.default_rng(10)
    base = rng.uniform(0.5, 1.0, (50_000, 8)).astype(np.float32)
    base[41_234, 3] = bad
    queries = rng.uniform(0.5, 1.0, (5, 8)).astype(np.float32)
    for q in (queries, queries[0]):
        with pytest.raises(ValueError, match="base contains NaN or inf"):
            topk(q, base, 4)


def test_overflowing_scores_rejected():
    base = np.full((5, 4), 3e38, dtype=np.float32)
    with pytest.raises(ValueError, match="overflow"):
        topk(np.full((1, 4), 3e38, dtype=np.float32), base, 2, "ip")


@settings(max_examples=60, deadline=None)
@given(
    data=arrays(
        np.float32,
        st.tuples(st.integers(1, 40), st.integers(1, 6)),
        elements=st.sampled_from([0.0, 1.0, -1.0, 0.5, 2.0, -3.0]),
    ),
    nq=st.integers(1, 5),
    metric=st.sampled_from(METRICS),
    kfrac=st.floats(0.01, 1.0),
)
def test_property_random_small_values_with_ties(data, nq, metric, kfrac):
    queries = data[:nq]
    k = max(1, int(round(kfrac * data.shape[0])))
    s, i = topk(queries, data, k, metric)
    naive.assert_topk_equal(s, i, queries, data, k, metric)
    assert (np.diff(s, axis=1) >= 0).all() if metric == "l2" else (np.diff(s, axis=1) <= 0).all()


@pytest.mark.parametrize("metric", METRICS)
def test_worker_threads_give_the_same_answer(metric, monkeypatch):
    threads = importlib.import_module("workbench.vector._threads")
    rng = np.random.default_rng(8)
    base = rng.integers(-3, 4, size=(5000, 6)).astype(np.float32)  # many exact ties
    queries = rng.standard_normal((20, 6)).astype(np.float32)
    monkeypatch.setattr(topk_module, "SCORE_BLOCK", 20 * 300)
    monkeypatch.setattr(threads, "workers", lambda: 1)
    one = topk(queries, base, 25, metric)
    monkeypatch.setattr(topk_module, "MIN_WORK", 1)
    monkeypatch.setattr(threads, "workers", lambda: 3)
    three = topk(queries, base, 25, metric)
    for got, want in zip(three, one, strict=True):
        np.testing.assert_array_equal(got, want)
    naive.assert_topk_equal(*three, queries, base, 25, metric)


def test_concurrent_searches_agree_and_restore_blas_threads():
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_info

    def blas_threads():
        return {
            lib["filepath"]: lib["num_threads"]
            for lib in threadpool_info()
            if lib["user_api"] == "blas"
        }

    before = blas_threads()
    rng = np.random.default_rng(9)
    base = rng.standard_normal((20000, 16)).astype(np.float32)
    queries = [rng.standard_normal((5, 16)).astype(np.float32) for _ in range(8)]
    want = [topk(q, base, 5) for q in queries]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda q: topk(q, base, 5), queries))
    for (gs, gi), (ws, wi) in zip(got, want, strict=True):
        np.testing.assert_array_equal(gi, wi)
        np.testing.assert_array_equal(gs, ws)
    after = blas_threads()
    assert {path: after[path] for path in before} == before


@pytest.mark.parametrize("n", [4, 70])  # insertion sort (k <= 64) and the argsort path
def test_equal_float32_scores_are_ordered_by_id(n):
    # cosine of [1, 0] with c*[1, 1] differs between c only beyond float32 precision; the
    # float32 scores are equal, so the documented contract orders them by id (it used to
    # give [2, 0, 1, 3] for the 4-row case)
    base = np.float64([[2, 2], [1, 1], [3, 3], [1, 1]])
    if n > 4:
        base = np.arange(1, n + 1, dtype=np.float64)[:, None] * np.ones((1, 2)) / 7.0
    scores, ids = topk(np.float64([[1, 0]]), base, n, "cosine")
    assert np.unique(scores).size == 1
    assert ids[0].tolist() == list(range(n))
