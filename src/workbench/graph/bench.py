"""The graph benchmark grid: every kernel, workbench vs networkx, igraph and NetworKit.

A benchmark is a grid of (graph, kernel, implementation). Inputs are built, converted to
each library's own graph type and warmed before anything is timed; only the call is timed
(:func:`workbench.measure.time_call`), the first call on its own. Ratios against every
reference are taken from measurements made side by side in the same run.

Same work for every implementation:

- ``bfs``: hop distances from a root, for several random roots with degree >= 1 (Graph500);
  TEPS = edges of the root's component / time, harmonic mean over the roots.
- ``k_hop``: the vertices within 2 hops of 100 random vertices (a sorted id array).
- ``sssp``: Dijkstra distances from a root on the graph with seeded weights in [1, 10).
- ``pagerank``: damping 0.85, stopping when the L1 change of one iteration is below
  ``n * 1e-6`` (networkx's rule; NetworKit is given ``norm=L1, tol=n * 1e-6`` and
  sink distribution; igraph's PRPACK solves the linear system directly and takes no
  tolerance, so it does at least as much).
- ``components``: connected-component labels.
- ``label_propagation``, ``louvain`` and ``leiden``: community labels (modularity recorded).
  Leiden runs 2 iterations on both sides (igraph's default ``n_iterations=2``; run until
  stable it takes 60-80 iterations on R-MAT for about 2% more modularity).
- ``local_search``: the GraphRAG query, personalized PageRank from 3 seeds on their 2-hop
  neighbourhood, top 10 (networkx and igraph versions written the same way below).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from workbench.graph.community import label_propagation, leiden, louvain, modularity
from workbench.graph.components import connected_components
from workbench.graph.csr import CSRGraph
from workbench.graph.generators import rmat
from workbench.graph.io import SNAP_GRAPHS, load_snap
from workbench.graph.pagerank import pagerank
from workbench.graph.search import local_search
from workbench.graph.traversal import bfs, k_hop, sssp
from workbench.measure import Timing, time_call

__all__ = [
    "IMPLEMENTATIONS",
    "KERNELS",
    "GraphCase",
    "available_implementations",
    "compile_times",
    "configure_threads",
    "crossover",
    "crossover_table",
    "graph_case",
    "graph_query_latency",
    "graph_query_summary",
    "local_search_igraph",
    "local_search_networkx",
    "plot_time_vs_edges",
    "ratio_table",
    "record_compile_times",
    "run_grid",
]

KERNELS = (
    "bfs", "k_hop", "sssp", "pagerank", "components", "label_propagation", "louvain",
    "leiden", "local_search",
)  # fmt: skip
IMPLEMENTATIONS = ("workbench", "igraph", "networkit", "networkx")
REFERENCES = ("igraph", "networkit", "networkx")

PAGERANK_TOL = 1e-6
K_HOP_SEEDS = 100
K_HOP_K = 2
SEARCH_SEEDS = 3
SEARCH_TOP = 10


def configure_threads(threads: int | None) -> dict[str, int]:
    """Give every implementation the same number of threads; ``None`` leaves the defaults.

    Sets ``OMP_NUM_THREADS`` (igraph's PRPACK and NetworKit use OpenMP; the variable counts
    only if set before their OpenMP runtime starts, so call this first), numba's thread
    count and NetworKit's. On a machine whose cores are shared, one thread each is the
    fair and stable comparison: an OpenMP barrier waits for its slowest thread.

    Returns
    -------
    dict
        The thread counts in effect, for the benchmark's params.
    """
    import numba

    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
        os.environ["OMP_NUM_THREADS"] = str(threads)
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    out = {"numba": numba.get_num_threads()}
    try:
        import networkit as nk

        if threads is not None:
            nk.setNumberOfThreads(threads)
        out["networkit"] = nk.getMaxNumberOfThreads()
    except ImportError:
        pass
    out["omp"] = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1))
    return out


def available_implementations() -> tuple[str, ...]:
    """The implementations whose library is installed (NetworKit is an optional extra)."""
    out = ["workbench", "igraph", "networkx"]
    try:
        import networkit  # noqa: F401

        out.insert(2, "networkit")
    except ImportError:
        pass
    return tuple(i for i in IMPLEMENTATIONS if i in out)


@dataclass
class GraphCase:
    """One benchmark graph, its inputs (roots, seeds, weights) and its library conversions.

    Conversions are made on first use and kept, outside every timed region.
    """

    name: str
    g: CSRGraph
    seed: int = 0
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return self.g.n

    @property
    def m(self) -> int:
        return self.g.num_edges

    def _get(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def roots(self) -> np.ndarray:
        """Up to 8 random roots with degree >= 1 (Graph500's rule), fixed by ``seed``."""

        def make():
            rng = np.random.default_rng(self.seed)
            candidates = np.nonzero(self.g.degree() > 0)[0]
            if candidates.size == 0:
                return np.zeros(1, dtype=np.int64)
            return rng.choice(candidates, size=min(8, candidates.size), replace=False)

        return self._get("roots", make)

    def seeds(self, count: int) -> np.ndarray:
        def make():
            rng = np.random.default_rng(self.seed + 1)
            candidates = np.nonzero(self.g.degree() > 0)[0]
            if candidates.size == 0:
                candidates = np.arange(max(self.n, 1))
            return np.sort(rng.choice(candidates, size=min(count, candidates.size), replace=False))

        return self._get(f"seeds{count}", make)

    @property
    def weighted(self) -> CSRGraph:
        """The same edges with seeded weights uniform in [1, 10) (for ``sssp``)."""

        def make():
            src, dst = self.g.edges()
            w = np.random.default_rng(self.seed + 2).uniform(1.0, 10.0, size=src.size)
            return CSRGraph.from_edges(src, dst, self.n, directed=self.g.directed, weights=w)

        return self._get("weighted", make)

    def nx(self, weighted: bool = False) -> Any:
        key = "nx_w" if weighted else "nx"
        return self._get(key, lambda: (self.weighted if weighted else self.g).to_networkx())

    def ig(self, weighted: bool = False) -> Any:
        key = "ig_w" if weighted else "ig"
        return self._get(key, lambda: (self.weighted if weighted else self.g).to_igraph())

    def nk(self, weighted: bool = False) -> Any:
        def make():
            import networkit as nk

            h = self.weighted if weighted else self.g
            src, dst = h.edges()
            w = h.edge_weights()
            data = (w if w is not None else np.ones(src.size), (src.astype(np.uint64),
                    dst.astype(np.uint64)))  # fmt: skip
            G = nk.graph.GraphFromCoo(data, n=h.n, weighted=weighted, directed=h.directed)
            G.indexEdges()
            return G

        return self._get("nk_w" if weighted else "nk", make)

    def component_edges(self, root: int) -> int:
        """Edges of ``root``'s component (each undirected edge once), for TEPS."""
        labels = self._get("components", lambda: connected_components(self.g))
        inside = labels == labels[root]
        return int(self.g.degree()[inside].sum() // (1 if self.g.directed else 2))


def graph_case(name: str, seed: int = 0) -> GraphCase:
    """A benchmark graph by name: ``rmat-s<SCALE>`` or one of the SNAP graphs.

    Examples
    --------
    >>> graph_case("rmat-s8").n
    256
    """
    if name.startswith("rmat-s"):
        try:
            scale = int(name[len("rmat-s") :])
        except ValueError:
            raise ValueError(f"name: bad R-MAT scale in {name!r}") from None
        return GraphCase(name, rmat(scale, seed=seed), seed)
    if name in SNAP_GRAPHS:
        return GraphCase(name, load_snap(name), seed)
    raise ValueError(f"name must be 'rmat-s<scale>' or one of {SNAP_GRAPHS}, got {name!r}")


# -- reference implementations written the way a user of each library would ------------


def local_search_networkx(G: Any, seeds: Sequence[int], k: int, top: int) -> list[int]:
    """The GraphRAG query in plain networkx: k-hop neighbourhood, induced subgraph, PPR, top ids."""
    import networkx as nx

    H = G.subgraph(_nx_k_hop(G, seeds, k))
    pr = nx.pagerank(H, personalization={s: 1.0 for s in seeds}, tol=PAGERANK_TOL)
    return [v for v, _ in sorted(pr.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]


def local_search_igraph(G: Any, seeds: Sequence[int], k: int, top: int) -> list[int]:
    """The GraphRAG query in igraph: neighbourhood, induced subgraph, personalized PageRank."""
    nodes = sorted(set().union(*G.neighborhood(vertices=list(seeds), order=k)))
    H = G.induced_subgraph(nodes)
    local = {v: i for i, v in enumerate(nodes)}
    pr = H.personalized_pagerank(reset_vertices=[local[s] for s in seeds])
    order = sorted(range(len(nodes)), key=lambda i: (-pr[i], nodes[i]))[:top]
    return [nodes[i] for i in order]


def _nk_k_hop(G: Any, seeds: Sequence[int], k: int) -> list[int]:
    import networkit as nk

    out: list[int] = []
    # NetworKit has no depth-limited traversal; its BFS visits the whole component
    nk.traversal.Traversal.BFSfrom(G, list(seeds), lambda u, d: out.append(u) if d <= k else None)
    return sorted(out)


def _nx_k_hop(G: Any, seeds: Sequence[int], k: int) -> list[int]:
    import networkx as nx

    # One multi-source BFS, as workbench does: a BFS per seed would re-expand every hub
    # that several seeds reach, and charge networkx for work the task does not need.
    # bfs_layers yields a layer before building the next, so stopping at k builds no more.
    nodes: list[int] = []
    for depth, layer in enumerate(nx.bfs_layers(G, list(seeds))):
        nodes.extend(layer)
        if depth == k:
            break
    return sorted(nodes)


def _task(case: GraphCase, kernel: str, impl: str, root: int) -> Callable[[], Any] | None:
    """The zero-argument call that does ``kernel`` with ``impl`` (None: not offered)."""
    seeds = case.seeds(K_HOP_SEEDS).tolist()
    qseeds = case.seeds(SEARCH_SEEDS).tolist()
    n = case.n
    builders: dict[tuple[str, str], Callable[[], Callable[[], Any]]] = {
        ("bfs", "workbench"): lambda: lambda: bfs(case.g, root),
        ("bfs", "igraph"): lambda: lambda: case.ig().bfs(root),
        ("bfs", "networkit"): lambda: lambda: _nk_run("distance.BFS", case.nk(), root, False),
        ("bfs", "networkx"): lambda: lambda: _nx_call("single_source_shortest_path_length",
                                                      case.nx(), root),
        ("k_hop", "workbench"): lambda: lambda: k_hop(case.g, seeds, K_HOP_K),
        ("k_hop", "igraph"): lambda: lambda: sorted(
            set().union(*case.ig().neighborhood(vertices=seeds, order=K_HOP_K))),
        ("k_hop", "networkit"): lambda: lambda: _nk_k_hop(case.nk(), seeds, K_HOP_K),
        ("k_hop", "networkx"): lambda: lambda: _nx_k_hop(case.nx(), seeds, K_HOP_K),
        ("sssp", "workbench"): lambda: lambda: sssp(case.weighted, root),
        ("sssp", "igraph"): lambda: lambda: case.ig(True).distances(
            source=[root], weights="weight", algorithm="dijkstra"),
        ("sssp", "networkit"): lambda: lambda: _nk_run("distance.Dijkstra", case.nk(True), root,
                                                       False),
        ("sssp", "networkx"): lambda: lambda: _nx_call("single_source_dijkstra_path_length",
                                                       case.nx(True), root),
        ("pagerank", "workbench"): lambda: lambda: pagerank(case.g, 0.85, tol=PAGERANK_TOL),
        ("pagerank", "igraph"): lambda: lambda: case.ig().pagerank(damping=0.85),
        ("pagerank", "networkit"): lambda: lambda: _nk_pagerank(case.nk(), n),
        ("pagerank", "networkx"): lambda: lambda: _nx_call("pagerank", case.nx(), 0.85,
                                                           tol=PAGERANK_TOL),
        ("components", "workbench"): lambda: lambda: connected_components(case.g),
        ("components", "igraph"): lambda: lambda: case.ig().connected_components(),
        ("components", "networkit"): lambda: lambda: _nk_components(case.nk()),
        ("components", "networkx"): lambda: lambda: list(_nx_call("connected_components",
                                                                  case.nx())),
        ("label_propagation", "workbench"): lambda: lambda: label_propagation(case.g, 0),
        ("label_propagation", "igraph"): lambda: lambda: case.ig().community_label_propagation(),
        ("label_propagation", "networkit"): lambda: lambda: _nk_community("PLP", case.nk()),
        ("label_propagation", "networkx"): lambda: lambda: list(_nx_call(
            "community.asyn_lpa_communities", case.nx(), seed=0)),
        ("louvain", "workbench"): lambda: lambda: louvain(case.g, seed=0),
        ("louvain", "igraph"): lambda: lambda: case.ig().community_multilevel().membership,
        ("louvain", "networkit"): lambda: lambda: _nk_community("PLM", case.nk()),
        ("louvain", "networkx"): lambda: lambda: _nx_call("community.louvain_communities",
                                                          case.nx(), seed=0),
        ("leiden", "workbench"): lambda: lambda: leiden(case.g, seed=0, max_iterations=2),
        ("leiden", "igraph"): lambda: lambda: case.ig().community_leiden(
            objective_function="modularity", n_iterations=2).membership,
        ("local_search", "workbench"): lambda: lambda: local_search(
            case.g, qseeds, 2, SEARCH_TOP),
        ("local_search", "igraph"): lambda: lambda: local_search_igraph(
            case.ig(), qseeds, 2, SEARCH_TOP),
        ("local_search", "networkx"): lambda: lambda: local_search_networkx(
            case.nx(), qseeds, 2, SEARCH_TOP),
    }  # fmt: skip
    make = builders.get((kernel, impl))
    return None if make is None else make()


def _nx_call(name: str, *args: Any, **kwargs: Any) -> Any:
    import networkx as nx

    obj: Any = nx
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj(*args, **kwargs)


def _nk_run(name: str, G: Any, source: int, store_paths: bool) -> Any:
    import networkit as nk

    module, cls = name.split(".")
    algo = getattr(getattr(nk, module), cls)(G, source, storePaths=store_paths)
    algo.run()
    return algo.getDistances(asarray=True)


def _nk_pagerank(G: Any, n: int) -> Any:
    import networkit as nk

    pr = nk.centrality.PageRank(
        G, damp=0.85, tol=n * PAGERANK_TOL,
        distributeSinks=nk.centrality.SinkHandling.DistributeSinks,
    )  # fmt: skip
    pr.norm = nk.centrality.Norm.L1_NORM
    pr.run()
    return pr.scores()


def _nk_components(G: Any) -> Any:
    import networkit as nk

    cc = nk.components.ConnectedComponents(G)
    cc.run()
    return cc.getPartition()


def _nk_community(name: str, G: Any) -> Any:
    import networkit as nk

    algo = getattr(nk.community, name)(G)
    algo.run()
    return algo.getPartition()


def _modularity_of(case: GraphCase, kernel: str, impl: str, result: Any) -> float | None:
    """Modularity of a community result, computed by the same function for every library."""
    if kernel not in ("louvain", "leiden", "label_propagation") or case.m == 0:
        return None
    if impl == "workbench":
        labels = np.asarray(result)
    elif impl == "igraph":
        labels = np.asarray(result if isinstance(result, list) else result.membership)
    elif impl == "networkit":
        labels = np.asarray(result.getVector())
    else:
        labels = np.empty(case.n, dtype=np.int64)
        for c, members in enumerate(result):
            labels[list(members)] = c
    return modularity(case.g, labels.astype(np.int64))


#: A first call slower than this serves as the warm-up, and at most 2 repeats follow:
#: networkx on the bigger graphs would otherwise dominate the run's time.
SLOW_CALL_S = 0.5


def _timing_for(task: Callable[[], Any], repeat: int, budget_s: float | None) -> tuple[Timing, Any]:
    t0 = time.perf_counter()
    result = task()
    first = time.perf_counter() - t0
    if first > SLOW_CALL_S:
        t = time_call(task, warmup=0, repeat=min(repeat, 2))
        # time_call's own first call is a steady-state repeat here (the warm-up was above)
        times = (t.first_call_s, *t.times_s)
    else:
        t = time_call(task, warmup=0, repeat=repeat, budget_s=budget_s)
        times = t.times_s  # time_call's first call was the warm-up
    return Timing(first_call_s=first, times_s=times), result


def _harmonic(values: Iterable[float]) -> float:
    vals = [v for v in values if v > 0]
    return len(vals) / sum(1.0 / v for v in vals) if vals else 0.0


def run_grid(
    graphs: Sequence[str] = ("rmat-s14",),
    kernels: Sequence[str] = KERNELS,
    implementations: Sequence[str] | None = None,
    *,
    repeat: int = 3,
    budget_s: float | None = None,
    seed: int = 0,
    networkx_max_edges: int = 300_000,
    bfs_roots: int = 4,
    recorder: Any = None,
    progress: Callable[[str], None] | None = None,
) -> pl.DataFrame:
    """Run the benchmark grid and return one row per (graph, kernel, implementation).

    Parameters
    ----------
    graphs : sequence of str
        ``rmat-s<SCALE>`` or SNAP graph names.
    kernels : sequence of str
        Subset of :data:`KERNELS`.
    implementations : sequence of str, optional
        Subset of :data:`IMPLEMENTATIONS`; default: every installed one.
    repeat, budget_s
        Timed repeats per call (at least ``repeat``, and until ``budget_s`` is spent).
    seed : int
        Fixes the graphs, roots, seeds and weights.
    networkx_max_edges : int
        networkx is skipped on graphs with more edges (it takes minutes there).
    bfs_roots : int
        Roots timed for BFS and SSSP (TEPS is their harmonic mean).
    recorder : workbench.results.Recorder, optional
        Every figure is also recorded there (time, first-call time, TEPS, modularity,
        ratios against each reference).
    progress : callable, optional
        Called with a line of text after each measurement.

    Returns
    -------
    polars.DataFrame
        Columns ``graph, n, m, kernel, implementation, median_s, min_s, first_call_s,
        teps, modularity``.

    Raises
    ------
    ValueError
        Unknown kernel, implementation or graph name.
    """
    bad = [k for k in kernels if k not in KERNELS]
    if bad:
        raise ValueError(f"kernels: unknown {bad}; choose from {KERNELS}")
    impls = tuple(implementations) if implementations is not None else available_implementations()
    bad = [i for i in impls if i not in IMPLEMENTATIONS]
    if bad:
        raise ValueError(f"implementations: unknown {bad}; choose from {IMPLEMENTATIONS}")
    if "networkit" in impls and "networkit" not in available_implementations():
        from workbench.errors import MissingExtraError

        raise MissingExtraError("networkit", "benchmark", "the NetworKit reference")
    rows: list[dict[str, Any]] = []
    for name in graphs:
        case = graph_case(name, seed)
        for kernel in kernels:
            medians: dict[str, float] = {}
            for impl in impls:
                if impl == "networkx" and case.m > networkx_max_edges:
                    continue
                row = _measure(case, kernel, impl, repeat, budget_s, bfs_roots, recorder)
                if row is None:
                    continue
                rows.append(row)
                medians[impl] = row["median_s"]
                if progress is not None:
                    progress(
                        f"{name:>18} {kernel:>17} {impl:>9}: {row['median_s'] * 1e3:10.3f} ms"
                        f"  (first call {row['first_call_s'] * 1e3:.1f} ms)"
                    )
            if recorder is not None and "workbench" in medians:
                for ref in REFERENCES:
                    if ref in medians and medians[ref] > 0:
                        recorder.record(
                            f"{kernel}/{name}", "workbench", f"time_ratio_vs_{ref}",
                            medians["workbench"] / medians[ref], "ratio",
                            params={"graph": name, "n": case.n, "m": case.m},
                        )  # fmt: skip
    return pl.DataFrame(rows, schema=_ROW_SCHEMA, orient="row") if rows else _empty_rows()


_ROW_SCHEMA = {
    "graph": pl.String, "n": pl.Int64, "m": pl.Int64, "kernel": pl.String,
    "implementation": pl.String, "median_s": pl.Float64, "min_s": pl.Float64,
    "first_call_s": pl.Float64, "teps": pl.Float64, "modularity": pl.Float64,
}  # fmt: skip


def _empty_rows() -> pl.DataFrame:
    return pl.DataFrame(schema=_ROW_SCHEMA)


_PREPARE: dict[str, Callable[[GraphCase, bool], Any]] = {
    "workbench": lambda case, weighted: case.weighted if weighted else case.g,
    "igraph": lambda case, weighted: case.ig(weighted),
    "networkit": lambda case, weighted: case.nk(weighted),
    "networkx": lambda case, weighted: case.nx(weighted),
}


def _measure(case, kernel, impl, repeat, budget_s, bfs_roots, recorder) -> dict[str, Any] | None:
    # conversions happen here, so that no first-call time includes one
    _PREPARE[impl](case, kernel == "sssp")
    roots = case.roots[: max(1, bfs_roots)] if kernel in ("bfs", "sssp") else case.roots[:1]
    timings: list[Timing] = []
    result = None
    for root in roots.tolist():
        task = _task(case, kernel, impl, int(root))
        if task is None:
            return None
        t, result = _timing_for(task, repeat, budget_s)
        timings.append(t)
    samples = [s for t in timings for s in t.times_s]
    medians = [t.median for t in timings]
    merged = Timing(
        first_call_s=timings[0].first_call_s,
        times_s=tuple(samples),
    )
    teps = None
    if kernel == "bfs":
        teps = _harmonic(
            case.component_edges(int(r)) / t.median for r, t in zip(roots, timings, strict=True)
        )
    q = _modularity_of(case, kernel, impl, result)
    median = float(np.median(medians))
    import numba

    params = {
        "graph": case.name, "n": case.n, "m": case.m, "roots": len(roots),
        "numba_threads": numba.get_num_threads(),
        "omp_threads": os.environ.get("OMP_NUM_THREADS", "default"),
    }  # fmt: skip
    if recorder is not None:
        case_id = f"{kernel}/{case.name}"
        recorder.record(
            case_id, impl, "time", median, "s", n=len(samples), min=min(samples),
            median=median, max=max(samples), params=params, samples=samples, flush=False,
        )  # fmt: skip
        recorder.record(
            case_id, impl, "first_call_time", merged.first_call_s, "s", params=params, flush=False
        )
        if teps is not None:
            recorder.record(case_id, impl, "teps", teps, "edges/s", params=params, flush=False)
        if q is not None and math.isfinite(q):
            recorder.record(case_id, impl, "modularity", q, "1", params=params, flush=False)
        recorder.flush()
    return {
        "graph": case.name, "n": case.n, "m": case.m, "kernel": kernel,
        "implementation": impl, "median_s": median, "min_s": min(samples),
        "first_call_s": merged.first_call_s, "teps": teps, "modularity": q,
    }  # fmt: skip


def ratio_table(rows: pl.DataFrame, baseline: str = "workbench") -> pl.DataFrame:
    """Median time of every implementation and ``baseline / reference`` time ratios.

    A ratio below 1 means ``baseline`` is faster than that reference.

    Examples
    --------
    >>> rows = pl.DataFrame({"graph": ["g", "g"], "m": [10, 10], "kernel": ["bfs", "bfs"],
    ...     "implementation": ["workbench", "igraph"], "median_s": [1.0, 4.0]})
    >>> ratio_table(rows)["workbench/igraph"].to_list()
    [0.25]
    """
    wide = rows.pivot(
        on="implementation", index=["kernel", "graph", "m"], values="median_s",
        aggregate_function="first",
    ).sort(["kernel", "m"])  # fmt: skip
    impls = [c for c in IMPLEMENTATIONS if c in wide.columns]
    exprs = [
        (pl.col(baseline) / pl.col(ref)).alias(f"{baseline}/{ref}")
        for ref in impls
        if ref != baseline and baseline in wide.columns
    ]
    return wide.select(["kernel", "graph", "m", *impls]).with_columns(exprs)


def crossover(rows: pl.DataFrame, kernel: str, reference: str) -> int | None:
    """Smallest edge count from which workbench is faster than ``reference`` for good.

    ``None`` if workbench is never faster at the largest size measured; 0 if it is faster
    at every size.

    Examples
    --------
    >>> rows = pl.DataFrame({"graph": list("abcabc"), "m": [1, 10, 100] * 2,
    ...     "kernel": ["bfs"] * 6, "implementation": ["workbench"] * 3 + ["networkx"] * 3,
    ...     "median_s": [5.0, 2.0, 1.0, 1.0, 3.0, 9.0]})
    >>> crossover(rows, "bfs", "networkx")
    10
    """
    table = ratio_table(rows.filter(pl.col("kernel") == kernel))
    col = f"workbench/{reference}"
    if col not in table.columns:
        return None
    table = table.drop_nulls(col).sort("m")
    if table.height == 0:
        return None
    faster = (table[col] < 1.0).to_list()
    edges = table["m"].to_list()
    if not faster[-1]:
        return None
    i = len(faster) - 1
    while i > 0 and faster[i - 1]:
        i -= 1
    return 0 if i == 0 else int(edges[i])


def crossover_table(rows: pl.DataFrame, references: Sequence[str] = REFERENCES) -> pl.DataFrame:
    """:func:`crossover` for every kernel measured and every reference present.

    Examples
    --------
    >>> rows = pl.DataFrame({"graph": ["a", "a"], "m": [5, 5], "kernel": ["bfs", "bfs"],
    ...     "implementation": ["workbench", "networkx"], "median_s": [1.0, 2.0]})
    >>> crossover_table(rows, ["networkx"]).row(0)
    ('bfs', 'networkx', 0)
    """
    out = []
    for kernel in sorted(set(rows["kernel"].to_list())):
        present = set(rows.filter(pl.col("kernel") == kernel)["implementation"].to_list())
        for ref in references:
            if ref in present:
                out.append(
                    {"kernel": kernel, "reference": ref,
                     "faster_from_edges": crossover(rows, kernel, ref)}
                )  # fmt: skip
    return pl.DataFrame(
        out, schema={"kernel": pl.String, "reference": pl.String, "faster_from_edges": pl.Int64}
    )


def graph_query_summary(latency: pl.DataFrame) -> dict[str, float]:
    """Median ``local_search`` latency per implementation and the improvement it makes.

    ``improvement_pct`` is ``(1 - compiled / interpreted) * 100``, the plan's "improvement"
    column (120 ms -> 40 ms is 67%).

    Examples
    --------
    >>> df = pl.DataFrame({"query": [0, 0], "implementation": ["workbench", "networkx"],
    ...     "latency_s": [0.001, 0.004]})
    >>> graph_query_summary(df)["improvement_pct"]
    75.0
    """
    med = dict(latency.group_by("implementation").agg(pl.col("latency_s").median()).iter_rows())
    interpreted = float(med["networkx"])
    compiled = float(med["workbench"])
    return {
        "interpreted_s": interpreted,
        "compiled_s": compiled,
        "speedup": interpreted / compiled,
        "improvement_pct": (1.0 - compiled / interpreted) * 100.0,
    }


def plot_time_vs_edges(rows: pl.DataFrame, kernel: str, ax: Any = None) -> Any:
    """Log-log plot of median time against edge count, one line per implementation."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    sub = rows.filter(pl.col("kernel") == kernel).sort("m")
    for impl in IMPLEMENTATIONS:
        part = sub.filter(pl.col("implementation") == impl)
        if part.height:
            ax.plot(part["m"].to_list(), part["median_s"].to_list(), marker="o", label=impl)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("edges")
    ax.set_ylabel("median time (s)")
    ax.set_title(kernel)
    ax.legend(fontsize="small")
    return ax


def graph_query_latency(
    graph: str = "facebook_combined",
    *,
    queries: int = 20,
    k: int = 2,
    top: int = SEARCH_TOP,
    seeds_per_query: int = SEARCH_SEEDS,
    seed: int = 0,
    repeat: int = 3,
) -> pl.DataFrame:
    """``local_search`` latency, networkx (interpreted) vs workbench (compiled), per query.

    Each query draws ``seeds_per_query`` random seeds with degree >= 1. Returns one row
    per (query, implementation) with the median latency in seconds.

    Examples
    --------
    >>> df = graph_query_latency("rmat-s6", queries=2, repeat=1)
    >>> sorted(set(df["implementation"]))
    ['networkx', 'workbench']
    """
    case = graph_case(graph, seed)
    rng = np.random.default_rng(seed + 3)
    candidates = np.nonzero(case.g.degree() > 0)[0]
    G = case.nx()
    rows = []
    for q in range(queries):
        qs = rng.choice(candidates, size=min(seeds_per_query, candidates.size), replace=False)
        qs = sorted(int(s) for s in qs)
        for impl, fn in (
            ("workbench", lambda qs=qs: local_search(case.g, qs, k, top)),
            ("networkx", lambda qs=qs: local_search_networkx(G, qs, k, top)),
        ):
            t = time_call(fn, warmup=1, repeat=repeat)
            rows.append({"query": q, "implementation": impl, "latency_s": t.median})
    return pl.DataFrame(rows)


_COMPILE_SCRIPT = r"""
import json, sys, time
import numpy as np
t0 = time.perf_counter()
from workbench.graph import (CSRGraph, bfs, k_hop, sssp, pagerank, connected_components,
                             label_propagation, louvain, leiden, modularity, local_search)
out = {"import": time.perf_counter() - t0}
cpu = {}
def timed(name, fn):
    t, c = time.perf_counter(), time.process_time()
    fn()
    out[name] = time.perf_counter() - t
    cpu[name] = time.process_time() - c
timed("csr", lambda: CSRGraph.from_edges(np.array([0, 1, 2]), np.array([1, 2, 0])))
g = CSRGraph.from_edges(np.array([0, 1, 2, 3]), np.array([1, 2, 0, 4]))
w = CSRGraph.from_edges(np.array([0, 1]), np.array([1, 2]), weights=np.array([1.0, 2.0]))
calls = {
    "bfs": lambda: bfs(g, 0), "k_hop": lambda: k_hop(g, [0], 2), "sssp": lambda: sssp(w, 0),
    "pagerank": lambda: pagerank(g), "components": lambda: connected_components(g),
    "label_propagation": lambda: label_propagation(g), "louvain": lambda: louvain(g),
    "leiden": lambda: leiden(g),
    "modularity": lambda: modularity(g, [0, 0, 0, 1, 1]),
    "local_search": lambda: local_search(g, [0], 2, 3),
}
for name in sys.argv[1].split(","):
    timed(name, calls[name])
print(json.dumps({"wall": out, "cpu": cpu}))
"""


def compile_times(kernels: Sequence[str] = KERNELS) -> pl.DataFrame:
    """First-call time of each kernel in a fresh process: cold (empty numba cache) and cached.

    Two subprocesses share a temporary ``NUMBA_CACHE_DIR``: the first compiles every kernel
    and writes the cache, the second loads it. Each kernel is called once on a tiny graph,
    so the time is compile (or cache load) plus a negligible run.

    Returns
    -------
    polars.DataFrame
        ``kernel, cold_s, cold_cpu_s, cached_s``: wall-clock seconds of the first call with
        an empty cache, the CPU seconds of the same call (what it costs on an idle machine),
        and wall-clock seconds with the cache written by the first process.
    """
    names = [k for k in kernels if k in KERNELS]
    with tempfile.TemporaryDirectory(prefix="wb-numba-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        runs = []
        for _ in range(2):
            proc = subprocess.run(
                [sys.executable, "-c", _COMPILE_SCRIPT, ",".join(names)],
                capture_output=True, text=True, env=env, timeout=900, check=False,
            )  # fmt: skip
            if proc.returncode != 0:
                raise RuntimeError(f"compile-time probe failed: {proc.stderr[-2000:]}")
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    cold, cached = runs
    order = ["csr", *names]
    return pl.DataFrame(
        {
            "kernel": order,
            "cold_s": [cold["wall"][k] for k in order],
            "cold_cpu_s": [cold["cpu"][k] for k in order],
            "cached_s": [cached["wall"][k] for k in order],
        }
    )


def record_compile_times(frame: pl.DataFrame, recorder: Any) -> None:
    """Record :func:`compile_times` output as ``compile_time`` / ``cached_load_time`` rows."""
    for row in frame.iter_rows(named=True):
        recorder.record(f"compile/{row['kernel']}", "workbench", "compile_time", row["cold_s"],
                        "s", flush=False)  # fmt: skip
        recorder.record(f"compile/{row['kernel']}", "workbench", "compile_cpu_time",
                        row["cold_cpu_s"], "s", flush=False)  # fmt: skip
        recorder.record(f"compile/{row['kernel']}", "workbench", "cached_load_time",
                        row["cached_s"], "s", flush=False)  # fmt: skip
    recorder.flush()
