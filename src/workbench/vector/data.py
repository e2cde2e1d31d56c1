"""Seeded synthetic embeddings and the recall measure used to judge approximate search."""

from __future__ import annotations

import numpy as np

from workbench.vector.normalize import normalize

__all__ = ["clustered_embeddings", "recall_at_k"]

_CHUNK = 65536  # rows generated at a time, so a 1M x 1024 set needs no float64 temporaries


def clustered_embeddings(
    n: int,
    dim: int,
    *,
    n_clusters: int = 64,
    spread: float = 0.6,
    seed: int = 0,
    sample: int = 0,
    return_labels: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Unit vectors drawn from a Gaussian mixture on the sphere, like text embeddings.

    Each of ``n_clusters`` centres is a uniform random unit vector; a point is its cluster's
    centre plus isotropic Gaussian noise of expected norm ``spread``, projected back onto
    the sphere. Clusters are picked uniformly at random.

    Parameters
    ----------
    n, dim : int
        Number of vectors (>= 0) and their dimension (>= 2; 64-1024 is the realistic range).
    n_clusters : int
        Mixture components (>= 1).
    spread : float
        Noise norm relative to the unit centre (>= 0): 0 puts every point on its centre;
        around 1 clusters overlap strongly.
    seed : int
        Seeds the centres. The same seed, ``dim`` and ``n_clusters`` give the same mixture.
    sample : int
        Independent draws from one mixture: use ``sample=0`` for the base and ``sample=1``
        for queries.
    return_labels : bool
        Also return each row's cluster.

    Returns
    -------
    x : numpy.ndarray of float32, shape (n, dim)
        Rows of unit norm.
    labels : numpy.ndarray of int64, shape (n,)
        Only when ``return_labels``.

    Raises
    ------
    TypeError
        A count is not an integer.
    ValueError
        ``n < 0``, ``dim < 2``, ``n_clusters < 1``, ``spread < 0`` or ``sample < 0``.

    Notes
    -----
    O(n * dim) time; generated in chunks, so peak extra memory is O(65536 * dim).

    Examples
    --------
    >>> x = clustered_embeddings(100, 64, n_clusters=4, seed=1)
    >>> x.shape, x.dtype
    ((100, 64), dtype('float32'))
    >>> bool(np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5))
    True
    >>> q = clustered_embeddings(5, 64, n_clusters=4, seed=1, sample=1)
    >>> bool((q != x[:5]).any())
    True
    """
    for name, value in (
        ("n", n),
        ("dim", dim),
        ("n_clusters", n_clusters),
        ("seed", seed),
        ("sample", sample),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if dim < 2:
        raise ValueError(f"dim must be >= 2, got {dim}")
    if n_clusters < 1:
        raise ValueError(f"n_clusters must be >= 1, got {n_clusters}")
    if sample < 0:
        raise ValueError(f"sample must be >= 0, got {sample}")
    if not np.isfinite(spread) or spread < 0:
        raise ValueError(f"spread must be a finite number >= 0, got {spread}")
    centre_rng = np.random.default_rng(np.random.SeedSequence([seed, dim, n_clusters, 0]))
    centres = normalize(centre_rng.standard_normal((n_clusters, dim), dtype=np.float32))
    point_rng = np.random.default_rng(np.random.SeedSequence([seed, dim, n_clusters, 1, sample]))
    labels = point_rng.integers(0, n_clusters, size=n)
    x = np.empty((n, dim), dtype=np.float32)
    scale = np.float32(spread / np.sqrt(dim))
    for start in range(0, n, _CHUNK):
        lab = labels[start : start + _CHUNK]
        noise = point_rng.standard_normal((lab.size, dim), dtype=np.float32)
        noise *= scale
        noise += centres[lab]
        x[start : start + lab.size] = normalize(noise)
    return (x, labels) if return_labels else x


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of each row of ``truth`` (exact neighbour ids) present in ``found``.

    Parameters
    ----------
    found : array_like of int, shape (n_queries, k_found)
        Ids returned by an approximate search (``-1`` for "none").
    truth : array_like of int, shape (n_queries, k)
        Exact neighbour ids.

    Returns
    -------
    float
        recall@k in [0, 1].

    Raises
    ------
    ValueError
        Not 2-D integer arrays, or different numbers of rows.

    Notes
    -----
    O(n_queries * k * k_found).

    Examples
    --------
    >>> recall_at_k(np.array([[1, 2, 3]]), np.array([[3, 1, 9]]))
    0.6666666666666666
    """
    found = np.asarray(found)
    truth = np.asarray(truth)
    for name, arr in (("found", found), ("truth", truth)):
        if arr.ndim != 2 or arr.dtype.kind not in "iu":
            raise ValueError(f"{name} must be a 2-D integer array, got {arr.dtype} {arr.shape}")
    if found.shape[0] != truth.shape[0]:
        raise ValueError(f"found has {found.shape[0]} rows but truth has {truth.shape[0]}")
    if truth.size == 0:
        return 1.0
    hits = 0
    for start in range(0, truth.shape[0], 1024):
        f = found[start : start + 1024]
        t = truth[start : start + 1024]
        hits += int(((t[:, :, None] == f[:, None, :]) & (t[:, :, None] >= 0)).any(-1).sum())
    return hits / truth.size
