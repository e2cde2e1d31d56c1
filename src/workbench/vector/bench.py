"""The vector benchmark grid: exact and IVF search against numpy and FAISS, side by side.

Everything the benchmark script and the ``vector_kernels`` notebook compute lives here:
the implementations (a registry, name -> searcher), the grid runners that time them and
write results through a :class:`~workbench.results.Recorder`, the memory-bandwidth probe,
and the tables and plots drawn from the recorded rows.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import MissingExtraError, require
from workbench.measure import Timing, time_call
from workbench.results import Recorder
from workbench.vector.data import clustered_embeddings, recall_at_k
from workbench.vector.ivf import IVFIndex
from workbench.vector.topk import topk

__all__ = [
    "EXACT_IMPLEMENTATIONS",
    "FAISS_BLAS_THRESHOLD",
    "IVF_IMPLEMENTATIONS",
    "BenchData",
    "blas_libraries",
    "copy_bandwidth",
    "default_nlist",
    "ivf_speedup",
    "make_data",
    "plot_latency_vs_batch",
    "plot_recall_vs_qps",
    "run_exact",
    "run_grid",
    "run_ivf",
    "summary_table",
    "time_side_by_side",
]

#: FAISS flat search uses BLAS only from this many queries on. Its default (20 before
#: 1.8, 128000 in 1.15) sends a batch of 256 queries down its non-BLAS path, 6x slower
#: than numpy on this machine; 20 makes the comparison fair.
FAISS_BLAS_THRESHOLD = 20


@dataclass(frozen=True)
class BenchData:
    """Base vectors, queries and their exact top-k (the recall reference)."""

    base: np.ndarray
    queries: np.ndarray
    k: int
    truth: np.ndarray
    params: dict[str, Any]

    @property
    def label(self) -> str:
        n, dim = self.base.shape
        return f"n{n}-d{dim}"


def make_data(
    n: int, dim: int, n_queries: int, k: int = 10, *, n_clusters: int = 64, seed: int = 0
) -> BenchData:
    """Clustered unit embeddings (see :func:`~workbench.vector.clustered_embeddings`),
    queries from the same mixture, and their exact top-k under inner product.

    Examples
    --------
    >>> d = make_data(500, 16, 4, k=3)
    >>> d.base.shape, d.queries.shape, d.truth.shape, d.label
    ((500, 16), (4, 16), (4, 3), 'n500-d16')
    """
    base = clustered_embeddings(n, dim, n_clusters=n_clusters, seed=seed)
    queries = clustered_embeddings(n_queries, dim, n_clusters=n_clusters, seed=seed, sample=1)
    truth = topk(queries, base, k)[1]
    params = {
        "n": n,
        "dim": dim,
        "n_queries": n_queries,
        "k": k,
        "n_clusters": n_clusters,
        "seed": seed,
        "metric": "ip",
        "data": "clustered_embeddings",
    }
    return BenchData(base, queries, k, truth, params)


def _faiss():
    faiss = require("faiss", "benchmark", "The FAISS comparison")
    faiss.cvar.distance_compute_blas_threshold = FAISS_BLAS_THRESHOLD
    return faiss


def blas_libraries() -> list[dict[str, Any]]:
    """Which BLAS/OpenMP each loaded library runs (threadpoolctl), FAISS's included when
    it is installed: numpy and faiss-cpu ship different OpenBLAS builds."""
    from threadpoolctl import threadpool_info

    with contextlib.suppress(MissingExtraError):
        _faiss()
    keep = ("internal_api", "version", "num_threads", "architecture", "threading_layer", "filepath")
    return [{k: lib.get(k) for k in keep} for lib in threadpool_info()]


def copy_bandwidth(nbytes: int = 1 << 28, repeat: int = 5) -> float:
    """Best measured memory copy rate in bytes/s, counted on the read side: the floor
    under one pass over a base that does not fit in cache.

    Examples
    --------
    >>> copy_bandwidth(1 << 20, repeat=2) > 1e8
    True
    """
    src = np.ones(nbytes // 4, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # touch the pages first: page faults are not bandwidth
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return src.nbytes / best


def time_side_by_side(
    calls: dict[str, Callable[[], Any]],
    *,
    repeat: int = 5,
    budget_s: float = 1.0,
    rounds: int = 5,
    memory: Sequence[str] = (),
) -> dict[str, Timing]:
    """Time several calls in interleaved rounds, so a burst of load from other processes
    falls on all of them rather than on whichever ran during it. The first round is
    :func:`~workbench.measure.time_call` for each call (first call, one warm-up, then
    ``repeat / rounds`` repeats or ``budget_s / rounds`` seconds, and ``peak_bytes`` for
    the names in ``memory``); each later round adds as many timed repeats of each call in
    turn. Returns one :class:`Timing` per call holding the repeats of all rounds.

    Examples
    --------
    >>> t = time_side_by_side({"a": lambda: sum(range(100))}, repeat=4, budget_s=0, rounds=2)
    >>> t["a"].n, t["a"].result
    (4, 4950)
    """
    per_round = max(1, -(-repeat // rounds))
    first = {
        name: time_call(
            call,
            repeat=per_round,
            budget_s=budget_s / rounds,
            memory=name in memory,
        )
        for name, call in calls.items()
    }
    times = {name: list(t.times_s) for name, t in first.items()}
    gc_was_enabled = gc.isenabled()
    gc.disable()  # as time_call: a collection inside one repeat is noise
    try:
        for _ in range(rounds - 1):
            for name, call in calls.items():
                spent = 0.0
                for i in itertools.count():
                    if i >= per_round and spent >= budget_s / rounds:
                        break
                    t0 = time.perf_counter()
                    call()
                    dt = time.perf_counter() - t0
                    times[name].append(dt)
                    spent += dt
    finally:
        if gc_was_enabled:
            gc.enable()
    return {
        name: Timing(
            first_call_s=t.first_call_s,
            times_s=tuple(times[name]),
            peak_bytes=t.peak_bytes,
            result=t.result,
        )
        for name, t in first.items()
    }


# ---- implementations: name -> factory(base) -> search(queries, k) -> ids ----------------


def _numpy_exact(base: np.ndarray) -> Callable[[np.ndarray, int], np.ndarray]:
    def search(queries: np.ndarray, k: int) -> np.ndarray:
        scores = queries @ base.T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, part, 1), axis=1)
        return np.take_along_axis(part, order, 1)

    return search


def _faiss_flat(base: np.ndarray) -> Callable[[np.ndarray, int], np.ndarray]:
    faiss = _faiss()
    index = faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    return lambda queries, k: index.search(queries, k)[1]


def _workbench_exact(base: np.ndarray) -> Callable[[np.ndarray, int], np.ndarray]:
    return lambda queries, k: topk(queries, base, k)[1]


EXACT_IMPLEMENTATIONS: dict[str, Callable[[np.ndarray], Callable[[np.ndarray, int], Any]]] = {
    "numpy": _numpy_exact,
    "faiss-flat": _faiss_flat,
    "workbench": _workbench_exact,
}


def _workbench_ivf(base: np.ndarray, nlist: int, seed: int):
    index = IVFIndex.build(base, nlist, metric="ip", seed=seed)

    def search(queries: np.ndarray, k: int, nprobe: int) -> np.ndarray:
        return index.search(queries, k, nprobe=nprobe)[1]

    return search, index.ntotal * index.dim * 4 + index.centroids.nbytes + index.ntotal * 16


def _faiss_ivf(base: np.ndarray, nlist: int, seed: int):
    faiss = _faiss()
    quantizer = faiss.IndexFlatL2(base.shape[1])  # L2 cells, as IVFIndex
    index = faiss.IndexIVFFlat(quantizer, base.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    index.train(base)
    index.add(base)

    def search(queries: np.ndarray, k: int, nprobe: int) -> np.ndarray:
        index.nprobe = nprobe
        return index.search(queries, k)[1]

    return search, base.nbytes + nlist * base.shape[1] * 4 + base.shape[0] * 8


IVF_IMPLEMENTATIONS: dict[str, Callable[[np.ndarray, int, int], tuple[Callable, int]]] = {
    "faiss-ivf": _faiss_ivf,
    "workbench-ivf": _workbench_ivf,
}


def _available(names: Sequence[str], registry: dict[str, Any]) -> list[str]:
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise ValueError(f"implementations: unknown {unknown}; known: {sorted(registry)}")
    out = []
    for name in names:
        if name.startswith("faiss"):
            try:
                _faiss()
            except MissingExtraError:
                continue  # the comparison is skipped, not the benchmark
        out.append(name)
    return out


def run_exact(
    rec: Recorder,
    data: BenchData,
    *,
    batch_sizes: Sequence[int] = (1, 256),
    implementations: Sequence[str] = ("numpy", "faiss-flat", "workbench"),
    repeat: int = 5,
    budget_s: float = 1.0,
) -> pd.DataFrame:
    """Time exact top-k for each batch size and implementation; record and return a table.

    Throughput, ratios and bandwidth use the best (minimum) repeat: on a shared machine the
    median mostly measures the other tenants; the recorded ``time`` rows keep the median,
    min, max and every repeat. Every implementation searches the same queries (the first
    ``batch`` of ``data.queries``) in one run, timed in interleaved rounds
    (:func:`time_side_by_side`); inputs are built and each searcher is called once before
    timing. Records ``time`` (+ ``first_call_time``), ``queries_per_s``, ``recall_at_k``
    against the exact ids, ``peak_memory`` (Python-visible allocations, numpy and workbench
    only) and, for one query, the effective bandwidth of reading the base once against
    :func:`copy_bandwidth`.

    Returns
    -------
    pandas.DataFrame
        One row per (batch, implementation): seconds per batch, queries/s, recall,
        ratio to numpy and to FAISS flat where measured.
    """
    names = _available(implementations, EXACT_IMPLEMENTATIONS)
    for b in batch_sizes:
        if not 1 <= b <= data.queries.shape[0]:
            raise ValueError(f"batch_sizes: {b} not in [1, {data.queries.shape[0]}]")
    params = dict(data.params, blas=blas_libraries(), faiss_blas_threshold=FAISS_BLAS_THRESHOLD)
    bw = copy_bandwidth()
    rec.record("memory/copy", "numpy", "copy_bandwidth", bw, "bytes/s", params=params)
    searchers = {name: EXACT_IMPLEMENTATIONS[name](data.base) for name in names}
    rows = []
    for b in batch_sizes:
        q = np.ascontiguousarray(data.queries[:b])
        case = f"exact/{data.label}/batch{b}"
        p = dict(params, batch=b)
        timings = time_side_by_side(
            {name: functools.partial(searchers[name], q, data.k) for name in names},
            repeat=repeat,
            budget_s=budget_s,
            memory=("numpy", "workbench"),
        )
        for name in names:
            t = timings[name]
            rec.record_timing(case, name, t, params=p)
            qps = b / t.min
            recall = recall_at_k(np.asarray(t.result), data.truth[:b])
            rec.record(case, name, "queries_per_s", qps, "1/s", params=p)
            rec.record(case, name, f"recall_at_{data.k}", recall, "fraction", params=p)
            row = {
                "batch": b,
                "implementation": name,
                "seconds": t.min,
                "median_s": t.median,
                "first_call_s": t.first_call_s,
                "queries_per_s": qps,
                "recall": recall,
                "peak_memory_mb": (t.peak_bytes or 0) / 1e6 or None,
            }
            if b == 1:
                floor = data.base.nbytes / bw
                row["bandwidth_limit_ratio"] = t.min / floor
                rec.record(
                    case,
                    name,
                    "effective_bandwidth",
                    data.base.nbytes / t.min,
                    "bytes/s",
                    params=dict(p, copy_bandwidth=bw),
                )
                rec.record(
                    case,
                    name,
                    "time_over_bandwidth_limit",
                    t.min / floor,
                    "ratio",
                    params=dict(p, copy_bandwidth=bw),
                )
            rows.append(row)
        by_name = {r["implementation"]: r["seconds"] for r in rows if r["batch"] == b}
        for r in rows:
            if r["batch"] != b:
                continue
            for ref in ("numpy", "faiss-flat"):
                if ref in by_name and r["implementation"] != ref:
                    r[f"ratio_vs_{ref}"] = r["seconds"] / by_name[ref]
                    if r["implementation"] == "workbench":
                        rec.record(
                            case,
                            f"workbench/{ref}",
                            "time_ratio",
                            r[f"ratio_vs_{ref}"],
                            "ratio",
                            params=p,
                        )
    return pd.DataFrame(rows)


def run_ivf(
    rec: Recorder,
    data: BenchData,
    *,
    nlist: int,
    nprobes: Sequence[int] = (1, 2, 4, 8, 16, 32),
    batch: int | None = None,
    implementations: Sequence[str] = ("faiss-ivf", "workbench-ivf"),
    exact_seconds: float | None = None,
    single_exact_seconds: float | None = None,
    single_queries: int = 16,
    seed: int = 0,
    repeat: int = 3,
    budget_s: float = 1.0,
) -> pd.DataFrame:
    """Build each IVF index once, then sweep ``nprobe``: queries/s against recall@k.

    ``exact_seconds`` (the workbench exact time for the same batch, from
    :func:`run_exact`) adds the speed-up over exact search to each row. With
    ``single_queries > 0`` each ``nprobe`` is also timed one query at a time (the first
    ``single_queries`` queries in a loop; rows with ``batch`` 1, seconds per query), and
    ``single_exact_seconds`` (exact search of one query) gives their speed-up.

    Returns
    -------
    pandas.DataFrame
        One row per (implementation, nprobe): seconds, queries/s, recall, build seconds,
        index bytes, speed-up over exact.
    """
    names = _available(implementations, IVF_IMPLEMENTATIONS)
    batch = data.queries.shape[0] if batch is None else batch
    q = np.ascontiguousarray(data.queries[:batch])
    params = dict(
        data.params,
        nlist=nlist,
        batch=batch,
        blas=blas_libraries(),
        faiss_blas_threshold=FAISS_BLAS_THRESHOLD,
    )
    rows = []
    for name in names:
        t0 = time.perf_counter()
        search, nbytes = IVF_IMPLEMENTATIONS[name](data.base, nlist, seed)
        build = time.perf_counter() - t0
        bcase = f"ivf-build/{data.label}/nlist{nlist}"
        rec.record(bcase, name, "build_time", build, "s", params=params)
        rec.record(bcase, name, "index_memory", nbytes, "bytes", params=params)
        for nprobe in nprobes:
            if nprobe > nlist:
                continue
            case = f"ivf/{data.label}/nlist{nlist}/nprobe{nprobe}/batch{batch}"
            p = dict(params, nprobe=nprobe)
            t = time_call(search, q, data.k, nprobe, repeat=repeat, budget_s=budget_s)
            recall = recall_at_k(np.asarray(t.result), data.truth[:batch])
            rec.record_timing(case, name, t, params=p)
            rec.record(case, name, "queries_per_s", batch / t.min, "1/s", params=p)
            rec.record(case, name, f"recall_at_{data.k}", recall, "fraction", params=p)
            row = {
                "implementation": name,
                "nprobe": nprobe,
                "batch": batch,
                "seconds": t.min,
                "median_s": t.median,
                "queries_per_s": batch / t.min,
                "recall": recall,
                "build_s": build,
                "index_mb": nbytes / 1e6,
            }
            _record_speedup(rec, row, case, name, p, exact_seconds)
            rows.append(row)
            if single_queries > 0:
                rows.append(
                    _ivf_single(
                        rec,
                        data,
                        name,
                        search,
                        nprobe,
                        nlist,
                        params,
                        single_queries,
                        single_exact_seconds,
                        repeat,
                        budget_s,
                    )
                )
    return pd.DataFrame(rows)


def _record_speedup(rec, row, case, name, params, exact_s) -> None:
    """IVF's speed-up over workbench exact search on the same queries (``exact_s`` in the
    unit of ``row["seconds"]``: per batch, or per query one at a time), into ``row`` and
    the result store; skipped when exact search was not timed."""
    if exact_s:
        row["speedup_vs_exact"] = exact_s / row["seconds"]
        rec.record(
            case,
            f"{name}/workbench-exact",
            "speedup",
            row["speedup_vs_exact"],
            "ratio",
            params=dict(params, exact_seconds=exact_s),
        )


def _ivf_single(rec, data, name, search, nprobe, nlist, params, count, exact_s, repeat, budget):
    singles = [np.ascontiguousarray(data.queries[i : i + 1]) for i in range(count)]

    def one_by_one(k: int, nprobe: int) -> np.ndarray:
        return np.concatenate([np.asarray(search(q, k, nprobe)) for q in singles])

    case = f"ivf/{data.label}/nlist{nlist}/nprobe{nprobe}/batch1"
    p = dict(params, nprobe=nprobe, batch=1, queries_timed=count)
    t = time_call(one_by_one, data.k, nprobe, repeat=repeat, budget_s=budget)
    per_query = t.min / count
    recall = recall_at_k(np.asarray(t.result), data.truth[:count])
    rec.record(case, name, "time_per_query", per_query, "s", n=t.n, params=p)
    rec.record(case, name, f"recall_at_{data.k}", recall, "fraction", params=p)
    row = {
        "implementation": name,
        "nprobe": nprobe,
        "batch": 1,
        "seconds": per_query,
        "median_s": t.median / count,
        "queries_per_s": 1 / per_query,
        "recall": recall,
    }
    _record_speedup(rec, row, case, name, p, exact_s)
    return row


def ivf_speedup(ivf: pd.DataFrame, min_recall: float = 0.95) -> pd.DataFrame:
    """For each implementation (and size, when the table has ``n``/``dim``), the fastest
    swept ``nprobe`` whose recall reaches ``min_recall`` (what the performance target is
    about).

    Examples
    --------
    >>> t = pd.DataFrame({"implementation": ["a", "a"], "nprobe": [1, 4],
    ...                   "seconds": [1.0, 2.0], "recall": [0.9, 0.97]})
    >>> ivf_speedup(t)[["implementation", "nprobe"]].to_dict("records")
    [{'implementation': 'a', 'nprobe': 4}]
    """
    ok = ivf[ivf["recall"] >= min_recall]
    keys = [c for c in ("n", "dim", "batch", "implementation") if c in ivf]
    return ok.sort_values("seconds").groupby(keys, as_index=False).first()


def summary_table(exact: pd.DataFrame, ivf: pd.DataFrame | None = None) -> pd.DataFrame:
    """One readable table: ms per batch, queries/s, recall and ratios, exact and IVF."""
    parts = [exact.assign(kind="exact")]
    if ivf is not None and len(ivf):
        parts.append(ivf.assign(kind="ivf"))
    out = pd.concat(parts, ignore_index=True)
    out["ms"] = out["seconds"] * 1e3
    cols = [
        c
        for c in (
            "kind",
            "implementation",
            "batch",
            "nprobe",
            "ms",
            "queries_per_s",
            "recall",
            "ratio_vs_numpy",
            "ratio_vs_faiss-flat",
            "bandwidth_limit_ratio",
            "speedup_vs_exact",
            "build_s",
        )
        if c in out
    ]
    return out[cols]


def plot_recall_vs_qps(ivf: pd.DataFrame, exact: pd.DataFrame | None = None, ax=None):
    """Recall@k against queries/s, one curve per IVF implementation (exact as points)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 4))[1]
    if "batch" in ivf:
        ivf = ivf[ivf["batch"] == ivf["batch"].max()]
    for name, grp in ivf.groupby("implementation"):
        grp = grp.sort_values("nprobe")
        ax.plot(grp["queries_per_s"], grp["recall"], marker="o", label=name)
        for _, r in grp.iterrows():
            ax.annotate(str(int(r["nprobe"])), (r["queries_per_s"], r["recall"]), fontsize=7)
    if exact is not None and len(exact):
        big = exact[exact["batch"] == exact["batch"].max()]
        ax.scatter(big["queries_per_s"], big["recall"], marker="x", color="k")
        for _, r in big.iterrows():
            ax.annotate(r["implementation"], (r["queries_per_s"], r["recall"]), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("queries/s (log)")
    ax.set_ylabel("recall@k")
    ax.legend()
    ax.set_title("IVF: recall against throughput (labels: nprobe)")
    return ax


def plot_latency_vs_batch(exact: pd.DataFrame, ax=None):
    """Per-query cost (ms) against batch size for each exact implementation."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 4))[1]
    for name, grp in exact.groupby("implementation"):
        grp = grp.sort_values("batch")
        ax.plot(grp["batch"], grp["seconds"] / grp["batch"] * 1e3, marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("queries per batch")
    ax.set_ylabel("ms per query")
    ax.legend()
    ax.set_title("Exact search: single-query latency against batch throughput")
    return ax


def default_nlist(n: int) -> int:
    """Cells for ``n`` vectors when none are given: ``sqrt(n)`` rounded, at least 1.

    Examples
    --------
    >>> default_nlist(1_000_000)
    1000
    """
    return max(1, round(float(np.sqrt(n))))


def run_grid(
    rec: Recorder,
    sizes: Sequence[tuple[int, int]],
    *,
    n_queries: int = 256,
    k: int = 10,
    batch_sizes: Sequence[int] = (1, 16, 256),
    nlist: int | None = None,
    nprobes: Sequence[int] = (1, 2, 4, 8, 16, 32, 64),
    exact_implementations: Sequence[str] = ("numpy", "faiss-flat", "workbench"),
    ivf_implementations: Sequence[str] = ("faiss-ivf", "workbench-ivf"),
    n_clusters: int = 64,
    seed: int = 0,
    repeat: int = 5,
    budget_s: float = 1.0,
    progress: Callable[[str], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The whole grid: for each ``(n, dim)``, exact search per batch size, then IVF over
    ``nprobes`` for the largest batch (with its speed-up over workbench exact search).

    Returns
    -------
    exact, ivf : pandas.DataFrame
        :func:`run_exact` and :func:`run_ivf` tables with ``n`` and ``dim`` columns added.
    """
    say = progress or (lambda msg: None)
    exact_tables, ivf_tables = [], []
    for n, dim in sizes:
        say(f"data n={n} dim={dim}")
        data = make_data(n, dim, n_queries, k, n_clusters=n_clusters, seed=seed)
        say("exact search")
        exact = run_exact(
            rec,
            data,
            batch_sizes=batch_sizes,
            implementations=exact_implementations,
            repeat=repeat,
            budget_s=budget_s,
        )
        exact_tables.append(exact.assign(n=n, dim=dim))
        if not ivf_implementations:
            continue
        batch = max(batch_sizes)
        mine = exact[(exact["implementation"] == "workbench") & (exact["batch"] == batch)]
        single = exact[(exact["implementation"] == "workbench") & (exact["batch"] == 1)]
        say("ivf")
        ivf = run_ivf(
            rec,
            data,
            nlist=nlist or default_nlist(n),
            nprobes=nprobes,
            batch=batch,
            implementations=ivf_implementations,
            exact_seconds=float(mine["seconds"].iloc[0]) if len(mine) else None,
            single_exact_seconds=float(single["seconds"].iloc[0]) if len(single) else None,
            single_queries=min(16, n_queries),
            seed=seed,
            repeat=max(1, repeat // 2),
            budget_s=budget_s,
        )
        ivf_tables.append(ivf.assign(n=n, dim=dim, nlist=nlist or default_nlist(n)))
    cat = lambda ts: pd.concat(ts, ignore_index=True) if ts else pd.DataFrame()  # noqa: E731
    return cat(exact_tables), cat(ivf_tables)
