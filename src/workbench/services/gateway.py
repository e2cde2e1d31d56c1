"""The API gateway: authentication, rate limiting and a resilient reverse proxy.

Its OpenAPI document (``GET /openapi.json``, :data:`OPENAPI`) is the contract any
implementation of the gateway (this one, or a future Go/Rust one) must meet.

Routes
------
Open (operational): ``GET /health``, ``GET /ready`` (checks each backend's ``/health``; 503
when one is down), ``GET /metrics``, ``GET /openapi.json``, ``GET /v1/memory`` (the
gateway's own process).

Authenticated (``Authorization: Bearer <key>`` or ``X-API-Key: <key>``), rate limited, proxied:

=====================================================  ============
``POST /v1/chat``                                      ai-core
``/v1/graph/*``, ``/v1/vectors/*``                     graphrag
``/v1/agents``, ``/v1/agents/{id}``, ``/v1/conversations...``  datatier
=====================================================  ============

Behaviour
---------
* **Auth.** Keys are stored as SHA-256 hashes (``api_key_hashes``; the launcher passes the
  hash, never the key); the presented key is hashed and compared with every stored hash by
  :func:`hmac.compare_digest`. Missing or wrong key: ``401`` JSON. The key is stripped before
  the request is proxied and never logged; logs identify a key by the first 8 hex digits of
  its hash.
* **Rate limit.** Token bucket per key: ``rate_limit.rate_per_s`` tokens per second, bucket
  of ``rate_limit.burst``. Over the limit: ``429`` with ``Retry-After`` (whole seconds).
  In-process by default; with ``redis_url`` the bucket lives in Redis (one Lua script, Redis
  server time), so several gateway processes share one limit. If Redis cannot be reached the
  gateway lets requests through and logs it (availability over strictness; counted in
  ``workbench_gateway_ratelimit_errors_total``).
* **Proxy.** One pool of keep-alive connections per backend
  (:class:`workbench.services.upstream.UpstreamPool`; httpx was measured too slow for the
  overhead budget, see that module) with connect/read/write/pool timeouts. Retries: a
  request that never reached the backend (connect failure, pool timeout) is retried for any
  method; one sent on an idle keep-alive connection the backend had just closed (``stale``:
  closed before a single byte of answer) is resent at once on another connection, for any
  method and without using the retry budget; other failures are retried only for idempotent
  methods (GET, HEAD, OPTIONS, PUT, DELETE).
  Backend down: ``503``, timeout: ``504``, broken answer: ``502``, each a JSON error.
  Streaming answers (NDJSON, SSE) are streamed through.
* **Circuit breaker per backend.** ``breaker.failures`` consecutive failures (transport
  errors or 5xx) open it; while open, requests get an immediate ``503`` with ``Retry-After``;
  after ``breaker.open_s`` one probe request is let through (half-open); success closes it,
  failure opens it again.
* **Limits and ids.** Body over ``max_body_bytes`` (1 MiB): ``413``. Every response carries
  ``X-Request-ID``, which is forwarded to the backend.
* **Metrics.** Request latency histogram by route and status, in-flight requests (common),
  plus upstream latency by backend, breaker state, auth failures, rate-limited requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import math
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from workbench.services.common import (
    LATENCY_BUCKETS,
    ApiError,
    ServiceMetrics,
    build_app,
    error_response,
)
from workbench.services.openapi import OPENAPI
from workbench.services.upstream import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamPool,
    UpstreamProtocolError,
    UpstreamResponse,
    UpstreamTimeoutError,
)

__all__ = [
    "BACKEND_ROUTES",
    "DEFAULTS",
    "OPENAPI",
    "CircuitBreaker",
    "RedisTokenBucket",
    "TokenBucket",
    "create_app",
]

_log = logging.getLogger("workbench.services.gateway")

DEFAULTS: dict[str, Any] = {
    "rate_limit": {"rate_per_s": 1000.0, "burst": 2000},
    "redis_url": None,
    "timeouts": {"connect_s": 1.0, "read_s": 60.0, "write_s": 10.0, "pool_s": 5.0},
    "retries": 2,
    "retry_backoff_s": 0.05,
    "breaker": {"failures": 5, "open_s": 5.0},
    "max_connections": 256,
    "ready_timeout_s": 1.0,
    "access_log": False,
}
#: Path prefix -> backend service. First match wins.
BACKEND_ROUTES: tuple[tuple[str, str], ...] = (
    ("/v1/chat", "ai-core"),
    ("/v1/graph/", "graphrag"),
    ("/v1/vectors/", "graphrag"),
    ("/v1/agents", "datatier"),
    ("/v1/conversations", "datatier"),
)
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
        # Credentials for the gateway stop here.
        b"authorization",
        b"x-api-key",
    }
)
# Request headers the gateway sets itself: the client's values (spoofable, or duplicates of
# ours) are dropped, never forwarded alongside.
_REQUEST_DROP = _HOP_BY_HOP | {
    b"x-forwarded-for",
    b"x-forwarded-host",
    b"x-forwarded-proto",
    b"x-real-ip",
    b"forwarded",
    b"x-request-id",
}
# Response headers not copied from the backend: hop-by-hop ones, the length (recomputed),
# and the ones uvicorn sets itself.
_RESPONSE_DROP = (_HOP_BY_HOP - {b"authorization", b"x-api-key"}) | {
    b"date",
    b"server",
    b"x-request-id",
}
_STREAM_TYPES = (b"application/x-ndjson", b"text/event-stream")


# --------------------------------------------------------------------------- rate limit


class TokenBucket:
    """In-process token buckets, one per key.

    Parameters
    ----------
    rate_per_s : float
        Refill rate (sustained requests per second).
    burst : int
        Bucket size (requests allowed at once after idleness).

    Examples
    --------
    >>> tb = TokenBucket(rate_per_s=1.0, burst=2)
    >>> [tb.take("k", now=0.0)[0] for _ in range(3)]
    [True, True, False]
    >>> tb.take("k", now=1.0)[0]
    True
    """

    def __init__(self, rate_per_s: float, burst: int) -> None:
        if not rate_per_s > 0 or burst < 1:
            raise ValueError(
                f"rate_limit: need rate_per_s > 0 and burst >= 1, got {rate_per_s}, {burst}"
            )
        self.rate = float(rate_per_s)
        self.burst = float(burst)
        self._buckets: dict[str, list[float]] = {}

    def take(self, key: str, now: float | None = None) -> tuple[bool, float]:
        """Take one token for ``key``: ``(allowed, seconds until a token is available)``."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = [self.burst, now]
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return True, 0.0
        bucket[0] = tokens
        return False, (1.0 - tokens) / self.rate


_REDIS_BUCKET = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local v = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(v[1]) or burst
local ts = tonumber(v[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local ok = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  ok = 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {ok, tostring(wait)}
"""


class RedisTokenBucket:
    """The same token bucket, kept in Redis so that gateway processes share it.

    The whole read-refill-take step is one Lua script with the Redis server's clock, so
    concurrent gateways neither race nor disagree about time.
    """

    def __init__(self, url: str, rate_per_s: float, burst: int, prefix: str = "wb:rl:") -> None:
        import redis.asyncio as aioredis

        self.rate = float(rate_per_s)
        self.burst = int(burst)
        self.prefix = prefix
        self.client = aioredis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script = self.client.register_script(_REDIS_BUCKET)

    async def take(self, key: str) -> tuple[bool, float]:
        ok, wait = await self._script(keys=[self.prefix + key], args=[self.rate, self.burst])
        return bool(int(ok)), float(wait)

    async def aclose(self) -> None:
        await self.client.aclose()


# --------------------------------------------------------------------------- breaker

CLOSED, OPEN, HALF_OPEN = 0, 1, 2


class CircuitBreaker:
    """Consecutive-failure circuit breaker with a single half-open probe.

    Examples
    --------
    >>> b = CircuitBreaker("x", failures=2, open_s=10.0)
    >>> b.failure(now=0.0); b.failure(now=0.0); b.allow(now=1.0)
    False
    >>> b.allow(now=10.5), b.allow(now=10.6)   # one probe while half-open
    (True, False)
    >>> b.success(); b.allow(now=10.7)
    True
    """

    def __init__(self, name: str, failures: int, open_s: float, on_change: Any = None) -> None:
        if failures < 1 or open_s <= 0:
            raise ValueError(
                f"breaker: need failures >= 1 and open_s > 0, got {failures}, {open_s}"
            )
        self.name = name
        self.threshold = int(failures)
        self.open_s = float(open_s)
        self.state = CLOSED
        self.consecutive = 0
        self.open_until = 0.0
        self.probing = False
        self._on_change = on_change

    def _set(self, state: int) -> None:
        if state != self.state:
            self.state = state
            if self._on_change is not None:
                self._on_change(self.name, state)

    def allow(self, now: float | None = None) -> bool:
        """Whether a request may go to the backend now (takes the probe slot if half-open)."""
        if self.state == CLOSED:
            return True
        now = time.monotonic() if now is None else now
        if self.state == OPEN and now >= self.open_until:
            self._set(HALF_OPEN)
            self.probing = False
        if self.state == HALF_OPEN and not self.probing:
            self.probing = True
            return True
        return False

    def retry_after(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        return max(0.0, self.open_until - now)

    def release(self) -> None:
        """Give back the half-open probe slot without a verdict (the request never reached a
        result: the client went away, the task was cancelled). No-op in any other state."""
        if self.state == HALF_OPEN:
            self.probing = False

    def success(self) -> None:
        self.consecutive = 0
        self.probing = False
        self._set(CLOSED)

    def failure(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.consecutive += 1
        if self.state == HALF_OPEN or self.consecutive >= self.threshold:
            self.open_until = now + self.open_s
            self.probing = False
            self._set(OPEN)


# --------------------------------------------------------------------------- auth


class _AuthRateLimitMiddleware:
    """API-key check and token bucket for every ``/v1/`` path except ``/v1/memory``."""

    def __init__(self, app: ASGIApp, gateway: _Gateway) -> None:
        self.app = app
        self.gw = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/v1/") or path == "/v1/memory":
            await self.app(scope, receive, send)
            return
        gw = self.gw
        presented = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and token.strip():
                    presented = token.strip()
            elif key == b"x-api-key" and presented is None:
                presented = value.decode("latin-1").strip() or None
        key_id = gw.check_key(presented)
        if key_id is None:
            gw.m_auth_failures.inc()
            _log.warning(
                "auth failed",
                extra={"path": path, "reason": "missing key" if presented is None else "bad key"},
            )
            response = error_response(
                401,
                "unauthorized",
                "missing API key" if presented is None else "invalid API key",
                {"WWW-Authenticate": 'Bearer realm="workbench"'},
            )
            await response(scope, receive, send)
            return
        allowed, wait = await gw.take_token(key_id)
        if not allowed:
            gw.m_rate_limited.inc()
            retry = max(1, math.ceil(wait))
            response = error_response(
                429,
                "rate_limited",
                f"rate limit of {gw.rate_per_s:g} requests/s exceeded; retry in {retry} s",
                {"Retry-After": str(retry)},
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["key_id"] = key_id
        await self.app(scope, receive, send)


class _Gateway:
    """Runtime state of one gateway app: keys, limiter, client, breakers, metrics."""

    def __init__(self, cfg: Mapping[str, Any], registry: Any) -> None:
        hashes = cfg.get("api_key_hashes") or []
        if isinstance(hashes, str):
            hashes = [hashes]
        self.key_hashes = [bytes.fromhex(h) for h in hashes]
        if not self.key_hashes:
            _log.warning("no API keys configured: every /v1/ request will get 401")
        rl = {**DEFAULTS["rate_limit"], **dict(cfg.get("rate_limit") or {})}
        self.rate_per_s = float(rl["rate_per_s"])
        self.local_bucket = TokenBucket(self.rate_per_s, int(rl["burst"]))
        self.redis_bucket = (
            RedisTokenBucket(cfg["redis_url"], self.rate_per_s, int(rl["burst"]))
            if cfg.get("redis_url")
            else None
        )
        started = set(cfg.get("services") or cfg.get("urls", {}).keys())
        urls = cfg.get("urls", {})
        overrides = cfg.get("backends") or {}
        self.backends: dict[str, str] = {}
        for _, name in BACKEND_ROUTES:
            url = overrides.get(name) or (urls.get(name) if name in started else None)
            if url:
                self.backends[name] = str(url).rstrip("/")
        t = {**DEFAULTS["timeouts"], **dict(cfg.get("timeouts") or {})}
        self.timeouts = {
            "connect_timeout": float(t["connect_s"]),
            "read_timeout": float(t["read_s"]),
            "write_timeout": float(t["write_s"]),
            "pool_timeout": float(t["pool_s"]),
        }
        self.retries = int(cfg.get("retries", DEFAULTS["retries"]))
        self.backoff = float(cfg.get("retry_backoff_s", DEFAULTS["retry_backoff_s"]))
        self.max_connections = int(cfg.get("max_connections", DEFAULTS["max_connections"]))
        self.ready_timeout = float(cfg.get("ready_timeout_s", DEFAULTS["ready_timeout_s"]))
        self.access_log = bool(cfg.get("access_log", False))
        self.pools: dict[str, UpstreamPool] = {}

        self.m_upstream = Histogram(
            "workbench_gateway_upstream_duration_seconds",
            "Time to the backend's response headers, by backend and status.",
            ["backend", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.m_breaker = Gauge(
            "workbench_gateway_breaker_state",
            "Circuit breaker state per backend: 0 closed, 1 open, 2 half-open.",
            ["backend"],
            registry=registry,
        )
        self.m_auth_failures = Counter(
            "workbench_gateway_auth_failures", "Requests rejected with 401.", registry=registry
        )
        self.m_rate_limited = Counter(
            "workbench_gateway_rate_limited", "Requests rejected with 429.", registry=registry
        )
        self.m_rl_errors = Counter(
            "workbench_gateway_ratelimit_errors",
            "Rate-limit store errors (request let through).",
            registry=registry,
        )
        self._upstream_children: dict[tuple[str, int | str], Any] = {}
        self.m_retries = Counter(
            "workbench_gateway_retries", "Proxy retries by backend.", ["backend"], registry=registry
        )
        b = {**DEFAULTS["breaker"], **dict(cfg.get("breaker") or {})}
        self.breakers = {
            name: CircuitBreaker(
                name, int(b["failures"]), float(b["open_s"]), self._breaker_changed
            )
            for name in self.backends
        }
        for name in self.backends:
            self.m_breaker.labels(name).set(CLOSED)

    def _breaker_changed(self, name: str, state: int) -> None:
        self.m_breaker.labels(name).set(state)
        label = {CLOSED: "closed", OPEN: "open", HALF_OPEN: "half-open"}[state]
        _log.warning("circuit breaker %s", label, extra={"backend": name, "breaker": label})

    def observe_upstream(self, backend: str, status: int | str, seconds: float) -> None:
        """Upstream latency by backend and status (children cached: ``labels()`` takes a
        lock and builds its key on every call)."""
        key = (backend, status)
        child = self._upstream_children.get(key)
        if child is None:
            child = self._upstream_children[key] = self.m_upstream.labels(backend, str(status))
        child.observe(seconds)

    def check_key(self, presented: str | None) -> str | None:
        """Key id (hash prefix) of a valid key, else ``None``. Constant time per stored key."""
        if not presented:
            return None
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        match = None
        # No early exit: the time taken does not depend on which key (if any) matched.
        for stored in self.key_hashes:
            if hmac.compare_digest(digest, stored):
                match = stored
        return match.hex()[:8] if match is not None else None

    async def take_token(self, key_id: str) -> tuple[bool, float]:
        if self.redis_bucket is not None:
            try:
                return await self.redis_bucket.take(key_id)
            except Exception as exc:
                self.m_rl_errors.inc()
                _log.warning("rate-limit store unavailable: %s", type(exc).__name__)
                return True, 0.0
        return self.local_bucket.take(key_id)

    def backend_for(self, path: str) -> str | None:
        for prefix, name in BACKEND_ROUTES:
            if path == prefix or path.startswith(prefix if prefix.endswith("/") else prefix + "/"):
                return name
            if prefix.endswith("/") and path == prefix[:-1]:
                return name
        return None

    async def proxy(self, request: Request, backend: str) -> Response:
        base = self.backends.get(backend)
        if base is None:
            raise ApiError(
                503,
                "backend_unavailable",
                f"backend {backend!r} is not running in this service set",
            )
        # Read the body before taking the breaker's probe slot: a client that disconnects
        # mid-body (ClientDisconnect) must not leave a half-open breaker probing forever.
        body = await request.body()
        breaker = self.breakers[backend]
        probe = breaker.state != CLOSED
        if not breaker.allow():
            wait = max(1, math.ceil(breaker.retry_after()))
            raise ApiError(
                503,
                "backend_unavailable",
                f"circuit open for {backend}: too many recent failures; retry in {wait} s",
                {"Retry-After": str(wait)},
            )
        try:
            upstream = await self._send(request, backend, breaker, body)
        finally:
            # success()/failure() settle the probe; anything else (cancellation, an
            # unexpected error) must still give it back, or the circuit stays open forever.
            if probe:
                breaker.release()
        return await self._respond(upstream, backend, breaker)

    async def _send(
        self, request: Request, backend: str, breaker: CircuitBreaker, body: bytes
    ) -> UpstreamResponse:
        pool = self.pools[backend]
        state = request.scope["state"]
        headers = [(k, v) for k, v in request.scope["headers"] if k not in _REQUEST_DROP]
        headers.append((b"x-request-id", state["request_id"].encode()))
        # Only the peer the gateway itself saw: no proxy in front of it is trusted.
        client = request.scope.get("client")
        headers.append((b"x-forwarded-for", (client[0] if client else "").encode()))
        target = request.scope["raw_path"].decode("latin-1")
        qs = request.scope.get("query_string", b"")
        if qs:
            target += "?" + qs.decode("latin-1")
        method = request.method
        attempt = 0
        while True:
            t0 = time.perf_counter()
            try:
                upstream = await pool.request(method, target, headers, body)
                break
            except UpstreamError as exc:
                if isinstance(exc, UpstreamProtocolError) and exc.stale:
                    # A reused idle connection the backend had just closed: the request was
                    # never processed. Resend at once on another connection, whatever the
                    # method; bounded, since every stale connection leaves the pool and a
                    # fresh one is never stale. Not a backend failure; uses no retry budget.
                    self.m_retries.labels(backend).inc()
                    continue
                never_sent = isinstance(exc, UpstreamConnectError) or (
                    isinstance(exc, UpstreamTimeoutError) and not exc.sent
                )
                retryable = never_sent or method in _IDEMPOTENT
                if retryable and attempt < self.retries:
                    attempt += 1
                    self.m_retries.labels(backend).inc()
                    await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
                    continue
                breaker.failure()
                self.observe_upstream(backend, "error", time.perf_counter() - t0)
                _log.warning(
                    "backend request failed",
                    extra={
                        "backend": backend,
                        "error": type(exc).__name__,
                        "request_id": state["request_id"],
                    },
                )
                if never_sent:
                    raise ApiError(
                        503,
                        "backend_unavailable",
                        f"{backend} is unreachable",
                        {"Retry-After": "1"},
                    ) from None
                if isinstance(exc, UpstreamTimeoutError):
                    raise ApiError(
                        504, "backend_timeout", f"{backend} did not answer in time"
                    ) from None
                raise ApiError(502, "bad_gateway", f"{backend} broke the connection") from None
        status = upstream.status
        self.observe_upstream(backend, status, time.perf_counter() - t0)
        if status >= 500:
            breaker.failure()
        else:
            breaker.success()
        return upstream

    async def _respond(
        self, upstream: UpstreamResponse, backend: str, breaker: CircuitBreaker
    ) -> Response:
        status = upstream.status
        out_headers = [(k, v) for k, v in upstream.headers if k not in _RESPONSE_DROP]
        ctype = upstream.header(b"content-type") or b""
        if ctype.startswith(_STREAM_TYPES):
            response: Response = StreamingResponse(
                _relay(upstream, backend),
                status_code=status,
                background=BackgroundTask(upstream.aclose),
            )
            response.raw_headers = out_headers
            return response
        try:
            content = await upstream.read()
        except UpstreamError:
            breaker.failure()
            raise ApiError(502, "bad_gateway", f"{backend} broke the connection") from None
        response = Response(content, status_code=status)
        response.raw_headers = [*out_headers, (b"content-length", str(len(content)).encode())]
        return response


async def _relay(upstream: UpstreamResponse, backend: str) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream.stream():
            yield chunk
    except UpstreamError as exc:
        # Headers are gone already; the client sees a truncated stream, as from the backend.
        _log.warning("backend stream broke", extra={"backend": backend, "error": str(exc)})


def create_app(settings: Mapping[str, Any]) -> Any:
    """The gateway's Starlette app (settings in the module docstring and :data:`DEFAULTS`)."""
    cfg = {**DEFAULTS, **dict(settings)}
    holder: dict[str, _Gateway] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        gw = holder["gw"]
        gw.pools = {
            name: UpstreamPool(url, max_connections=gw.max_connections, **gw.timeouts)
            for name, url in gw.backends.items()
        }
        _log.info("gateway started", extra={"backends": gw.backends})
        try:
            yield
        finally:
            for pool in gw.pools.values():
                await pool.aclose()
            if gw.redis_bucket is not None:
                await gw.redis_bucket.aclose()

    async def proxied(request: Request) -> Response:
        gw = holder["gw"]
        # scope["path"], not request.url.path: that builds a whole URL object per request.
        path = request.scope["path"]
        backend = gw.backend_for(path)
        if backend is None:  # pragma: no cover - routes only match proxied prefixes
            raise ApiError(404, "not_found", f"no route for {request.method} {path}")
        response = await gw.proxy(request, backend)
        if gw.access_log:
            _log.info(
                "request",
                extra={
                    "request_id": request.scope["state"]["request_id"],
                    "method": request.method,
                    "path": path,
                    "status": response.status_code,
                    "key_id": request.scope["state"].get("key_id"),
                    "backend": backend,
                },
            )
        return response

    async def ready(request: Request) -> Response:
        gw = holder["gw"]

        async def check(name: str, base: str) -> tuple[str, str]:
            try:
                async with asyncio.timeout(gw.ready_timeout):
                    r = await gw.pools[name].request("GET", "/health")
                    await r.read()
                return name, "ok" if r.status == 200 else f"status {r.status}"
            except (UpstreamError, TimeoutError) as exc:
                return name, f"unreachable ({type(exc).__name__})"

        results = dict(await asyncio.gather(*(check(n, u) for n, u in gw.backends.items())))
        ok = all(v == "ok" for v in results.values())
        return JSONResponse(
            {"status": "ready" if ok else "not_ready", "backends": results},
            status_code=200 if ok else 503,
        )

    async def openapi(request: Request) -> Response:
        return JSONResponse(OPENAPI)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    routes = [
        Route("/ready", ready, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/v1/chat", proxied, methods=["POST"]),
        Route("/v1/graph/{rest:path}", proxied, methods=methods),
        Route("/v1/vectors/{rest:path}", proxied, methods=methods),
        Route("/v1/agents", proxied, methods=methods),
        Route("/v1/agents/{rest:path}", proxied, methods=methods),
        Route("/v1/conversations", proxied, methods=methods),
        Route("/v1/conversations/{rest:path}", proxied, methods=methods),
    ]
    metrics = ServiceMetrics(cfg.get("name", "gateway"))
    gw = _Gateway(cfg, metrics.registry)
    holder["gw"] = gw
    app = build_app(
        cfg.get("name", "gateway"),
        routes,
        cfg,
        lifespan=lifespan,
        middleware=[Middleware(_AuthRateLimitMiddleware, gateway=gw)],
        metrics=metrics,
    )
    app.state.gateway = gw
    return app
