"""The realtime hub as a real process (uvicorn, real sockets), with and without Redis."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from workbench.errors import ServiceError
from workbench.services import realtime
from workbench.services.dbservers import RedisServer, start_redis
from workbench.services.launcher import ServiceSet, free_port, hash_api_key, running_services

pytestmark = pytest.mark.services
KEY = "wb_test_realtime_key"


def _start_or_skip(start, what: str):
    try:
        return start()
    except ServiceError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"{what} cannot be started here: {exc}")


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceSet]:
    """One in-memory hub with a small queue and fast heartbeats."""
    with running_services(
        ["realtime"],
        ports="free",
        api_key=KEY,
        state_dir=tmp_path_factory.mktemp("rt"),
        settings={"realtime": {"queue_size": 16, "heartbeat_s": 0.3}},
    ) as svc:
        yield svc


def _url(svc: ServiceSet, key: str | None = KEY) -> str:
    url = svc.urls["realtime"]
    return url if key is None else f"{url}?api_key={key}"


async def _next(ws, kind: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
        if msg["type"] == kind:
            return msg


async def _subscriber(url: str, channel: str):
    ws = await connect(url, max_queue=None)
    await _next(ws, "welcome")
    await ws.send(json.dumps({"action": "subscribe", "channel": channel}))
    await _next(ws, "subscribed")
    return ws


async def _collect(ws, n: int, timeout: float = 20.0) -> list[int]:
    got: list[int] = []
    deadline = time.monotonic() + timeout
    while len(got) < n:
        msg = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
        if msg["type"] == "message":
            got.append(msg["data"]["i"])
    return got


async def _publish(ws, channel: str, start: int, stop: int, pad: str = "") -> None:
    for i in range(start, stop):
        await ws.send(
            json.dumps({"action": "publish", "channel": channel, "data": {"i": i, "p": pad}})
        )


def _raw_ws(port: int, path: str, messages: list[dict]) -> socket.socket:
    """A WebSocket client by hand (handshake, masked text frames) that never reads.

    Client libraries keep reading into their own buffers; this one leaves everything in a
    small kernel receive buffer, which is what a stalled consumer looks like to the hub.
    """
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert b" 101 " in head.split(b"\r\n")[0], head
    for m in messages:
        data = json.dumps(m).encode()
        assert len(data) < 126
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        s.sendall(bytes([0x81, 0x80 | len(data)]) + mask + masked)
    return s


def test_serve_url_has_ws_path(hub: ServiceSet) -> None:
    assert hub.urls["realtime"].startswith("ws://") and hub.urls["realtime"].endswith("/ws")


def test_authentication(hub: ServiceSet) -> None:
    async def main() -> None:
        # wrong key at connect: refused in the handshake
        with pytest.raises(InvalidStatus) as info:
            await connect(_url(hub, "wrong"))
        assert info.value.response.status_code == 403
        # no key and a first message that is not auth: closed with 4401
        ws = await connect(_url(hub, None))
        await ws.send(json.dumps({"action": "subscribe", "channel": "x"}))
        msg = json.loads(await ws.recv())
        assert msg["type"] == "error" and msg["error"] == "unauthorized"
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd.code == realtime.CLOSE_UNAUTHORIZED
        # wrong key in the auth message
        ws = await connect(_url(hub, None))
        await ws.send(json.dumps({"action": "auth", "api_key": "nope"}))
        assert json.loads(await ws.recv())["error"] == "unauthorized"
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        # right key as the first message
        ws = await connect(_url(hub, None))
        await ws.send(json.dumps({"action": "auth", "api_key": KEY}))
        assert (await _next(ws, "welcome"))["client_id"] >= 1
        # and as a bearer header
        ws2 = await connect(_url(hub, None), additional_headers={"Authorization": f"Bearer {KEY}"})
        await _next(ws2, "welcome")
        await ws.close()
        await ws2.close()

    asyncio.run(main())


def test_key_in_the_query_string_is_not_logged(hub: ServiceSet) -> None:
    async def main() -> None:
        ws = await connect(_url(hub))  # accepted: uvicorn logs the path with its query
        await _next(ws, "welcome")
        await ws.close()
        with pytest.raises(InvalidStatus):
            await connect(_url(hub, "wrong-key-in-url-77"))  # refused: logged too

    asyncio.run(main())
    log = hub.state_dir / "logs" / "realtime.log"
    deadline = time.monotonic() + 5
    while "WebSocket" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    text = log.read_text()
    assert "WebSocket" in text  # the lines are there...
    assert KEY not in text and "wrong-key-in-url-77" not in text  # ...without the keys


def test_fan_out_in_order_and_a_leaver_costs_nothing(hub: ServiceSet) -> None:
    async def main() -> None:
        chan = "orders"
        subs = [await _subscriber(_url(hub), chan) for _ in range(3)]
        leaver = await _subscriber(_url(hub), chan)
        pub = await connect(_url(hub))
        await _next(pub, "welcome")
        tasks = [asyncio.create_task(_collect(ws, 200)) for ws in subs]
        await _publish(pub, chan, 0, 50)
        # the leaver reads a little, then its TCP connection is cut without a close frame
        assert await _collect(leaver, 10) == list(range(10))
        leaver.transport.abort()
        await _publish(pub, chan, 50, 200)
        results = await asyncio.gather(*tasks)
        for got in results:
            assert got == list(range(200))
        await pub.send(json.dumps({"action": "publish", "channel": chan, "data": {"i": -1},
                                   "ack": True}))  # fmt: skip
        ack = await _next(pub, "published")
        assert ack["receivers"] == 3  # the leaver is gone from the channel
        for ws in [*subs, pub]:
            await ws.close()

    asyncio.run(main())


def test_slow_consumer_is_dropped_alone(hub: ServiceSet) -> None:
    async def main() -> None:
        chan = "firehose"
        fast = await _subscriber(_url(hub), chan)
        # A client that completes the handshake, subscribes and then never reads: TCP
        # buffers fill, the hub's writer for it blocks, and its queue (16 here) overflows.
        slow = _raw_ws(
            hub.ports["realtime"], f"/ws?api_key={KEY}", [{"action": "subscribe", "channel": chan}]
        )
        pub = await connect(_url(hub))
        await _next(pub, "welcome")
        before = httpx.get(hub.url("realtime") + "/v1/stats", trust_env=False).json()
        collector = asyncio.create_task(_collect(fast, 400, timeout=60))
        await _publish(pub, chan, 0, 400, pad="x" * 32_000)
        assert await collector == list(range(400))
        after = httpx.get(hub.url("realtime") + "/v1/stats", trust_env=False).json()
        assert after["dropped"] >= before["dropped"] + 1
        metrics = httpx.get(hub.url("realtime") + "/metrics", trust_env=False).text
        assert "workbench_realtime_dropped_total" in metrics
        slow.close()
        for ws in (fast, pub):
            await ws.close()

    asyncio.run(main())


def test_bad_messages_get_errors_and_the_connection_survives(hub: ServiceSet) -> None:
    async def main() -> None:
        ws = await connect(_url(hub))
        await _next(ws, "welcome")
        cases = [
            ("{not json", "malformed_json"),
            ("[1, 2]", "invalid_message"),
            (json.dumps({"action": "dance"}), "unknown_action"),
            (json.dumps({"action": "subscribe", "channel": ""}), "invalid_channel"),
            (json.dumps({"action": "subscribe", "channel": "a b"}), "invalid_channel"),
            (json.dumps({"action": "publish", "channel": "c"}), "invalid_message"),
            ('{"action": "publish", "channel": "c", "data": NaN}', "invalid_message"),
            (json.dumps({"action": "publish", "channel": "c", "data": "x" * 70_000}), "too_large"),
        ]
        for raw, code in cases:
            await ws.send(raw)
            err = await _next(ws, "error")
            assert err["error"] == code and err["detail"]
        await ws.send(json.dumps({"action": "ping"}))
        assert (await _next(ws, "pong"))["ts"] > 0
        # heartbeats arrive on their own (heartbeat_s = 0.3 here)
        assert (await _next(ws, "heartbeat", timeout=5))["ts"] > 0
        await ws.close()

    asyncio.run(main())


async def _close_code(ws, timeout: float = 10.0) -> int | None:
    """Read (heartbeats, errors) until the server closes: its close code; ``None`` if the
    connection is still open after ``timeout``."""
    deadline = time.monotonic() + timeout
    try:
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.wait_for(ws.recv(), left)
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else None
    except TimeoutError:
        pass
    return None


def test_oversized_frames_before_auth_are_refused_unread(hub: ServiceSet) -> None:
    async def main() -> None:
        # Over max_auth_bytes (4 KiB) before authentication: closed with 1009, not parsed
        # (with a wrong key inside, an unbounded reader would answer 4401 instead).
        ws = await connect(_url(hub, None))
        await ws.send(json.dumps({"action": "auth", "api_key": "k" * 5000}))
        msg = json.loads(await ws.recv())
        assert msg == {"type": "error", "error": "too_large", "detail": msg["detail"]}
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd.code == realtime.CLOSE_TOO_LARGE == 1009
        # Multi-byte text counts in bytes: 1500 characters of 3 bytes each is over 4 KiB.
        ws = await connect(_url(hub, None))
        await ws.send(json.dumps({"action": "auth", "api_key": "\u20ac" * 1500},
                                 ensure_ascii=False))  # fmt: skip
        assert await _close_code(ws) == 1009
        # A frame over max_frame_bytes (1 MiB) is cut off by the server's protocol layer
        # (uvicorn's default would buffer up to 16 MiB), authenticated or not.
        for url in (_url(hub, None), _url(hub)):
            ws = await connect(url, max_size=None)
            with contextlib.suppress(ConnectionClosed):
                await ws.send("x" * (2 << 20))
            assert await _close_code(ws) == 1009
        # A normal-sized auth message still works.
        ws = await connect(_url(hub, None))
        await ws.send(json.dumps({"action": "auth", "api_key": KEY}))
        await _next(ws, "welcome")
        await ws.close()

    asyncio.run(main())


def test_deeply_nested_json_gets_an_error_not_a_crash(hub: ServiceSet) -> None:
    deep = "[" * 30_000 + "]" * 30_000  # under max_message_bytes, over the parser's depth
    deep_small = "[" * 2000 + "]" * 2000  # under max_auth_bytes, over the parser's depth

    async def main() -> None:
        # as the first (auth) message: refused with 4401, like any other non-auth message
        ws = await connect(_url(hub, None), max_size=None)
        await ws.send(deep_small)
        msg = json.loads(await ws.recv())
        assert msg["type"] == "error" and msg["error"] == "unauthorized"
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd.code == realtime.CLOSE_UNAUTHORIZED
        # after authentication: an error message, and the connection survives
        ws = await connect(_url(hub))
        await _next(ws, "welcome")
        await ws.send(deep)
        assert (await _next(ws, "error"))["error"] == "malformed_json"
        await ws.send(json.dumps({"action": "ping"}))
        assert (await _next(ws, "pong"))["ts"] > 0
        await ws.close()

    asyncio.run(main())


def test_measurement_helpers(hub: ServiceSet) -> None:
    lat = realtime.measure_ws_latency(
        hub.urls["realtime"], KEY, subscribers=2, messages=40, rate_per_s=400
    )
    assert lat["received"] == lat["expected"] == 80 and lat["lost"] == 0
    assert lat["out_of_order"] == 0 and len(lat["samples"]) == 80
    assert all(s > 0 for s in lat["samples"])
    held = realtime.hold_connections(hub.urls["realtime"], KEY, 60, concurrency=20)
    assert held["opened"] == held["received"] == 60 and held["failed"] == {}
    stats = httpx.get(hub.url("realtime") + "/v1/stats", trust_env=False).json()
    assert stats["peak_connections"] >= 60


# --------------------------------------------------------------------------- redis backend


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = _start_or_skip(start_redis, "Redis")
    try:
        yield server
    finally:
        server.stop()


class _Hub:
    """A hub process started directly, so that two instances can run side by side."""

    def __init__(self, settings: dict) -> None:
        self.port = free_port()
        env = dict(os.environ, WORKBENCH_SERVICE_SETTINGS=json.dumps(settings))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workbench.services.run", "realtime", "--port", str(self.port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.http = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}/ws?api_key={KEY}"
        self.wait_ready(60)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "hub exited"
            try:
                if httpx.get(self.http + "/ready", trust_env=False, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"hub on {self.port} not ready in {timeout} s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.mark.integration
def test_two_hubs_over_redis_survive_a_redis_restart(redis_server: RedisServer) -> None:
    settings = {"api_key_hashes": [hash_api_key(KEY)], "redis_url": redis_server.url,
                "redis_prefix": "wb:rt:test:"}  # fmt: skip
    hubs = [_Hub(settings), _Hub(settings)]
    try:

        async def round_trip(start: int, stop: int) -> None:
            chan = "shared"
            subs = [await _subscriber(h.ws, chan) for h in hubs]
            pub = await connect(hubs[1].ws)
            await _next(pub, "welcome")
            tasks = [asyncio.create_task(_collect(ws, stop - start)) for ws in subs]
            await _publish(pub, chan, start, stop)
            for got in await asyncio.gather(*tasks):
                assert got == list(range(start, stop))
            for ws in [*subs, pub]:
                await ws.close()

        asyncio.run(round_trip(0, 100))
        redis_server.kill()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if httpx.get(hubs[0].http + "/ready", trust_env=False).status_code == 503:
                break
            time.sleep(0.1)
        assert httpx.get(hubs[0].http + "/ready", trust_env=False).status_code == 503

        async def publish_while_down() -> dict:
            ws = await connect(hubs[0].ws)
            await _next(ws, "welcome")
            await ws.send(json.dumps({"action": "publish", "channel": "c", "data": 1}))
            err = await _next(ws, "error")
            await ws.close()
            return err

        assert asyncio.run(publish_while_down())["error"] == "backend_unavailable"
        redis_server.start()
        for h in hubs:
            h.wait_ready(20)
        asyncio.run(round_trip(100, 200))
    finally:
        for h in hubs:
            h.stop()
