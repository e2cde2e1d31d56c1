"""graphrag: graph queries and vector search over data loaded at start.

Routes: ``POST /v1/graph/query``, ``POST /v1/vectors/search``, ``GET /v1/graph/info``, plus
the common ones. The work is done by :mod:`workbench.graph` and :mod:`workbench.vector` (numba
kernels); this module validates, calls, and reports timing. Kernels are compiled and the
Louvain partition computed during startup, so ``/health`` answers only once queries are fast.

Graph query (``{"kind": ..., "seeds": [...], "k": 2, "top": 10}``)
------------------------------------------------------------------
``khop``
    Vertices within ``k`` hops of the seeds (sorted ids; ``count`` is the full size,
    ``nodes`` the first ``top``).
``ppr``
    Personalised PageRank over the whole graph teleporting to the seeds (damping ``alpha``,
    default 0.85); the ``top`` best with their ``scores``.
``local_search``
    The GraphRAG local query: PPR inside the ``k``-hop neighbourhood of the seeds
    (:func:`workbench.graph.local_search`).
``community``
    The Louvain community of the first seed (``community`` id; members sorted, first ``top``).
``path``
    A shortest (fewest hops) path from the first seed to ``target``; ``path`` is ``null``
    when there is none.

Vector search (``{"vector": [...], "k": 10, "index": "exact"}``): exact cosine top-k over
the vector set (:func:`workbench.vector.topk`), or ``"index": "ivf"`` for the approximate
:class:`workbench.vector.IVFIndex` (``nprobe`` cells scanned).

Settings
--------
``graph``
    ``{"scale": 12, "edge_factor": 16, "seed": 0}`` for an R-MAT graph (Graph500
    parameters), ``{"snap": "facebook_combined"}`` for a bundled SNAP graph, or
    ``{"edge_list": "path.tsv"}`` (:func:`workbench.graph.io.read_edgelist`).
``vectors``
    ``{"n": 10000, "dim": 64, "seed": 0, "nlist": sqrt(n), "nprobe": 8}``: clustered unit
    vectors (:func:`workbench.vector.clustered_embeddings`) and an IVF index over them.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from workbench.graph import CSRGraph, bfs, k_hop, local_search, louvain, pagerank, rmat
from workbench.graph.io import load_snap, read_edgelist
from workbench.services.common import ApiError, build_app, field, read_json
from workbench.vector import IVFIndex, clustered_embeddings, topk

__all__ = ["DEFAULTS", "GraphStore", "create_app"]

DEFAULTS: dict[str, Any] = {
    "graph": {"scale": 12, "edge_factor": 16, "seed": 0},
    "vectors": {"n": 10_000, "dim": 64, "seed": 0},
}
KINDS = ("khop", "ppr", "local_search", "community", "path")
MAX_SEEDS = 64
MAX_K = 4
MAX_TOP = 1000


def _load_graph(spec: Mapping[str, Any]) -> tuple[CSRGraph, str]:
    if spec.get("snap"):
        return load_snap(str(spec["snap"])), f"snap:{spec['snap']}"
    if spec.get("edge_list"):
        path = Path(spec["edge_list"])
        return read_edgelist(path), f"edge_list:{path.name}"
    scale = int(spec.get("scale", 12))
    ef = int(spec.get("edge_factor", 16))
    return rmat(scale, ef, int(spec.get("seed", 0))), f"rmat-s{scale}-ef{ef}"


class GraphStore:
    """The loaded graph, its Louvain partition and the vector set, with query methods."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        gspec = {**DEFAULTS["graph"], **dict(settings.get("graph") or {})}
        vspec = {**DEFAULTS["vectors"], **dict(settings.get("vectors") or {})}
        self.graph, self.graph_name = _load_graph(gspec)
        n_vec, dim = int(vspec["n"]), int(vspec["dim"])
        if n_vec < 1 or dim < 1:
            raise ValueError("graphrag settings: vectors.n and vectors.dim must be >= 1")
        self.vectors = np.ascontiguousarray(
            clustered_embeddings(n_vec, dim, seed=int(vspec["seed"])), dtype=np.float32
        )
        nlist = int(vspec.get("nlist") or max(1, min(n_vec, round(math.sqrt(n_vec)))))
        self.nprobe = min(nlist, int(vspec.get("nprobe", 8)))
        self.ivf = IVFIndex.build(self.vectors, nlist, metric="cosine", seed=int(vspec["seed"]))
        self.communities: np.ndarray | None = None

    def warm(self) -> None:
        """Compile every kernel and compute the partition (startup work, not query work)."""
        self.communities = louvain(self.graph, seed=0)
        if self.graph.n:
            self.query({"kind": "local_search", "seeds": [0]})
            self.query({"kind": "khop", "seeds": [0], "k": 1})
            self.query({"kind": "ppr", "seeds": [0]})
            self.query({"kind": "path", "seeds": [0], "target": 0})
        for index in ("exact", "ivf"):
            self.search({"vector": [1.0] * self.vectors.shape[1], "k": 1, "index": index})

    def info(self) -> dict[str, Any]:
        g = self.graph
        return {
            "graph": self.graph_name,
            "n_nodes": g.n,
            "n_edges": int(g.num_edges),
            "directed": bool(g.directed),
            "communities": None if self.communities is None else int(self.communities.max() + 1),
            "n_vectors": int(self.vectors.shape[0]),
            "dim": int(self.vectors.shape[1]),
        }

    def _seeds(self, body: Mapping[str, Any]) -> np.ndarray:
        seeds = field(body, "seeds", list)
        if not 1 <= len(seeds) <= MAX_SEEDS:
            raise ApiError(422, "invalid_field", f"field 'seeds' needs 1 to {MAX_SEEDS} ids")
        n = self.graph.n
        for s in seeds:
            if isinstance(s, bool) or not isinstance(s, int):
                raise ApiError(422, "invalid_field", "field 'seeds' must hold integers")
            if not 0 <= s < n:
                raise ApiError(
                    422, "invalid_field", f"seed {s} out of range: the graph has {n} vertices"
                )
        return np.asarray(seeds, dtype=np.int64)

    def query(self, body: Mapping[str, Any]) -> dict[str, Any]:
        kind = field(body, "kind", str, choices=KINDS)
        seeds = self._seeds(body)
        k = field(body, "k", int, 2, lo=1, hi=MAX_K)
        top = field(body, "top", int, 10, lo=1, hi=MAX_TOP)
        alpha = field(body, "alpha", float, 0.85)
        if not 0.0 < alpha < 1.0 or not math.isfinite(alpha):
            raise ApiError(422, "invalid_field", f"field 'alpha' must be in (0, 1), got {alpha}")
        target = None
        if kind == "path":
            target = field(body, "target", int, lo=0)
            if target >= self.graph.n:
                raise ApiError(
                    422,
                    "invalid_field",
                    f"target {target} out of range: the graph has {self.graph.n} vertices",
                )
        g = self.graph
        t0 = time.perf_counter()
        out: dict[str, Any] = {"kind": kind, "n_nodes": g.n, "implementation": "workbench-numba"}
        if kind == "khop":
            nodes = k_hop(g, seeds, k)
            out.update(nodes=nodes[:top].tolist(), count=len(nodes))
        elif kind == "ppr":
            pers = np.zeros(g.n)
            pers[seeds] = 1.0
            ranks = pagerank(g, damping=alpha, personalization=pers)
            order = np.lexsort((np.arange(g.n), -ranks))[:top]
            out.update(nodes=order.tolist(), scores=ranks[order].tolist(), count=g.n)
        elif kind == "local_search":
            ids, scores = local_search(g, seeds, k, top, damping=alpha, return_scores=True)
            out.update(nodes=ids.tolist(), scores=scores.tolist(), count=len(ids))
        elif kind == "community":
            assert self.communities is not None
            label = int(self.communities[seeds[0]])
            members = np.flatnonzero(self.communities == label)
            out.update(nodes=members[:top].tolist(), count=len(members), community=label)
        else:
            path = self._path(int(seeds[0]), int(target))  # type: ignore[arg-type]
            out.update(nodes=path or [], count=len(path or []), path=path)
        out["timing_s"] = time.perf_counter() - t0
        return out

    def _path(self, source: int, target: int) -> list[int] | None:
        g = self.graph
        dist = bfs(g, source)
        if dist[target] < 0:
            return None
        # Walk back from the target through in-neighbours one hop closer (smallest id first,
        # so the path is deterministic); undirected graphs are their own reverse.
        rev = g if not g.directed else g.reverse()
        indptr, indices = rev.indptr, rev.indices
        path = [target]
        v = target
        while v != source:
            nbrs = indices[indptr[v] : indptr[v + 1]]
            closer = nbrs[dist[nbrs] == dist[v] - 1]
            v = int(closer.min())
            path.append(v)
        return path[::-1]

    def search(self, body: Mapping[str, Any]) -> dict[str, Any]:
        raw = field(body, "vector", list)
        dim = self.vectors.shape[1]
        if len(raw) != dim:
            raise ApiError(
                422, "invalid_field", f"field 'vector' must have {dim} numbers, got {len(raw)}"
            )
        if any(isinstance(x, bool) or not isinstance(x, int | float) for x in raw):
            raise ApiError(422, "invalid_field", "field 'vector' must hold numbers")
        q = np.asarray(raw, dtype=np.float64)
        if not np.isfinite(q).all() or np.abs(q).max() > 1e30:
            raise ApiError(422, "invalid_field", "field 'vector' must hold finite numbers")
        n = self.vectors.shape[0]
        k = field(body, "k", int, 10, lo=1, hi=MAX_TOP)
        index = field(body, "index", str, "exact", choices=("exact", "ivf"))
        t0 = time.perf_counter()
        if index == "ivf":
            scores, ids = self.ivf.search(q.astype(np.float32), min(k, n), nprobe=self.nprobe)
        else:
            scores, ids = topk(q.astype(np.float32), self.vectors, min(k, n), metric="cosine")
        return {
            "ids": ids[0].tolist(),
            "scores": scores[0].astype(float).tolist(),
            "dim": dim,
            "n_vectors": n,
            "index": index,
            "timing_s": time.perf_counter() - t0,
            "implementation": "workbench-numba",
        }


def create_app(settings: Mapping[str, Any]) -> Any:
    """graphrag's Starlette app (see the module docstring)."""
    cfg = {**DEFAULTS, **dict(settings)}
    store = GraphStore(cfg)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        store.warm()
        yield

    async def graph_query(request: Request) -> Response:
        return JSONResponse(_checked(store.query, await read_json(request)))

    async def vector_search(request: Request) -> Response:
        return JSONResponse(_checked(store.search, await read_json(request)))

    async def graph_info(request: Request) -> Response:
        return JSONResponse(store.info())

    routes = [
        Route("/v1/graph/query", graph_query, methods=["POST"]),
        Route("/v1/graph/info", graph_info, methods=["GET"]),
        Route("/v1/vectors/search", vector_search, methods=["POST"]),
    ]
    app = build_app(cfg.get("name", "graphrag"), routes, cfg, lifespan=lifespan)
    app.state.store = store
    return app


def _checked(fn: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return fn(body)
    except (ValueError, TypeError) as exc:
        # The library validates too; its message names the argument.
        raise ApiError(422, "invalid_request", str(exc)) from None
