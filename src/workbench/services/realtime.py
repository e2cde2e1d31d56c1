"""The realtime hub: authenticated WebSocket channels with fan-out, heartbeats and back-pressure.

The plan's *realtime-hub* promises "< 10 ms WebSocket message latency" and the migration
"1,000 -> 10,000+ concurrent connections"; this is the Python reference it is measured
against (:func:`measure_ws_latency`, :func:`hold_connections`).

Protocol
--------
Connect to ``ws://HOST:PORT/ws`` (the URL ``serve.json`` holds under ``"realtime"``). Every
frame is a JSON text message.

**Authentication** uses the gateway's API key (the launcher hands both services the same
``api_key_hashes``), in one of two ways:

* at connect, as an ``Authorization: Bearer KEY`` header (preferred; this module's own
  clients use it) or the query parameter ``?api_key=KEY`` (accepted, but URLs end up in
  logs: the service's own log redacts it, proxies in between may not). A wrong key is
  refused during the handshake: HTTP 403, no WebSocket is opened.
* or as the first message, ``{"action": "auth", "api_key": "KEY"}``, within
  ``auth_timeout_s`` (5 s) of connecting — for clients that cannot put secrets in URLs
  (URLs end up in logs). A wrong, missing or late key closes the socket with code ``4401``
  after an ``{"type": "error", "error": "unauthorized"}`` message. A frame over
  ``max_auth_bytes`` (4 KiB) before authentication is refused unread with close code
  ``1009`` (message too big) after an ``{"type": "error", "error": "too_large"}`` message:
  an unauthenticated peer cannot make the hub parse or hold more than that.

Once authenticated the hub sends ``{"type": "welcome", "client_id", "heartbeat_s",
"queue_size"}``. Client actions:

``{"action": "subscribe", "channel": C}`` / ``"unsubscribe"``
    Answered ``{"type": "subscribed"|"unsubscribed", "channel": C}``.
``{"action": "publish", "channel": C, "data": ANY, "ack": false}``
    Every subscriber of ``C`` (the publisher too, if subscribed) receives
    ``{"type": "message", "channel": C, "data": ANY, "ts": T}`` where ``T`` is the hub's
    wall-clock receipt time (Unix seconds, float). With ``"ack": true`` the publisher gets
    ``{"type": "published", "channel": C, "receivers": N}`` (``N`` local subscribers;
    ``null`` with the Redis backend, where other hubs deliver too).
``{"action": "ping"}``
    Answered ``{"type": "pong", "ts": T}`` (round-trip measurement).
``{"action": "pong"}``
    Optional answer to a heartbeat; ignored.

Every ``heartbeat_s`` (15 s) each client gets ``{"type": "heartbeat", "ts": T}``; the
server also sends WebSocket pings (uvicorn's keep-alive) to detect dead peers. Bad input
(not JSON, unknown action, bad channel name, message over ``max_message_bytes``) is answered
``{"type": "error", "error": CODE, "detail": ...}`` and the connection stays open. A frame
over ``max_frame_bytes`` (1 MiB; uvicorn's ``ws_max_size``, see :func:`uvicorn_options`) is
never buffered whole: the server closes the connection with ``1009`` as soon as it exceeds it.

Ordering, back-pressure, slow consumers
---------------------------------------
Each client has a bounded queue (``queue_size`` messages, default 1000) drained by its own
writer task. A publish serialises the message once and puts it into every subscriber's queue
without waiting, so subscribers receive every channel's messages in publish order and a
publisher never waits for a slow reader. A client whose queue is full is a *slow consumer*:
it is dropped (closed with ``4008``; counted in ``workbench_realtime_dropped_total``) so it
cannot hold memory or delay anyone else.

Several hubs: the Redis backend
-------------------------------
With ``redis_url`` set, a publish goes to Redis (``PUBLISH <prefix><channel>``) and every
hub instance, subscribed to ``<prefix>*``, delivers it to its local subscribers; Redis's
single order of messages is then every subscriber's order. If Redis goes away the hub keeps
its WebSocket clients, answers publishes with ``backend_unavailable``, reports ``/ready``
503, and reconnects (back-off up to 2 s); messages published while Redis is away are lost
(Redis pub/sub is at-most-once).

Routes: ``WS /ws``, ``GET /v1/stats`` (connections, peak, channels, published, delivered,
dropped), ``GET /ready`` (Redis reachable, when configured), plus the common ``/health``,
``/metrics``, ``/v1/memory``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Gauge
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from workbench.errors import require
from workbench.services.common import ServiceMetrics, build_app, run_in_thread

__all__ = [
    "CONNECTIONS_CASE",
    "DEFAULTS",
    "WEBSOCKET_LATENCY_CASE",
    "WS_PATH",
    "Hub",
    "benchmark_hub",
    "create_app",
    "hold_connections",
    "hub_frame",
    "measure_ws_latency",
    "record_hub",
    "uvicorn_options",
]

WS_PATH = "/ws"
DEFAULTS: dict[str, Any] = {
    "api_key_hashes": [],
    "queue_size": 1000,
    "heartbeat_s": 15.0,
    "auth_timeout_s": 5.0,
    "max_message_bytes": 64 * 1024,
    "max_auth_bytes": 4096,
    "max_frame_bytes": 1 << 20,
    "max_subscriptions": 100,
    "redis_url": None,
    "redis_prefix": "wb:rt:",
}
#: Close codes (4000-4999 are the application's own).
CLOSE_UNAUTHORIZED = 4401
CLOSE_SLOW_CONSUMER = 4008
#: RFC 6455 "message too big": an oversized frame before authentication.
CLOSE_TOO_LARGE = 1009
_CHANNEL_RE = re.compile(r"^[A-Za-z0-9_.:/\-]{1,200}$")
_log = logging.getLogger("workbench.services.realtime")


def _dumps(obj: Any) -> str:
    # allow_nan=False: NaN/Infinity (which Python's parser accepts) are not JSON.
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


class _Client:
    """One authenticated connection: its socket, bounded queue and subscriptions."""

    __slots__ = ("done", "dropped", "id", "queue", "subs", "ws")

    def __init__(self, client_id: int, ws: WebSocket, queue_size: int) -> None:
        self.id = client_id
        self.ws = ws
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self.subs: set[str] = set()
        self.dropped = False
        self.done = asyncio.Event()


class _RedisBus:
    """Publishes to Redis and relays every ``<prefix>*`` message to the local hub."""

    def __init__(self, url: str, prefix: str, deliver: Callable[[str, str], int]) -> None:
        self.aioredis = require("redis.asyncio", "services", "the realtime hub's Redis backend")
        retry_mod = require("redis.asyncio.retry", "services", "the realtime hub's Redis backend")
        backoff = require("redis.backoff", "services", "the realtime hub's Redis backend")
        self.errors = require("redis.exceptions", "services", "the realtime hub's Redis backend")
        self.url = url
        self.prefix = prefix
        self.deliver = deliver
        self.connected = asyncio.Event()
        self.reconnects = 0
        # Our own reconnect loop is in charge; redis-py's retries would only hide outages.
        self.no_retry = retry_mod.Retry(backoff.NoBackoff(), 0)
        self.pub = self.aioredis.Redis.from_url(
            url, socket_timeout=2.0, socket_connect_timeout=2.0, retry=self.no_retry
        )
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="realtime-redis")

    async def wait_connected(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.connected.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def _run(self) -> None:
        delay = 0.1
        n = len(self.prefix)
        while True:
            sub = self.aioredis.Redis.from_url(
                self.url, socket_connect_timeout=2.0, retry=self.no_retry
            )
            pubsub = sub.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(self.prefix + "*")
                self.connected.set()
                _log.info("redis pub/sub connected", extra={"reconnects": self.reconnects})
                delay = 0.1
                async for msg in pubsub.listen():
                    if msg.get("type") == "pmessage":
                        channel = msg["channel"].decode("utf-8", "replace")[n:]
                        self.deliver(channel, msg["data"].decode("utf-8", "replace"))
                raise self.errors.ConnectionError("pub/sub stream ended")
            except asyncio.CancelledError:
                raise
            except (self.errors.RedisError, OSError) as exc:
                if self.connected.is_set():
                    _log.warning("redis pub/sub lost: %s; reconnecting", type(exc).__name__)
                self.connected.clear()
                self.reconnects += 1
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await sub.aclose()
            await asyncio.sleep(delay)
            delay = min(2.0, delay * 2)

    async def publish(self, channel: str, text: str) -> None:
        try:
            await self.pub.publish(self.prefix + channel, text)
        except self.errors.ConnectionError:
            # A pooled connection that died with a Redis restart fails on first use; the
            # command never reached Redis, so one retry on a fresh connection is safe.
            await self.pub.publish(self.prefix + channel, text)

    async def aclose(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.pub.aclose()


class Hub:
    """Channels, clients and fan-out of one hub process (see the module docstring).

    Parameters
    ----------
    cfg : mapping
        Settings (:data:`DEFAULTS` keys).
    metrics : ServiceMetrics, optional
        Where the hub's Prometheus collectors go.
    """

    def __init__(self, cfg: Mapping[str, Any], metrics: ServiceMetrics | None = None) -> None:
        hashes = cfg.get("api_key_hashes") or []
        self.key_hashes = [
            bytes.fromhex(h) for h in ([hashes] if isinstance(hashes, str) else hashes)
        ]
        if not self.key_hashes:
            _log.warning("no API keys configured: every connection will be refused")
        self.queue_size = int(cfg["queue_size"])
        self.heartbeat_s = float(cfg["heartbeat_s"])
        self.auth_timeout_s = float(cfg["auth_timeout_s"])
        self.max_message_bytes = int(cfg["max_message_bytes"])
        self.max_auth_bytes = int(cfg["max_auth_bytes"])
        self.max_subscriptions = int(cfg["max_subscriptions"])
        self.channels: dict[str, set[_Client]] = {}
        self.clients: set[_Client] = set()
        self._ids = itertools.count(1)
        self.peak = 0
        self.published = 0
        self.delivered = 0
        self.dropped = 0
        self.bus: _RedisBus | None = None
        if cfg.get("redis_url"):
            self.bus = _RedisBus(str(cfg["redis_url"]), str(cfg["redis_prefix"]), self.deliver)
        reg = (metrics or ServiceMetrics("realtime")).registry
        self.m_conn = Gauge(
            "workbench_realtime_connections", "Authenticated connections.", registry=reg
        )
        self.m_conn.set_function(lambda: len(self.clients))
        self.m_published = Counter(
            "workbench_realtime_published", "Messages accepted for publishing.", registry=reg
        )
        self.m_delivered = Counter(
            "workbench_realtime_delivered", "Messages queued to subscribers.", registry=reg
        )
        self.m_dropped = Counter(
            "workbench_realtime_dropped", "Slow consumers disconnected.", registry=reg
        )
        self.m_auth = Counter(
            "workbench_realtime_auth_failures", "Refused connections.", registry=reg
        )

    # ---------------------------------------------------------------- auth

    def check_key(self, presented: str | None) -> bool:
        """True when ``presented`` hashes to a configured key (constant time per key)."""
        if not presented:
            return False
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        ok = False
        for stored in self.key_hashes:  # no early exit: timing independent of the match
            ok |= hmac.compare_digest(digest, stored)
        return ok

    # ---------------------------------------------------------------- fan-out

    def deliver(self, channel: str, text: str) -> int:
        """Queue an encoded message to every local subscriber of ``channel``; never waits."""
        subs = self.channels.get(channel)
        if not subs:
            return 0
        n = 0
        for client in list(subs):
            try:
                client.queue.put_nowait(text)
                n += 1
            except asyncio.QueueFull:
                self.drop(client, "slow consumer: queue full")
        self.delivered += n
        self.m_delivered.inc(n)
        return n

    async def publish(self, channel: str, data: Any) -> int | None:
        """Publish ``data`` on ``channel``; local receivers, or ``None`` via Redis."""
        text = _dumps({"type": "message", "channel": channel, "data": data, "ts": time.time()})
        self.published += 1
        self.m_published.inc()
        if self.bus is not None:
            await self.bus.publish(channel, text)
            return None
        return self.deliver(channel, text)

    def drop(self, client: _Client, reason: str) -> None:
        if client.dropped:
            return
        client.dropped = True
        self.dropped += 1
        self.m_dropped.inc()
        self._forget(client)
        _log.warning("dropping client %d: %s", client.id, reason)
        client.done.set()

    def _forget(self, client: _Client) -> None:
        for ch in client.subs:
            subs = self.channels.get(ch)
            if subs is not None:
                subs.discard(client)
                if not subs:
                    del self.channels[ch]
        client.subs.clear()
        self.clients.discard(client)

    async def heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            text = _dumps({"type": "heartbeat", "ts": time.time()})
            for client in list(self.clients):
                try:
                    client.queue.put_nowait(text)
                except asyncio.QueueFull:
                    self.drop(client, "slow consumer: heartbeat did not fit")

    def stats(self) -> dict[str, Any]:
        return {
            "connections": len(self.clients),
            "peak_connections": self.peak,
            "channels": len(self.channels),
            "published": self.published,
            "delivered": self.delivered,
            "dropped": self.dropped,
            "backend": "redis" if self.bus is not None else "memory",
            "redis_connected": self.bus.connected.is_set() if self.bus is not None else None,
        }

    # ---------------------------------------------------------------- connection

    async def serve(self, ws: WebSocket) -> None:
        """Handle one WebSocket from handshake to close."""
        presented = ws.query_params.get("api_key")
        auth = ws.headers.get("authorization", "")
        if presented is None and auth.lower().startswith("bearer "):
            presented = auth[7:].strip()
        if presented is not None and not self.check_key(presented):
            self.m_auth.inc()
            await ws.close(code=CLOSE_UNAUTHORIZED)  # before accept: HTTP 403
            return
        await ws.accept()
        if presented is None and not await self._first_message_auth(ws):
            return
        client = _Client(next(self._ids), ws, self.queue_size)
        self.clients.add(client)
        self.peak = max(self.peak, len(self.clients))
        client.queue.put_nowait(
            _dumps({"type": "welcome", "client_id": client.id, "heartbeat_s": self.heartbeat_s,
                    "queue_size": self.queue_size})
        )  # fmt: skip
        writer = asyncio.create_task(self._writer(client))
        reader = asyncio.create_task(self._reader(client))
        try:
            await client.done.wait()
        finally:
            reader.cancel()
            writer.cancel()
            for task in (reader, writer):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._forget(client)
            if client.dropped:
                # The peer may not be reading at all: do not wait long on its socket.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        ws.close(code=CLOSE_SLOW_CONSUMER, reason="slow consumer"), 1.0
                    )

    async def _first_message_auth(self, ws: WebSocket) -> bool:
        try:
            msg = await asyncio.wait_for(ws.receive(), self.auth_timeout_s)
        except TimeoutError:
            await self._refuse(ws, f"no auth message within {self.auth_timeout_s:g} s")
            return False
        if msg["type"] == "websocket.disconnect":
            return False
        raw = msg.get("text") or msg.get("bytes") or b""
        size = len(raw)
        if isinstance(raw, str) and size <= self.max_auth_bytes:
            size = len(raw.encode("utf-8", "surrogatepass"))  # bytes on the wire, not chars
        if size > self.max_auth_bytes:
            self.m_auth.inc()
            detail = f"auth message of {size} bytes exceeds {self.max_auth_bytes}"
            with contextlib.suppress(Exception):
                await ws.send_text(
                    _dumps({"type": "error", "error": "too_large", "detail": detail})
                )
                await ws.close(code=CLOSE_TOO_LARGE, reason="auth message too large")
            return False
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            body = None
        if not (isinstance(body, dict) and body.get("action") == "auth"):
            await self._refuse(ws, 'first message must be {"action": "auth", "api_key": KEY}')
            return False
        key = body.get("api_key")
        if not (isinstance(key, str) and self.check_key(key)):
            await self._refuse(ws, "invalid API key")
            return False
        return True

    async def _refuse(self, ws: WebSocket, detail: str) -> None:
        self.m_auth.inc()
        with contextlib.suppress(Exception):
            await ws.send_text(_dumps({"type": "error", "error": "unauthorized", "detail": detail}))
            await ws.close(code=CLOSE_UNAUTHORIZED, reason="unauthorized")

    async def _writer(self, client: _Client) -> None:
        try:
            while True:
                text = await client.queue.get()
                await client.ws.send_text(text)
        except asyncio.CancelledError:
            raise
        except Exception:
            client.done.set()  # peer gone: the reader sees it too, end the connection

    def _reply(self, client: _Client, obj: Mapping[str, Any]) -> None:
        try:
            client.queue.put_nowait(_dumps(obj))
        except asyncio.QueueFull:
            self.drop(client, "slow consumer: reply did not fit")

    def _error(self, client: _Client, code: str, detail: str) -> None:
        self._reply(client, {"type": "error", "error": code, "detail": detail})

    async def _reader(self, client: _Client) -> None:
        try:
            while True:
                msg = await client.ws.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                raw = msg.get("text")
                if raw is None:
                    raw_bytes = msg.get("bytes") or b""
                    raw = raw_bytes.decode("utf-8", "replace")
                await self._handle(client, raw)
                # Frames already buffered would otherwise be handled back to back without
                # yielding, and one publisher's burst could overflow every subscriber's
                # queue before their writers ran once: let the writers drain in between.
                await asyncio.sleep(0)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            client.done.set()

    async def _handle(self, client: _Client, raw: str) -> None:
        if len(raw) > self.max_message_bytes:
            self._error(
                client, "too_large", f"message of {len(raw)} bytes exceeds {self.max_message_bytes}"
            )
            return
        try:
            body = json.loads(raw)
        except ValueError as exc:
            self._error(client, "malformed_json", f"message is not valid JSON: {exc}")
            return
        except RecursionError:
            self._error(client, "malformed_json", "message is not valid JSON: nested too deeply")
            return
        if not isinstance(body, dict):
            self._error(client, "invalid_message", "message must be a JSON object with 'action'")
            return
        action = body.get("action")
        if action in ("subscribe", "unsubscribe", "publish"):
            channel = body.get("channel")
            if not isinstance(channel, str) or not _CHANNEL_RE.match(channel):
                self._error(
                    client,
                    "invalid_channel",
                    "'channel' must be 1..200 characters of A-Z a-z 0-9 _ . : / -",
                )
                return
            if action == "subscribe":
                if channel not in client.subs and len(client.subs) >= self.max_subscriptions:
                    self._error(
                        client, "too_many_subscriptions", f"at most {self.max_subscriptions}"
                    )
                    return
                client.subs.add(channel)
                self.channels.setdefault(channel, set()).add(client)
                self._reply(client, {"type": "subscribed", "channel": channel})
            elif action == "unsubscribe":
                client.subs.discard(channel)
                subs = self.channels.get(channel)
                if subs is not None:
                    subs.discard(client)
                    if not subs:
                        del self.channels[channel]
                self._reply(client, {"type": "unsubscribed", "channel": channel})
            else:
                if "data" not in body:
                    self._error(client, "invalid_message", "publish needs 'data'")
                    return
                try:
                    n = await self.publish(channel, body["data"])
                except ValueError:
                    self._error(client, "invalid_message", "'data' must not hold NaN or Infinity")
                    return
                except Exception as exc:  # Redis down: the publisher must know
                    self._error(
                        client, "backend_unavailable", f"publish failed: {type(exc).__name__}"
                    )
                    return
                if body.get("ack") is True:
                    self._reply(client, {"type": "published", "channel": channel, "receivers": n})
        elif action == "ping":
            self._reply(client, {"type": "pong", "ts": time.time()})
        elif action in ("pong", "auth"):
            return
        else:
            self._error(
                client,
                "unknown_action",
                f"unknown action {action!r}; use subscribe, unsubscribe, publish, ping",
            )


def uvicorn_options(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Server options :mod:`workbench.services.run` passes to uvicorn for this service.

    ``ws_max_size`` bounds every frame at the protocol level (uvicorn's default is 16 MiB),
    before and after authentication; above it the connection is closed with ``1009``.
    """
    cfg = {**DEFAULTS, **dict(settings)}
    return {"ws_max_size": int(cfg["max_frame_bytes"])}


def create_app(settings: Mapping[str, Any]) -> Any:
    """The hub's Starlette app (settings in the module docstring and :data:`DEFAULTS`)."""
    cfg = {**DEFAULTS, **dict(settings)}
    metrics = ServiceMetrics(cfg.get("name", "realtime"))
    hub = Hub(cfg, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        beat = asyncio.create_task(hub.heartbeats(), name="realtime-heartbeats")
        if hub.bus is not None:
            hub.bus.start()
            if not await hub.bus.wait_connected(10.0):
                _log.warning("redis not reachable at start; the hub keeps retrying")
        try:
            yield
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            if hub.bus is not None:
                await hub.bus.aclose()

    async def endpoint(ws: WebSocket) -> None:
        await hub.serve(ws)

    async def stats(request: Request) -> Response:
        return JSONResponse(hub.stats())

    async def ready(request: Request) -> Response:
        ok = hub.bus is None or hub.bus.connected.is_set()
        return JSONResponse(
            {"status": "ready" if ok else "not_ready", **hub.stats()},
            status_code=200 if ok else 503,
        )

    routes = [
        WebSocketRoute(WS_PATH, endpoint),
        Route("/v1/stats", stats, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
    ]
    app = build_app(cfg.get("name", "realtime"), routes, cfg, lifespan=lifespan, metrics=metrics)
    app.state.hub = hub
    return app


# --------------------------------------------------------------------------- measurement


def _auth_headers(api_key: str) -> dict[str, str]:
    """The key as a bearer header: never in the URL, which servers and proxies log."""
    return {"Authorization": f"Bearer {api_key}"}


async def _expect(ws: Any, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    """Read until a message of ``kind`` arrives (heartbeats and others skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        raw = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
        msg = json.loads(raw)
        if msg.get("type") == kind:
            return msg
        if msg.get("type") == "error":
            raise RuntimeError(f"hub error: {msg}")


def measure_ws_latency(
    url: str,
    api_key: str,
    *,
    subscribers: int = 4,
    messages: int = 200,
    rate_per_s: float = 200.0,
    payload_bytes: int = 64,
    channel: str | None = None,
    timeout_s: float = 10.0,
) -> dict[str, Any]:
    """Publish-to-receive latency through a hub: one publisher, ``subscribers`` receivers.

    Each message's ``data`` carries the publisher's ``time.time_ns()`` just before sending;
    each subscriber subtracts it from its own clock on receipt (same machine, same clock),
    so a sample is client -> hub -> (Redis ->) hub -> client, as a user would see it.
    Messages are paced at ``rate_per_s`` (open loop, so a slow hub shows up as latency).

    Returns
    -------
    dict
        ``samples`` (seconds, every subscriber's every message), ``expected``,
        ``received``, ``lost``, ``out_of_order`` (per subscriber, against publish order),
        ``subscribers``, ``messages``.
    """
    from websockets.asyncio.client import connect

    if subscribers < 1 or messages < 1 or rate_per_s <= 0:
        raise ValueError("subscribers and messages must be >= 1 and rate_per_s > 0")
    chan = channel or f"bench.{time.time_ns():x}"
    pad = "x" * max(0, payload_bytes)

    async def main() -> dict[str, Any]:
        auth = _auth_headers(api_key)
        subs = [
            await connect(url, additional_headers=auth, max_queue=None, open_timeout=timeout_s)
            for _ in range(subscribers)
        ]
        samples: list[float] = []
        counts = [0] * subscribers
        disorder = [0] * subscribers
        try:
            for ws in subs:
                await _expect(ws, "welcome")
                await ws.send(_dumps({"action": "subscribe", "channel": chan}))
                await _expect(ws, "subscribed")

            async def receive(k: int, ws: Any) -> None:
                last = -1
                while counts[k] < messages:
                    raw = await ws.recv()
                    now = time.time_ns()
                    msg = json.loads(raw)
                    if msg.get("type") != "message":
                        continue
                    data = msg["data"]
                    samples.append((now - data["sent_ns"]) / 1e9)
                    if data["i"] < last:
                        disorder[k] += 1
                    last = data["i"]
                    counts[k] += 1

            tasks = [asyncio.create_task(receive(k, ws)) for k, ws in enumerate(subs)]
            async with connect(url, additional_headers=auth, open_timeout=timeout_s) as pub:
                await _expect(pub, "welcome")
                t0 = time.perf_counter()
                for i in range(messages):
                    delay = t0 + i / rate_per_s - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    data = {"i": i, "sent_ns": time.time_ns(), "pad": pad}
                    await pub.send(_dumps({"action": "publish", "channel": chan, "data": data}))
                _, pending = await asyncio.wait(tasks, timeout=timeout_s)
                for t in pending:
                    t.cancel()
        finally:
            for ws in subs:
                await ws.close()
        received = sum(counts)
        return {
            "samples": samples,
            "expected": subscribers * messages,
            "received": received,
            "lost": subscribers * messages - received,
            "out_of_order": sum(disorder),
            "subscribers": subscribers,
            "messages": messages,
            "rate_per_s": rate_per_s,
        }

    return run_in_thread(main, name="wb-measure-ws")


def hold_connections(
    url: str,
    api_key: str,
    n: int,
    *,
    concurrency: int = 50,
    open_timeout_s: float = 10.0,
    channel: str | None = None,
) -> dict[str, Any]:
    """Open ``n`` authenticated, subscribed connections at once and check they all work.

    Connections are opened ``concurrency`` at a time; once all are open, one message is
    published and each connection must receive it (a held connection that no longer
    delivers does not count).

    Returns
    -------
    dict
        ``attempted``, ``opened``, ``received`` (connections that got the probe message,
        the figure to report as *connections held*), ``failed`` (errors by type),
        ``open_s`` (time to open all), ``probe_latency_s`` (slowest probe delivery).
    """
    from websockets.asyncio.client import connect

    if n < 1 or concurrency < 1:
        raise ValueError("n and concurrency must be >= 1")
    chan = channel or f"hold.{time.time_ns():x}"

    async def main() -> dict[str, Any]:
        auth = _auth_headers(api_key)
        sem = asyncio.Semaphore(concurrency)
        failed: dict[str, int] = {}
        conns: list[Any] = []

        async def open_one() -> None:
            async with sem:
                try:
                    ws = await connect(
                        url, additional_headers=auth, open_timeout=open_timeout_s, max_queue=4
                    )
                    await _expect(ws, "welcome", open_timeout_s)
                    await ws.send(_dumps({"action": "subscribe", "channel": chan}))
                    await _expect(ws, "subscribed", open_timeout_s)
                    conns.append(ws)
                except Exception as exc:
                    failed[type(exc).__name__] = failed.get(type(exc).__name__, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(open_one() for _ in range(n)))
        open_s = time.perf_counter() - t0
        got = 0
        slowest = 0.0
        try:
            if conns:
                t1 = time.perf_counter()
                await conns[0].send(
                    _dumps({"action": "publish", "channel": chan, "data": {"probe": True}})
                )

                async def probe(ws: Any) -> bool:
                    try:
                        await _expect(ws, "message", open_timeout_s)
                        return True
                    except Exception:
                        return False

                results = await asyncio.gather(*(probe(ws) for ws in conns))
                slowest = time.perf_counter() - t1
                got = sum(results)
        finally:
            await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
        return {
            "attempted": n,
            "opened": len(conns),
            "received": got,
            "failed": failed,
            "open_s": open_s,
            "probe_latency_s": slowest,
        }

    return run_in_thread(main, name="wb-measure-ws")


def _raise_fd_limit(needed: int) -> int:
    """Raise this process's soft open-files limit towards ``needed`` (up to the hard limit).

    Returns the soft limit now in force; a lower value than ``needed`` means connections
    beyond it will fail (and be reported as not held).
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return needed
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return int(soft)


def benchmark_hub(
    backends: Sequence[str] = ("memory", "redis"),
    *,
    subscribers: int = 4,
    messages: int = 200,
    rate_per_s: float = 200.0,
    payload_bytes: int = 64,
    connections: int = 200,
    work_dir: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """Latency and connections held, per hub backend, each in a fresh hub process.

    For each backend the hub is started as a real process (launcher, free port; with a
    throwaway Redis from :mod:`workbench.services.dbservers` for ``"redis"``), then
    :func:`measure_ws_latency` and :func:`hold_connections` run against it.

    Returns
    -------
    list of dict
        One per backend: ``implementation`` (``python-realtime``, ``python-realtime+redis``),
        ``backend``, ``status`` (``"measured"`` or ``"not measured here: <reason>"``), and
        when measured ``latency`` (the :func:`measure_ws_latency` dict) and ``held`` (the
        :func:`hold_connections` dict).
    """
    import secrets
    import tempfile

    from workbench.errors import ServiceError
    from workbench.services.dbservers import start_redis
    from workbench.services.launcher import running_services

    rows: list[dict[str, Any]] = []
    key = "wb_bench_" + secrets.token_urlsafe(16)
    # Both ends hold one descriptor per connection; the hub process inherits this limit.
    _raise_fd_limit(connections + subscribers + 256)
    with contextlib.ExitStack() as stack:
        root = (
            Path(work_dir) if work_dir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        )
        for backend in backends:
            if backend not in ("memory", "redis"):
                raise ValueError(f"unknown hub backend {backend!r}; use 'memory' or 'redis'")
            row: dict[str, Any] = {
                "implementation": "python-realtime" + ("+redis" if backend == "redis" else ""),
                "backend": backend,
            }
            rows.append(row)
            settings: dict[str, Any] = {}
            if backend == "redis":
                try:
                    redis = start_redis()
                except ServiceError as exc:
                    row["status"] = f"not measured here: {exc}"
                    continue
                stack.callback(redis.stop)
                settings["redis_url"] = redis.url
            with running_services(
                ["realtime"], ports="free", api_key=key, state_dir=root / backend,
                settings={"realtime": settings}, write_state=False,
            ) as svc:  # fmt: skip
                url = svc.urls["realtime"]
                row["latency"] = measure_ws_latency(
                    url, key, subscribers=subscribers, messages=messages,
                    rate_per_s=rate_per_s, payload_bytes=payload_bytes,
                )  # fmt: skip
                row["held"] = hold_connections(url, key, connections)
            row["status"] = "measured"
    return rows


#: Result-store cases of the plan's realtime-hub target and Table 3's connections row.
WEBSOCKET_LATENCY_CASE = "realtime/websocket_latency"
CONNECTIONS_CASE = "throughput/concurrent_connections"


def _pct(xs: Sequence[float], q: float) -> float:
    s = sorted(xs)
    rank = max(1, -(-len(s) * q // 100))
    return s[int(rank) - 1]


def hub_frame(rows: Sequence[Mapping[str, Any]]) -> Any:
    """One line per hub backend from :func:`benchmark_hub`: latency percentiles in ms,
    messages lost / out of order, connections attempted and held."""
    import pandas as pd

    out = []
    for r in rows:
        line: dict[str, Any] = {"implementation": r["implementation"], "status": r["status"]}
        if r["status"] == "measured":
            lat, held = r["latency"], r["held"]
            xs = lat["samples"]
            if xs:
                line.update({f"p{q}_ms": _pct(xs, q) * 1e3 for q in (50, 95, 99)})
            line.update(
                received=lat["received"],
                lost=lat["lost"],
                out_of_order=lat["out_of_order"],
                connections_attempted=held["attempted"],
                connections_held=held["received"],
            )
        out.append(line)
    return pd.DataFrame(out)


def record_hub(
    recorder: Any, rows: Sequence[Mapping[str, Any]], params: Mapping[str, Any] | None = None
) -> int:
    """Record latency p50/p95/p99 (s) under :data:`WEBSOCKET_LATENCY_CASE` and
    ``connections_held`` under :data:`CONNECTIONS_CASE` for each measured backend."""
    written = 0
    for r in rows:
        if r["status"] != "measured":
            continue
        p = {**dict(params or {}), "backend": r["backend"]}
        xs = r["latency"]["samples"]
        for q in (50, 95, 99) if xs else ():
            recorder.record(
                WEBSOCKET_LATENCY_CASE, r["implementation"], f"latency_p{q}", _pct(xs, q), "s",
                n=len(xs), min=min(xs), median=_pct(xs, 50), max=max(xs),
                params={**p, "lost": r["latency"]["lost"]}, flush=False,
            )  # fmt: skip
            written += 1
        held = r["held"]
        recorder.record(
            CONNECTIONS_CASE, r["implementation"], "connections_held", float(held["received"]),
            "connections", params={**p, "attempted": held["attempted"]}, flush=False,
        )  # fmt: skip
        written += 1
    recorder.flush()
    return written
