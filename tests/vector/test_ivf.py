import numpy as np
import pytest

from vector import naive
from workbench.vector import IVFIndex, clustered_embeddings, recall_at_k, topk

METRICS = ["ip", "cosine", "l2"]


@pytest.fixture(scope="module")
def clustered():
    base = clustered_embeddings(20000, 48, n_clusters=32, seed=11)
    queries = clustered_embeddings(200, 48, n_clusters=32, seed=11, sample=1)
    return base, queries


@pytest.fixture(scope="module")
def indexes(clustered):
    return {m: IVFIndex.build(clustered[0], nlist=128, metric=m, seed=0) for m in METRICS}


@pytest.mark.parametrize("metric", METRICS)
def test_recall_at_default_nprobe(clustered, indexes, metric):
    base, queries = clustered
    index = indexes[metric]
    assert index.nprobe == 8 and index.ntotal == 20000 and index.dim == 48
    _, exact = topk(queries, base, 10, metric)
    scores, ids = index.search(queries, 10)
    assert recall_at_k(ids, exact) >= 0.95
    # whatever it finds carries its true score, best first
    ref = naive.scores(queries, base, metric)
    np.testing.assert_allclose(scores, np.take_along_axis(ref, ids, 1), atol=1e-5)
    assert (
        (np.diff(scores, axis=1) >= 0).all()
        if metric == "l2"
        else (np.diff(scores, axis=1) <= 0).all()
    )


@pytest.mark.parametrize("metric", METRICS)
def test_probing_every_cell_is_exact(clustered, indexes, metric):
    base, queries = clustered
    s, i = indexes[metric].search(queries[:20], 10, nprobe=128)
    naive.assert_topk_equal(s, i, queries[:20], base, 10, metric)


def test_recall_grows_with_nprobe(clustered, indexes):
    base, queries = clustered
    _, exact = topk(queries, base, 10)
    recalls = [recall_at_k(indexes["ip"].search(queries, 10, p)[1], exact) for p in (1, 4, 16)]
    assert recalls[0] < recalls[2] and recalls == sorted(recalls)


def test_cells_partition_the_base(clustered, indexes):
    index = indexes["l2"]
    assert index.list_sizes.sum() == 20000 and (index.list_sizes > 0).sum() > 100
    # each stored vector sits in the cell of its nearest centroid
    cells = np.repeat(np.arange(128), index.list_sizes)
    nearest = topk(index._vectors, index.centroids, 1, "l2")[1][:, 0]
    d = naive.scores(index._vectors[:500], index.centroids, "l2")
    np.testing.assert_allclose(d[np.arange(500), cells[:500]], d.min(1), rtol=1e-5)
    assert (nearest == cells).mean() > 0.999


def test_same_seed_same_index_other_seed_differs(clustered):
    base = clustered[0][:3000]
    a = IVFIndex.build(base, 16, seed=3)
    b = IVFIndex.build(base, 16, seed=3)
    c = IVFIndex.build(base, 16, seed=4)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    np.testing.assert_array_equal(a._ids, b._ids)
    assert not np.array_equal(a.centroids, c.centroids)


@pytest.mark.parametrize("metric", METRICS)
def test_save_load_round_trip(tmp_path, clustered, indexes, metric):
    _, queries = clustered
    index = indexes[metric]
    index.nprobe = 5
    path = index.save(tmp_path / "ivf.npz")
    back = IVFIndex.load(path)
    assert (back.nlist, back.metric, back.nprobe, back.ntotal) == (128, metric, 5, 20000)
    for got, want in zip(back.search(queries, 10), index.search(queries, 10), strict=True):
        np.testing.assert_array_equal(got, want)
    index.nprobe = 8


def test_load_rejects_other_files(tmp_path):
    np.savez(tmp_path / "x.npz", a=np.ones(3))
    with pytest.raises(ValueError, match="not an IVFIndex file"):
        IVFIndex.load(tmp_path / "x.npz")
    (tmp_path / "y.npz").write_text("nope")
    with pytest.raises(ValueError, match="cannot read an IVFIndex"):
        IVFIndex.load(tmp_path / "y.npz")


def test_train_then_add_in_batches_equals_build(clustered):
    base = clustered[0][:4000]
    built = IVFIndex.build(base, 20, "l2", seed=1)
    index = IVFIndex(20, "l2").train(base, seed=1)
    np.testing.assert_array_equal(index.add(base[:1500]), np.arange(1500))
    np.testing.assert_array_equal(index.add(base[1500:]), np.arange(1500, 4000))
    np.testing.assert_array_equal(index._ids, built._ids)
    for got, want in zip(index.search(base[:30], 4), built.search(base[:30], 4), strict=True):
        np.testing.assert_array_equal(got, want)


def test_fewer_candidates_than_k_are_marked_missing():
    base = np.float32([[1, 0], [1, 0.1], [0, 1], [0.1, 1], [-1, 0], [-1, -0.1]])
    index = IVFIndex.build(base, 3, "l2", seed=0)
    s, i = index.search(base[:1], 6, nprobe=1)
    assert set(i[0, :2].tolist()) == {0, 1}
    np.testing.assert_array_equal(i[0, 2:], -1)
    assert np.isinf(s[0, 2:]).all() and (s[0, 2:] > 0).all()


@pytest.mark.parametrize(
    ("call", "exc", "msg"),
    [
        (lambda ix: ix.search(np.ones((2, 5)), 3), ValueError, "queries has dimension 5"),
        (lambda ix: ix.search(np.ones((2, 4)), 0), ValueError, "k must be >= 1"),
        (lambda ix: ix.search(np.ones((2, 4)), 201), ValueError, "k=201 is larger"),
        (lambda ix: ix.search(np.ones((2, 4)), 3, nprobe=9), ValueError, "nprobe=9 is larger"),
        (lambda ix: ix.search(np.ones((2, 4)), 3, nprobe=0), ValueError, "nprobe must be >= 1"),
        (lambda ix: ix.search(np.ones((2, 4)), 3, nprobe=1.5), TypeError, "nprobe must be an"),
        (lambda ix: ix.search(np.full((1, 4), np.nan), 3), ValueError, "queries contains NaN"),
        (lambda ix: ix.add(np.full((1, 4), np.inf)), ValueError, "x contains NaN"),
        (lambda ix: ix.add(np.ones((1, 4), dtype=complex)), TypeError, "x must hold real"),
    ],
)
def test_bad_input(call, exc, msg):
    index = IVFIndex.build(np.random.default_rng(0).standard_normal((200, 4)), 8)
    with pytest.raises(exc, match=msg):
        call(index)


def test_bad_construction():
    with pytest.raises(ValueError, match="nlist must be >= 1"):
        IVFIndex(0)
    with pytest.raises(ValueError, match="metric must be one of"):
        IVFIndex(4, "hamming")
    with pytest.raises(ValueError, match="nlist=50 needs at least that many"):
        IVFIndex.build(np.ones((10, 3)), 50)
    with pytest.raises(ValueError, match="base contains NaN"):
        IVFIndex.build(np.full((10, 3), np.nan), 2)
    with pytest.raises(ValueError, match="not trained"):
        IVFIndex(4).search(np.ones((1, 3)), 1)
    with pytest.raises(ValueError, match="not trained"):
        IVFIndex(4).add(np.ones((1, 3)))


def test_split_between_threads_gives_the_same_answer(clustered, indexes, monkeypatch):
    import importlib

    ivf = importlib.import_module("workbench.vector.ivf")
    _, queries = clustered
    monkeypatch.setattr(ivf, "_MIN_WORK_PER_WORKER", 10**12)
    one = indexes["l2"].search(queries, 10, nprobe=12)
    monkeypatch.setattr(ivf, "_MIN_WORK_PER_WORKER", 1)
    monkeypatch.setattr(ivf._threads, "workers", lambda: 3)
    three = indexes["l2"].search(queries, 10, nprobe=12)
    for got, want in zip(three, one, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("value", "exc", "msg"),
    [
        (0, ValueError, "nprobe must be >= 1"),
        (-1, ValueError, "nprobe must be >= 1"),
        (9, ValueError, "nprobe=9 is larger"),
        (1.5, TypeError, "nprobe must be an"),
        (True, TypeError, "nprobe must be an"),
    ],
)
def test_nprobe_attribute_is_validated(value, exc, msg):
    # the settable attribute used to be read by search() unchecked: 0 -> IndexError,
    # -1 -> "negative dimensions"
    index = IVFIndex.build(np.random.default_rng(0).standard_normal((200, 4)), 8)
    with pytest.raises(exc, match=msg):
        index.nprobe = value
    assert index.nprobe == 1
    index.nprobe = np.int64(8)
    assert index.nprobe == 8 and type(index.nprobe) is int
    assert index.search(np.ones((2, 4)), 3)[1].shape == (2, 3)


@pytest.mark.parametrize("stored", [0, -1, 9])
def test_load_rejects_bad_nprobe(tmp_path, stored):
    index = IVFIndex.build(np.random.default_rng(0).standard_normal((200, 4)), 8)
    path = index.save(tmp_path / "ivf.npz")
    with np.load(path) as z:
        data = {name: z[name] for name in z.files}
    data["nprobe"] = np.int64(stored)
    np.savez(path, **data)
    with pytest.raises(ValueError, match="nprobe"):
        IVFIndex.load(path)
