"""The data tier: agents and conversations over pooled SQLite or PostgreSQL, cached in Redis.

The plan's *db-coordinator* ("15 ms query response, 70 % better"; phase 1 "database
responses < 20 ms") is judged against this service. It runs behind the gateway, which
authenticates and proxies ``/v1/agents...`` and ``/v1/conversations...`` to it; it can also be
called directly (tests, measurements) and then does no authentication of its own, like any
backend that only listens on loopback.

Routes
------
==========================================  ==================================================
``POST /v1/agents``                         create: ``{"name", "kind"?, "status"?,
                                            "description"?, "config"?}`` -> 201 agent
``POST /v1/agents/batch``                   ``{"items": [agent, ...]}`` -> 201, all or none
``GET /v1/agents``                          list: ``kind``, ``status``, ``name_prefix``,
                                            ``limit`` (1..500, default 50), and ``cursor``
                                            (from ``next_cursor``) *or* ``offset``
``GET|PATCH|DELETE /v1/agents/{id}``        read (``X-Cache: hit|miss|off``), partial update
                                            (bumps ``version``), delete (204, cascades)
``POST /v1/conversations``                  ``{"agent_id"?, "title"?, "messages"?: [...]}``
``GET /v1/conversations``                   ``agent_id``, ``limit``, ``cursor``
``GET|DELETE /v1/conversations/{id}``
``POST /v1/conversations/{id}/messages``    ``{"role", "content"}`` or ``{"messages": [...]}``
``GET /v1/conversations/{id}/messages``     ``limit``, ``after_seq``
``GET /ready``                              database (and Redis, if configured) reachable
``GET|DELETE /v1/stats``                    data-access time percentiles per operation
                                            (store call; cache + store for a read by id),
                                            without HTTP; ``DELETE`` resets them. Not
                                            proxied by the gateway.
==========================================  ==================================================

An agent is ``{"id", "name", "kind", "status", "description", "config", "version",
"created_at", "updated_at"}``; ``name`` is unique (409 on a duplicate), ``status`` one of
``active``, ``inactive``, ``archived``. Lists answer ``{"items": [...], "next_cursor":
str | null}``, ordered by id (creation order).

Settings (all optional)
-----------------------
``database_url``
    ``sqlite:///path.db`` (default ``sqlite:///<state dir>/datatier.sqlite3``),
    ``sqlite:///:memory:`` or ``postgresql://user@host:port/db``.
``pool_size`` (10), ``pool_timeout_s`` (5.0), ``statement_timeout_s`` (10.0)
    Connection pool; a request that waits longer than ``pool_timeout_s`` for a connection
    gets ``503 pool_exhausted`` with ``Retry-After``, never a hang.
``redis_url`` (none: no cache), ``cache_ttl_s`` (60), ``cache`` (true)
    Read-through cache of single agents (:mod:`workbench.services.datatier_cache`).

Errors follow :mod:`workbench.services.common`: malformed JSON or invalid fields 422 naming the
field, unknown id 404, duplicate name 409, no database connection 503.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import json
import os
import random
import re
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from workbench.config import state_dir
from workbench.services.common import (
    LATENCY_BUCKETS,
    ApiError,
    ServiceMetrics,
    build_app,
    error_response,
    field,
    read_json,
    run_in_thread,
)
from workbench.services.datatier_cache import AgentCache
from workbench.services.datatier_store import (
    AGENT_STATUSES,
    MESSAGE_ROLES,
    DataStore,
    StoreError,
    open_store,
)

__all__ = [
    "DATABASE_OPS_CASE",
    "DATA_ACCESS_CASE",
    "DEFAULTS",
    "LatencyReport",
    "benchmark_backends",
    "create_app",
    "default_database_url",
    "measure_query_latency",
    "percentiles",
    "query_latency_frame",
    "record_query_latency",
]

DEFAULTS: dict[str, Any] = {
    "database_url": None,
    "pool_size": 10,
    "pool_timeout_s": 5.0,
    "statement_timeout_s": 10.0,
    "redis_url": None,
    "cache": True,
    "cache_ttl_s": 60.0,
}
MAX_LIMIT = 500
_AGENT_KEYS = frozenset({"name", "kind", "status", "description", "config"})
_MAX_CONFIG_BYTES = 64 * 1024
_MAX_TIMINGS = 100_000


def default_database_url() -> str:
    """``sqlite:///<state dir>/datatier.sqlite3`` (the embedded default)."""
    return f"sqlite:///{state_dir() / 'datatier.sqlite3'}"


# --------------------------------------------------------------------------- validation


def _text(value: str, name: str, lo: int, hi: int) -> str:
    """Reject what a database would choke on (NUL, lone surrogates) with a 422, not a 500."""
    if "\x00" in value:
        raise ApiError(422, "invalid_field", f"field {name!r} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(422, "invalid_field", f"field {name!r} is not valid Unicode") from None
    if not lo <= len(value) <= hi:
        raise ApiError(
            422, "invalid_field", f"field {name!r} must be {lo}..{hi} characters, got {len(value)}"
        )
    return value


def _agent_fields(body: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    unknown = sorted(set(body) - _AGENT_KEYS)
    if unknown:
        raise ApiError(
            422,
            "invalid_field",
            f"unknown field(s) {unknown}; an agent has {sorted(_AGENT_KEYS)}",
        )
    out: dict[str, Any] = {}
    if not partial or "name" in body:
        name = _text(field(body, "name", str), "name", 1, 200)
        if not name.strip():
            raise ApiError(422, "invalid_field", "field 'name' must not be blank")
        out["name"] = name
    if "kind" in body or not partial:
        out["kind"] = _text(field(body, "kind", str, "assistant"), "kind", 1, 64)
    if "status" in body or not partial:
        out["status"] = field(body, "status", str, "active", choices=AGENT_STATUSES)
    if "description" in body or not partial:
        out["description"] = _text(field(body, "description", str, ""), "description", 0, 4000)
    if "config" in body or not partial:
        config = field(body, "config", dict, {})
        try:
            # Python's parser accepts NaN and Infinity, which no JSON client can read back.
            size = len(json.dumps(config, allow_nan=False))
        except ValueError:
            raise ApiError(
                422, "invalid_field", "field 'config' must not contain NaN or Infinity"
            ) from None
        if size > _MAX_CONFIG_BYTES:
            raise ApiError(
                422,
                "invalid_field",
                f"field 'config' is {size} bytes as JSON; the limit is {_MAX_CONFIG_BYTES}",
            )
        out["config"] = config
    if partial and not out:
        raise ApiError(
            422, "invalid_request", f"nothing to update: send one of {sorted(_AGENT_KEYS)}"
        )
    return out


def _message(body: Any, where: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_field", f"{where} must be an object with role and content")
    unknown = sorted(set(body) - {"role", "content"})
    if unknown:
        raise ApiError(422, "invalid_field", f"{where}: unknown field(s) {unknown}")
    role = field(body, "role", str, choices=MESSAGE_ROLES)
    content = _text(field(body, "content", str), "content", 0, 32_000)
    return {"role": role, "content": content}


def _messages(body: Mapping[str, Any], key: str = "messages") -> list[dict[str, Any]]:
    items = field(body, key, list, [])
    if len(items) > 100:
        raise ApiError(422, "invalid_field", f"field {key!r} holds at most 100 messages")
    return [_message(m, f"{key}[{i}]") for i, m in enumerate(items)]


def _query_text(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    return _text(value, name, 1, 200)


def _query_int(request: Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(
            422, "invalid_query", f"query parameter {name!r} must be an integer, got {raw!r}"
        ) from None
    if not lo <= value <= hi:
        raise ApiError(
            422, "invalid_query", f"query parameter {name!r} must be {lo}..{hi}, got {value}"
        )
    return value


def _encode_cursor(after: str | None) -> str | None:
    if after is None:
        return None
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        after = json.loads(raw)["after"]
        if not isinstance(after, str) or not after.isalnum():
            raise ValueError
        return after
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError):
        raise ApiError(
            422, "invalid_query", "query parameter 'cursor' is not a cursor this service issued"
        ) from None


def _id(request: Request, key: str) -> str:
    value = request.path_params[key]
    # Ids are hex; anything else cannot exist, and must not reach SQL as an odd string.
    if not (0 < len(value) <= 64 and value.isascii() and value.isalnum()):
        raise ApiError(404, "not_found", f"{key.split('_')[0]} {value[:80]!r} not found")
    return value


# --------------------------------------------------------------------------- app


class _Tier:
    """Runtime state of one data-tier app."""

    def __init__(self, cfg: Mapping[str, Any], metrics: ServiceMetrics) -> None:
        self.cfg = cfg
        self.url = str(cfg.get("database_url") or default_database_url())
        self.store: DataStore | None = None
        self.cache: AgentCache | None = None
        reg = metrics.registry
        self.m_db = Histogram(
            "workbench_datatier_db_seconds",
            "Time spent in the store per operation (pool wait included).",
            ["op"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.m_exhausted = Counter(
            "workbench_datatier_pool_exhausted",
            "Requests answered 503 because no connection freed in time.",
            registry=reg,
        )
        self.m_in_use = Gauge(
            "workbench_datatier_pool_in_use", "Pooled connections in use.", registry=reg
        )
        self.m_in_use.set_function(lambda: self.store.backend.in_use if self.store else 0)
        if cfg.get("redis_url") and cfg.get("cache", True):
            self.cache = AgentCache(
                str(cfg["redis_url"]), float(cfg.get("cache_ttl_s", 60.0)), registry=reg
            )
        # Raw data-access times (store call, or cache + store for a read by id) for
        # /v1/stats: exact percentiles without HTTP, which the histogram's buckets cannot
        # give. Bounded, so a long run keeps only the most recent samples.
        self.timings: dict[str, collections.deque[float]] = {}

    def note(self, op: str, seconds: float) -> None:
        buf = self.timings.get(op)
        if buf is None:
            buf = self.timings[op] = collections.deque(maxlen=_MAX_TIMINGS)
        buf.append(seconds)

    def stats(self) -> dict[str, Any]:
        ops = {op: list(xs) for op, xs in self.timings.items() if xs}
        every = [x for xs in ops.values() for x in xs]
        out: dict[str, Any] = {
            op: {"n": len(xs), **percentiles(xs)} for op, xs in {**ops, "all": every}.items() if xs
        }
        return out

    async def run(self, op: str, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any,
                  note: bool = True, **kwargs: Any) -> Any:  # fmt: skip
        t0 = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        except StoreError as exc:
            if exc.status == 503 and exc.code == "pool_exhausted":
                self.m_exhausted.inc()
            raise
        finally:
            dt = time.perf_counter() - t0
            self.m_db.labels(op).observe(dt)
            if note:
                self.note(op, dt)


async def _store_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StoreError)
    headers = {"Retry-After": "1"} if exc.status == 503 else None
    return error_response(exc.status, exc.code, exc.detail, headers)


def create_app(settings: Mapping[str, Any]) -> Any:
    """The data tier's Starlette app (routes and settings in the module docstring)."""
    cfg = {**DEFAULTS, **dict(settings)}
    metrics = ServiceMetrics(cfg.get("name", "datatier"))
    tier = _Tier(cfg, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        tier.store = await open_store(
            tier.url,
            pool_size=int(cfg["pool_size"]),
            pool_timeout_s=float(cfg["pool_timeout_s"]),
            statement_timeout_s=float(cfg["statement_timeout_s"]),
        )
        try:
            yield
        finally:
            if tier.cache is not None:
                await tier.cache.aclose()
            await tier.store.close()

    def store() -> DataStore:
        assert tier.store is not None
        return tier.store

    async def create_agent(request: Request) -> Response:
        fields = _agent_fields(await read_json(request), partial=False)
        agent = await tier.run("create", store().create_agent, fields)
        return JSONResponse(agent, status_code=201)

    async def create_batch(request: Request) -> Response:
        body = await read_json(request)
        items = field(body, "items", list)
        if not 1 <= len(items) <= 100:
            raise ApiError(422, "invalid_field", "field 'items' must hold 1..100 agents")
        agents = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise ApiError(422, "invalid_field", f"items[{i}] must be an object")
            agents.append(_agent_fields(item, partial=False))
        created = await tier.run("create_batch", store().create_agents, agents)
        return JSONResponse({"items": created}, status_code=201)

    async def list_agents(request: Request) -> Response:
        q = request.query_params
        cursor, offset = q.get("cursor"), q.get("offset")
        if cursor is not None and offset is not None:
            raise ApiError(422, "invalid_query", "use either 'cursor' or 'offset', not both")
        status = _query_text(request, "status")
        if status is not None and status not in AGENT_STATUSES:
            raise ApiError(
                422,
                "invalid_query",
                f"query parameter 'status' must be one of {list(AGENT_STATUSES)}, got {status!r}",
            )
        items, last = await tier.run(
            "list",
            store().list_agents,
            kind=_query_text(request, "kind"),
            status=status,
            name_prefix=_query_text(request, "name_prefix"),
            limit=_query_int(request, "limit", 50, 1, MAX_LIMIT),
            after=_decode_cursor(cursor),
            offset=_query_int(request, "offset", None, 0, 10_000_000),
        )
        return JSONResponse({"items": items, "next_cursor": _encode_cursor(last)})

    async def get_agent(request: Request) -> Response:
        agent_id = _id(request, "agent_id")
        t0 = time.perf_counter()
        if tier.cache is None:
            agent = await tier.run("get", store().get_agent, agent_id, note=False)
            state = "off"
        else:
            agent = await tier.cache.get(agent_id)
            state = "hit"
            if agent is None:
                agent = await tier.run("get", store().get_agent, agent_id, note=False)
                await tier.cache.fill(agent)
                state = "miss"
        tier.note("get", time.perf_counter() - t0)
        return JSONResponse(agent, headers={"X-Cache": state})

    async def stats(request: Request) -> Response:
        if request.method == "DELETE":
            tier.timings.clear()
            return Response(status_code=204)
        assert tier.store is not None
        body = {
            "backend": tier.store.dialect,
            "cache": tier.cache is not None,
            "pool_size": int(cfg["pool_size"]),
            "access": tier.stats(),
        }
        return JSONResponse(body)

    async def patch_agent(request: Request) -> Response:
        agent_id = _id(request, "agent_id")
        changes = _agent_fields(await read_json(request), partial=True)
        agent = await tier.run("update", store().update_agent, agent_id, changes)
        if tier.cache is not None:
            await tier.cache.invalidate(agent_id)
        return JSONResponse(agent)

    async def delete_agent(request: Request) -> Response:
        agent_id = _id(request, "agent_id")
        await tier.run("delete", store().delete_agent, agent_id)
        if tier.cache is not None:
            await tier.cache.invalidate(agent_id)
        return Response(status_code=204)

    async def create_conversation(request: Request) -> Response:
        body = await read_json(request)
        unknown = sorted(set(body) - {"agent_id", "title", "messages"})
        if unknown:
            raise ApiError(422, "invalid_field", f"unknown field(s) {unknown}")
        agent_id = field(body, "agent_id", str, None)
        if agent_id is not None:
            _text(agent_id, "agent_id", 1, 64)
        title = _text(field(body, "title", str, ""), "title", 0, 500)
        messages = _messages(body)
        conv = await tier.run(
            "create_conversation",
            store().create_conversation,
            agent_id=agent_id,
            title=title,
            messages=messages,
        )
        return JSONResponse(conv, status_code=201)

    async def list_conversations(request: Request) -> Response:
        items, last = await tier.run(
            "list_conversations",
            store().list_conversations,
            agent_id=_query_text(request, "agent_id"),
            limit=_query_int(request, "limit", 50, 1, MAX_LIMIT),
            after=_decode_cursor(request.query_params.get("cursor")),
        )
        return JSONResponse({"items": items, "next_cursor": _encode_cursor(last)})

    async def get_conversation(request: Request) -> Response:
        conv = await tier.run(
            "get_conversation", store().get_conversation, _id(request, "conversation_id")
        )
        return JSONResponse(conv)

    async def delete_conversation(request: Request) -> Response:
        await tier.run(
            "delete_conversation", store().delete_conversation, _id(request, "conversation_id")
        )
        return Response(status_code=204)

    async def add_messages(request: Request) -> Response:
        conv_id = _id(request, "conversation_id")
        body = await read_json(request)
        messages = _messages(body) if "messages" in body else [_message(body, "body")]
        if not messages:
            raise ApiError(422, "invalid_field", "field 'messages' must not be empty")
        added = await tier.run("add_messages", store().add_messages, conv_id, messages)
        return JSONResponse({"items": added}, status_code=201)

    async def list_messages(request: Request) -> Response:
        items, last = await tier.run(
            "list_messages",
            store().list_messages,
            _id(request, "conversation_id"),
            limit=_query_int(request, "limit", 100, 1, MAX_LIMIT),
            after_seq=_query_int(request, "after_seq", 0, 0, 2**62),
        )
        return JSONResponse({"items": items, "next_after_seq": last})

    async def ready(request: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            await store().ping()
            checks["database"] = "ok"
        except StoreError as exc:
            checks["database"] = exc.detail
        if tier.cache is not None:
            checks["cache"] = "ok" if await tier.cache.ping() else "unreachable"
        ok = all(v == "ok" for v in checks.values())
        body = {
            "status": "ready" if ok else "not_ready",
            "backend": store().dialect,
            "cache": tier.cache is not None,
            "checks": checks,
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    routes = [
        Route("/ready", ready, methods=["GET"]),
        Route("/v1/stats", stats, methods=["GET", "DELETE"]),
        Route("/v1/agents", create_agent, methods=["POST"]),
        Route("/v1/agents", list_agents, methods=["GET"]),
        Route("/v1/agents/batch", create_batch, methods=["POST"]),
        Route("/v1/agents/{agent_id}", get_agent, methods=["GET"]),
        Route("/v1/agents/{agent_id}", patch_agent, methods=["PATCH"]),
        Route("/v1/agents/{agent_id}", delete_agent, methods=["DELETE"]),
        Route("/v1/conversations", create_conversation, methods=["POST"]),
        Route("/v1/conversations", list_conversations, methods=["GET"]),
        Route("/v1/conversations/{conversation_id}", get_conversation, methods=["GET"]),
        Route("/v1/conversations/{conversation_id}", delete_conversation, methods=["DELETE"]),
        Route("/v1/conversations/{conversation_id}/messages", add_messages, methods=["POST"]),
        Route("/v1/conversations/{conversation_id}/messages", list_messages, methods=["GET"]),
    ]
    app = build_app(
        cfg.get("name", "datatier"),
        routes,
        cfg,
        lifespan=lifespan,
        exception_handlers={StoreError: _store_error},
        metrics=metrics,
    )
    app.state.tier = tier
    return app


# --------------------------------------------------------------------------- measurement


def percentiles(samples: list[float], qs: tuple[float, ...] = (50, 95, 99)) -> dict[str, float]:
    """``{"p50": ..., "p95": ..., "p99": ...}`` by the nearest-rank method.

    Examples
    --------
    >>> percentiles([float(i) for i in range(1, 101)])
    {'p50': 50.0, 'p95': 95.0, 'p99': 99.0}
    """
    if not samples:
        raise ValueError("percentiles of an empty sample")
    xs = sorted(samples)
    out = {}
    for q in qs:
        rank = max(1, -(-len(xs) * q // 100))  # ceil(n q / 100), at least 1
        out[f"p{q:g}"] = xs[int(rank) - 1]
    return out


class LatencyReport(dict):
    """What :func:`measure_query_latency` returns: a dict with ``samples`` per operation,
    ``all`` (every request), ``errors`` (count by status), ``requests``, ``duration_s``,
    ``cache_hits``; :meth:`summary` gives the percentiles."""

    def summary(self) -> dict[str, dict[str, float]]:
        """``{op: {"n", "p50", "p95", "p99", "mean"}}`` in seconds, ops with samples only."""
        out = {}
        for op, xs in {**self["samples"], "all": self["all"]}.items():
            if xs:
                out[op] = {"n": len(xs), **percentiles(xs), "mean": sum(xs) / len(xs)}
        return out


def measure_query_latency(
    base_url: str,
    *,
    clients: int = 4,
    duration_s: float = 5.0,
    n_agents: int = 200,
    mix: Mapping[str, float] | None = None,
    headers: Mapping[str, str] | None = None,
    seed: int = 0,
    warmup_s: float = 0.5,
    warm: bool = True,
) -> LatencyReport:
    """Closed-loop load on the agents API: ``clients`` concurrent clients for ``duration_s``.

    Seeds ``n_agents`` agents (one batch request per 100, kind ``bench-<seed>-<random>`` so
    runs never collide), then each client loops: pick an operation from ``mix`` (default
    ``get`` 0.8, ``list`` 0.1, ``update`` 0.1), send it, record the latency seen by the client
    (``time.perf_counter`` around the request, so HTTP and the service are included, as
    the plan's "response time" is). Every agent is read once first (``warm``) and a warm-up
    of ``warmup_s`` is discarded. An update invalidates that agent's cache entry, so with
    the cache on the hit share stays below 1 by design.

    Parameters
    ----------
    base_url : str
        Data tier (``http://127.0.0.1:8705``) or gateway URL (then pass ``headers`` with the
        API key).
    clients : int
        Concurrent clients, each with its own keep-alive connection.
    duration_s : float
        Measured time after the warm-up.
    n_agents : int
        Agents created before measuring; ``get`` and ``update`` pick one at random.
    mix : mapping, optional
        Operation weights among ``get``, ``list``, ``update``.
    headers : mapping, optional
        Sent with every request.
    seed : int
        Seeds the operation and agent choice.
    warmup_s : float
        Seconds of load before measuring starts (discarded).
    warm : bool
        Read every seeded agent once before the warm-up, so a cache starts warm.

    Returns
    -------
    LatencyReport
        Latencies in seconds. Non-2xx answers are counted in ``errors`` and not in the
        latency samples. ``server`` holds the data tier's own data-access percentiles for
        the measured window (``GET /v1/stats``: no HTTP, no client), or ``None`` when
        ``base_url`` is the gateway, which does not proxy that route.
    """
    import httpx

    if clients < 1 or duration_s <= 0 or n_agents < 1:
        raise ValueError("clients and n_agents must be >= 1 and duration_s > 0")
    weights = dict(mix or {"get": 0.8, "list": 0.1, "update": 0.1})
    if not set(weights) <= {"get", "list", "update"} or sum(weights.values()) <= 0:
        raise ValueError(f"mix must weight get/list/update, got {weights}")
    ops, probs = zip(*weights.items(), strict=True)
    kind = f"bench-{seed}-{random.getrandbits(32):08x}"

    async def main() -> LatencyReport:
        report = LatencyReport(
            samples={op: [] for op in ops},
            all=[],
            errors={},
            requests=0,
            duration_s=duration_s,
            cache_hits=0,
            kind=kind,
        )
        limits = httpx.Limits(max_connections=clients + 1, max_keepalive_connections=clients + 1)
        async with httpx.AsyncClient(
            base_url=base_url, headers=dict(headers or {}), limits=limits, timeout=30.0,
            trust_env=False,
        ) as client:  # fmt: skip
            ids: list[str] = []
            for start in range(0, n_agents, 100):
                items = [
                    {"name": f"{kind}-{i}", "kind": kind, "config": {"i": i}}
                    for i in range(start, min(n_agents, start + 100))
                ]
                r = await client.post("/v1/agents/batch", json={"items": items})
                r.raise_for_status()
                ids += [a["id"] for a in r.json()["items"]]
            if warm:
                # Read every agent once, untimed: the cache (when on) starts in steady state
                # instead of the measurement counting its cold misses.
                async def warm_part(part: list[str]) -> None:
                    for agent_id in part:
                        await client.get(f"/v1/agents/{agent_id}")

                await asyncio.gather(*(warm_part(ids[w::clients]) for w in range(clients)))
            t_start = time.perf_counter()
            t_measure = t_start + warmup_s
            t_end = t_measure + duration_s

            async def one(worker: int) -> None:
                rng = random.Random(seed * 1000 + worker)
                while True:
                    op = rng.choices(ops, probs)[0]
                    agent = rng.choice(ids)
                    t0 = time.perf_counter()
                    if t0 >= t_end:
                        return
                    if op == "get":
                        r = await client.get(f"/v1/agents/{agent}")
                    elif op == "list":
                        r = await client.get("/v1/agents", params={"kind": kind, "limit": 20})
                    else:
                        r = await client.patch(
                            f"/v1/agents/{agent}", json={"description": f"w{worker}-{t0}"}
                        )
                    dt = time.perf_counter() - t0
                    if t0 < t_measure:
                        continue
                    report["requests"] += 1
                    if r.status_code >= 300:
                        report["errors"][r.status_code] = report["errors"].get(r.status_code, 0) + 1
                        continue
                    report["samples"][op].append(dt)
                    report["all"].append(dt)
                    if r.headers.get("x-cache") == "hit":
                        report["cache_hits"] += 1

            async def reset_server_stats() -> None:
                # The data tier's own timings of the measured window only (not warm-up).
                await asyncio.sleep(max(0.0, t_measure - time.perf_counter()))
                with contextlib.suppress(httpx.HTTPError):
                    await client.delete("/v1/stats")

            await asyncio.gather(reset_server_stats(), *(one(w) for w in range(clients)))
            report["server"] = None
            with contextlib.suppress(httpx.HTTPError, ValueError):
                r = await client.get("/v1/stats")
                if r.status_code == 200:
                    report["server"] = r.json()["access"]
        return report

    return run_in_thread(main)


def _implementation(backend: str, cache: bool) -> str:
    return f"python-{backend}" + ("+redis" if cache else "")


def benchmark_backends(
    backends: Sequence[str] = ("sqlite", "postgres"),
    caches: Sequence[bool] = (False, True),
    *,
    clients: int = 4,
    duration_s: float = 3.0,
    n_agents: int = 200,
    pool_size: int = 10,
    seed: int = 0,
    durable: bool = True,
    work_dir: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """Measure :func:`measure_query_latency` for each backend x cache, each in a fresh service.

    Starts what each combination needs — a throwaway PostgreSQL (``durable``: with fsync and
    synchronous commit, as a production server would run) and Redis from
    :mod:`workbench.services.dbservers`, then the data tier as a real process through
    :func:`~workbench.services.launcher.running_services` on free ports — measures, and
    stops everything. A combination whose server cannot be started here is returned with
    ``status`` saying why instead of failing the whole run.

    Parameters
    ----------
    backends : sequence of {"sqlite", "postgres"}
    caches : sequence of bool
        ``False`` for no cache, ``True`` for the Redis read-through cache.
    clients, duration_s, n_agents, seed
        Passed to :func:`measure_query_latency`.
    pool_size : int
        Data-tier connection pool size.
    work_dir : path, optional
        Where SQLite files and service logs go (a temporary directory by default).

    Returns
    -------
    list of dict
        One per combination: ``implementation`` (``python-sqlite``, ``python-postgres+redis``,
        ...), ``backend``, ``cache``, ``status`` (``"measured"`` or ``"not measured here:
        <reason>"``) and, when measured, ``report`` (a :class:`LatencyReport`) and
        ``summary`` (its :meth:`~LatencyReport.summary`).
    """
    import tempfile

    from workbench.errors import ServiceError
    from workbench.services.dbservers import start_postgres, start_redis
    from workbench.services.launcher import running_services

    for b in backends:
        if b not in ("sqlite", "postgres"):
            raise ValueError(f"unknown backend {b!r}; use 'sqlite' or 'postgres'")
    rows: list[dict[str, Any]] = []
    servers: dict[str, Any] = {}
    problems: dict[str, str] = {}

    def server(kind: str) -> Any:
        if kind not in servers and kind not in problems:
            try:
                servers[kind] = start_postgres(durable=durable) if kind == "pg" else start_redis()
            except ServiceError as exc:
                problems[kind] = str(exc)
        return servers.get(kind)

    with contextlib.ExitStack() as stack:
        root = (
            Path(work_dir) if work_dir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        )
        stack.callback(lambda: [s.stop() for s in servers.values()])
        for backend in backends:
            for cache in caches:
                row: dict[str, Any] = {
                    "implementation": _implementation(backend, cache),
                    "backend": backend,
                    "cache": cache,
                }
                rows.append(row)
                name = f"{backend}-{'cache' if cache else 'nocache'}"
                settings: dict[str, Any] = {"pool_size": pool_size}
                if backend == "postgres":
                    pg = server("pg")
                    if pg is None:
                        row["status"] = f"not measured here: {problems['pg']}"
                        continue
                    settings["database_url"] = _fresh_database(pg.url, name)
                else:
                    settings["database_url"] = f"sqlite:///{root / (name + '.sqlite3')}"
                if cache:
                    redis = server("redis")
                    if redis is None:
                        row["status"] = f"not measured here: {problems['redis']}"
                        continue
                    settings["redis_url"] = redis.url
                with running_services(
                    ["datatier"], ports="free", state_dir=root / "state" / name,
                    settings={"datatier": settings}, write_state=False,
                ) as svc:  # fmt: skip
                    report = measure_query_latency(
                        svc.url("datatier"), clients=clients, duration_s=duration_s,
                        n_agents=n_agents, seed=seed,
                    )  # fmt: skip
                row.update(status="measured", report=report, summary=report.summary())
    return rows


def _fresh_database(server_url: str, name: str) -> str:
    """Create an empty database on a PostgreSQL server; returns its URL."""
    import psycopg

    db = "wb_" + re.sub(r"[^a-z0-9_]", "_", name.lower())
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db}")
        conn.execute(f"CREATE DATABASE {db}")
    return server_url.rsplit("/", 1)[0] + "/" + db


#: The result-store case of the plan's "Database Ops" row (Table 2) and phase-1 metric.
DATABASE_OPS_CASE = "response_time/database_ops"
#: The data tier's own data-access time (store call, or cache + store), without HTTP.
DATA_ACCESS_CASE = "data_tier/access"


def query_latency_frame(rows: Sequence[Mapping[str, Any]]) -> Any:
    """One line per backend x cache from :func:`benchmark_backends`, latencies in ms.

    Columns: ``implementation``, ``status``, ``requests``, ``errors``, ``cache_hit_share``,
    ``p50_ms``, ``p95_ms``, ``p99_ms`` (every operation, as the client saw it),
    ``get_p50_ms``, ``get_p99_ms`` (point reads, the cached path), ``access_p50_ms`` ..
    ``access_p99_ms`` (the service's own data-access time, no HTTP). Unmeasured
    combinations keep their reason in ``status``.
    """
    import pandas as pd

    out = []
    for r in rows:
        line: dict[str, Any] = {"implementation": r["implementation"], "status": r["status"]}
        if r["status"] == "measured":
            s, rep = r["summary"], r["report"]
            n = max(1, len(rep["samples"].get("get", [])))
            line.update(
                requests=rep["requests"],
                errors=sum(rep["errors"].values()),
                cache_hit_share=rep["cache_hits"] / n,
                p50_ms=s["all"]["p50"] * 1e3,
                p95_ms=s["all"]["p95"] * 1e3,
                p99_ms=s["all"]["p99"] * 1e3,
            )
            if "get" in s:
                line.update(get_p50_ms=s["get"]["p50"] * 1e3, get_p99_ms=s["get"]["p99"] * 1e3)
            server = (rep.get("server") or {}).get("all")
            if server:
                line.update(
                    access_p50_ms=server["p50"] * 1e3,
                    access_p95_ms=server["p95"] * 1e3,
                    access_p99_ms=server["p99"] * 1e3,
                )
        out.append(line)
    return pd.DataFrame(out)


def record_query_latency(
    recorder: Any, rows: Sequence[Mapping[str, Any]], params: Mapping[str, Any] | None = None
) -> int:
    """Record p50/p95/p99 (seconds) of each measured combination under
    :data:`DATABASE_OPS_CASE` (client-side), per operation under ``data_tier/<op>``, and the
    service's own data-access time under :data:`DATA_ACCESS_CASE`; returns the number of
    rows written. Unmeasured combinations are not recorded."""
    written = 0
    for r in rows:
        if r["status"] != "measured":
            continue
        p = {**dict(params or {}), "backend": r["backend"], "cache": r["cache"]}
        rep = r["report"]
        for case, xs in [(DATABASE_OPS_CASE, rep["all"])] + [
            (f"data_tier/{op}", v) for op, v in rep["samples"].items()
        ]:
            if not xs:
                continue
            for name, value in percentiles(list(xs)).items():
                recorder.record(
                    case, r["implementation"], f"latency_{name}", value, "s", n=len(xs),
                    min=min(xs), median=percentiles(list(xs), (50,))["p50"], max=max(xs),
                    params=p, flush=False,
                )  # fmt: skip
                written += 1
        server = (rep.get("server") or {}).get("all")
        if server:
            for name in ("p50", "p95", "p99"):
                recorder.record(
                    DATA_ACCESS_CASE, r["implementation"], f"latency_{name}", server[name], "s",
                    n=server["n"], params=p, flush=False,
                )  # fmt: skip
                written += 1
    recorder.flush()
    return written
