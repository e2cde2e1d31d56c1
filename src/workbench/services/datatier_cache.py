"""Read-through Redis cache of single agents, invalidated on write.

``GET /v1/agents/{id}`` asks the cache first; on a miss it reads the database and stores the
agent under ``<prefix>agent:<id>`` for ``ttl_s`` seconds. Every write (update, delete)
replaces the entry, *after* its transaction committed, by a short-lived tombstone
(``tombstone_s``). Readers fill the cache with ``SET ... NX``, so a reader that fetched the
row just before a write cannot overwrite the tombstone with the old value; a tombstone is
read as a miss and never refilled until it expires. The window in which a stale value can
survive is therefore a reader that takes longer than ``tombstone_s`` between its database
read and its cache fill (default 2 s) — instead of the whole TTL.

Lists are not cached: a list query's key space (filters x cursors) would need invalidation
by generation, and the plan's "Database Ops" row is about single-row queries.

The cache never makes the service less available than its database: Redis errors (down,
timeout) make the request fall through to the database and are counted in
``workbench_datatier_cache_errors_total``; after an error the cache is bypassed for
``cooldown_s`` so that an outage costs one timeout, not one per request. A failed
invalidation is logged: until Redis is back or the TTL passes, that entry can be stale.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from workbench.errors import require

__all__ = ["AgentCache"]

_log = logging.getLogger("workbench.services.datatier")
_TOMBSTONE = b"\x00"


class AgentCache:
    """Redis read-through cache of agents (see the module docstring).

    Parameters
    ----------
    url : str
        ``redis://host:port/db``.
    ttl_s : float
        Lifetime of a cached agent.
    registry : CollectorRegistry, optional
        Where the hit/miss/error counters go.
    prefix : str
        Key prefix, so several data tiers can share one Redis.
    timeout_s : float
        Socket timeout of every Redis command.
    max_connections : int
        Size of the (blocking) Redis connection pool.
    """

    def __init__(
        self,
        url: str,
        ttl_s: float = 60.0,
        *,
        registry: CollectorRegistry | None = None,
        prefix: str = "wb:dt:",
        timeout_s: float = 0.5,
        tombstone_s: float = 2.0,
        cooldown_s: float = 1.0,
        max_connections: int = 64,
    ) -> None:
        aioredis = require("redis.asyncio", "services", "the data tier's Redis cache")
        retry_mod = require("redis.asyncio.retry", "services", "the data tier's Redis cache")
        backoff = require("redis.backoff", "services", "the data tier's Redis cache")
        self.errors_mod = require("redis.exceptions", "services", "the data tier's Redis cache")
        if ttl_s <= 0:
            raise ValueError(f"cache ttl_s must be > 0, got {ttl_s}")
        self.url = url
        self.ttl_ms = int(ttl_s * 1000)
        self.tombstone_ms = int(tombstone_s * 1000)
        self.prefix = prefix
        self.cooldown_s = cooldown_s
        self._down_until = 0.0
        # No retries inside redis-py: a retry would double the time a dead Redis costs a
        # request, and the database is always there to fall back on.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout_s,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=retry_mod.Retry(backoff.NoBackoff(), 0),
        )
        self.redis = aioredis.Redis(connection_pool=pool)
        registry = registry or CollectorRegistry()
        self.m_hits = Counter(
            "workbench_datatier_cache_hits", "Agent reads served from Redis.", registry=registry
        )
        self.m_misses = Counter(
            "workbench_datatier_cache_misses",
            "Agent reads that went to the database.",
            registry=registry,
        )
        self.m_errors = Counter(
            "workbench_datatier_cache_errors",
            "Redis errors (request served from the database).",
            ["op"],
            registry=registry,
        )

    def _key(self, agent_id: str) -> str:
        return f"{self.prefix}agent:{agent_id}"

    def _usable(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, op: str, exc: Exception) -> None:
        self.m_errors.labels(op).inc()
        self._down_until = time.monotonic() + self.cooldown_s
        _log.warning("redis cache %s failed: %s", op, type(exc).__name__)

    async def get(self, agent_id: str) -> dict[str, Any] | None:
        """The cached agent, or ``None`` on a miss, a tombstone or a Redis error."""
        if not self._usable():
            self.m_misses.inc()
            return None
        try:
            raw = await self.redis.get(self._key(agent_id))
        except (self.errors_mod.RedisError, OSError) as exc:
            self._failed("get", exc)
            self.m_misses.inc()
            return None
        if raw is None or raw == _TOMBSTONE:
            self.m_misses.inc()
            return None
        self.m_hits.inc()
        return json.loads(raw)

    async def fill(self, agent: dict[str, Any]) -> None:
        """Store an agent read from the database, unless a newer write left a tombstone."""
        if not self._usable():
            return
        try:
            await self.redis.set(
                self._key(agent["id"]),
                json.dumps(agent, separators=(",", ":")),
                px=self.ttl_ms,
                nx=True,
            )
        except (self.errors_mod.RedisError, OSError) as exc:
            self._failed("fill", exc)

    async def invalidate(self, agent_id: str) -> None:
        """Replace the entry by a tombstone; call after the write has committed."""
        try:
            await self.redis.set(self._key(agent_id), _TOMBSTONE, px=self.tombstone_ms)
        except (self.errors_mod.RedisError, OSError) as exc:
            self._failed("invalidate", exc)
            _log.warning(
                "agent %s may be served stale from cache for up to %.0f s",
                agent_id,
                self.ttl_ms / 1000,
            )

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (self.errors_mod.RedisError, OSError):
            return False

    async def aclose(self) -> None:
        await self.redis.aclose()
        await self.redis.connection_pool.disconnect()
