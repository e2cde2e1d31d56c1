"""Gateway building blocks against readable references: token bucket, breaker, key check."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.services.gateway import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    CircuitBreaker,
    TokenBucket,
    _Gateway,
)
from workbench.services.launcher import hash_api_key


def reference_allowed(times, rate, burst):
    """Naive bucket: tokens as a float refilled between events, no shortcuts."""
    tokens, last, out = float(burst), times[0] if times else 0.0, []
    for t in times:
        tokens = min(burst, tokens + (t - last) * rate)
        last = t
        if tokens >= 1:
            tokens -= 1
            out.append(True)
        else:
            out.append(False)
    return out


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.floats(0, 2, allow_nan=False), min_size=1, max_size=60),
    rate=st.floats(0.1, 50),
    burst=st.integers(1, 10),
)
def test_token_bucket_matches_reference(gaps, rate, burst):
    times, t = [], 0.0
    for g in gaps:
        t += g
        times.append(t)
    tb = TokenBucket(rate, burst)
    assert [tb.take("k", now=x)[0] for x in times] == reference_allowed(times, rate, burst)


def test_token_bucket_retry_after_and_keys_independent():
    tb = TokenBucket(rate_per_s=2.0, burst=1)
    assert tb.take("a", now=0.0) == (True, 0.0)
    ok, wait = tb.take("a", now=0.0)
    assert not ok and wait == pytest.approx(0.5)
    assert tb.take("b", now=0.0)[0]  # another key has its own bucket
    assert tb.take("a", now=0.5)[0]


def test_token_bucket_rejects_bad_config():
    with pytest.raises(ValueError, match="rate_per_s"):
        TokenBucket(0, 1)


def test_breaker_cycle():
    changes = []
    b = CircuitBreaker("x", failures=3, open_s=1.0, on_change=lambda n, s: changes.append(s))
    for _ in range(2):
        b.failure(now=0.0)
    assert b.state == CLOSED and b.allow(now=0.0)
    b.success()  # a success resets the count
    for _ in range(3):
        b.failure(now=0.0)
    assert b.state == OPEN and not b.allow(now=0.5)
    assert b.retry_after(now=0.5) == pytest.approx(0.5)
    assert b.allow(now=1.0) and b.state == HALF_OPEN
    assert not b.allow(now=1.0)  # only one probe
    b.failure(now=1.1)  # failed probe: open again for open_s
    assert b.state == OPEN and not b.allow(now=2.0) and b.allow(now=2.2)
    b.success()
    assert b.state == CLOSED
    assert changes == [OPEN, HALF_OPEN, OPEN, HALF_OPEN, CLOSED]


def test_breaker_release_gives_back_the_probe_slot():
    b = CircuitBreaker("x", failures=1, open_s=1.0)
    b.failure(now=0.0)
    assert b.allow(now=1.0) and not b.allow(now=1.0)
    b.release()  # the probe ended without a verdict (client gone, task cancelled)
    assert b.state == HALF_OPEN and b.allow(now=1.1)
    b.success()
    b.release()  # no-op when closed
    assert b.state == CLOSED and b.allow(now=1.2)


def make_gateway(keys):
    from prometheus_client import CollectorRegistry

    return _Gateway({"api_key_hashes": [hash_api_key(k) for k in keys]}, CollectorRegistry())


def test_key_check_uses_hashes_only():
    gw = make_gateway(["secret-one", "secret-two"])
    assert all(len(h) == 32 for h in gw.key_hashes)  # digests, not keys
    assert b"secret-one" not in b"".join(gw.key_hashes)
    assert gw.check_key("secret-two") == hashlib.sha256(b"secret-two").hexdigest()[:8]
    for bad in (None, "", "secret", "secret-one ", "SECRET-ONE"):
        assert gw.check_key(bad) is None


def test_backend_routing_table():
    gw = make_gateway(["k"])
    assert gw.backend_for("/v1/chat") == "ai-core"
    assert gw.backend_for("/v1/graph/query") == "graphrag"
    assert gw.backend_for("/v1/vectors/search") == "graphrag"
    assert gw.backend_for("/v1/agents") == "datatier"
    assert gw.backend_for("/v1/agents/42") == "datatier"
    assert gw.backend_for("/v1/conversations/1/messages") == "datatier"
    assert gw.backend_for("/v1/chatter") is None


def test_overhead_figures_recorded(tmp_path):
    from workbench.results import Recorder, read_run
    from workbench.services.overhead import record

    figures = {"rate": 500.0, "duration_s": 4.0, "rps_ratio": [0.8, 0.9, 0.7],
               "gateway_rps": [4000.0, 4500.0, 3500.0], "bare_rps": [5000.0] * 3,
               "added_p50_s": [0.002, 0.001, 0.003]}  # fmt: skip
    rec = Recorder(tmp_path / "run1", suite="services", notebook="gateway_overhead")
    record(rec, figures)
    rec.flush()
    frame = read_run(tmp_path / "run1")
    ratio = frame.filter(frame["metric"] == "rps_ratio_vs_bare_starlette").row(0, named=True)
    assert ratio["value"] == 0.8 and (ratio["min"], ratio["max"]) == (0.7, 0.9)
    added = frame.filter(frame["metric"] == "added_latency_p50").row(0, named=True)
    assert added["unit"] == "s" and added["value"] == 0.002


def test_overhead_measure_removes_its_temporary_state_dir(tmp_path, monkeypatch):
    import contextlib
    import tempfile
    import types

    from workbench.services import launcher, overhead

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    used = []

    @contextlib.contextmanager
    def fake_services(names, *, state_dir, **kw):
        used.append(state_dir)
        (Path(state_dir) / "logs").mkdir(parents=True)
        (Path(state_dir) / "logs" / "gateway.log").write_text("x")
        yield types.SimpleNamespace(
            urls={"graphrag": "http://127.0.0.1:1"}, gateway="http://127.0.0.1:2", api_key="k"
        )

    class FakeProc:
        def terminate(self): ...
        def wait(self, timeout=None): ...

    monkeypatch.setattr(launcher, "running_services", fake_services)
    monkeypatch.setattr(overhead, "start_bare", lambda port: FakeProc())
    monkeypatch.setattr(overhead, "wrk_rps", lambda url, d: 100.0)
    monkeypatch.setattr(overhead, "paced_latencies", lambda *a, **k: np.array([0.001, 0.002]))
    figures = overhead.measure(rounds=1, duration_s=0.1)
    assert figures["median_rps_ratio"] == 1.0
    assert used and used[0].startswith(str(tmp_path))
    assert list(tmp_path.iterdir()) == []  # the wb-overhead-* directory is gone


def _read_request(conn):
    """Head of one HTTP/1.1 request read from ``conn`` (body skipped), None at EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += conn.recv(65536)
    return head


def _answer(conn):
    conn.sendall(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
    )


@contextlib.contextmanager
def _gateway_before(handle):
    """A gateway (TestClient, key ``k``) whose graphrag backend is ``handle(conn)`` per
    connection, served by threads on a loopback socket."""
    from starlette.testclient import TestClient

    from workbench.services.gateway import create_app

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    app = create_app(
        {
            "api_key_hashes": [hash_api_key("k")],
            "backends": {"graphrag": f"http://127.0.0.1:{port}"},
            "retries": 0,
        }
    )
    try:
        with TestClient(
            app, raise_server_exceptions=False, headers={"Authorization": "Bearer k"}
        ) as c:
            yield c
    finally:
        listener.close()


def test_post_on_a_stale_keepalive_connection_is_resent():
    """The backend answers one request per connection, then closes on the next one without
    answering (as when it closes an idle keep-alive connection just as the gateway reuses it).
    """
    seen = []

    def handle(conn):
        with conn:
            if _read_request(conn) is None:
                return
            seen.append("answered")
            _answer(conn)
            if _read_request(conn) is not None:
                seen.append("dropped")  # closes without a byte of answer

    with _gateway_before(handle) as c:
        assert c.post("/v1/graph/query", json={}).status_code == 200
        r = c.post("/v1/graph/query", json={})  # reuses the idle connection
        assert r.status_code == 200, r.text
    assert seen == ["answered", "dropped", "answered"]  # resent on a fresh connection


def test_client_forwarding_headers_are_replaced_not_passed_through():
    heads = []

    def handle(conn):
        with conn:
            while (head := _read_request(conn)) is not None:
                heads.append(head.decode("latin-1").lower())
                _answer(conn)

    spoof = {"X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6", "Forwarded": "for=6.6.6.6",
             "X-Request-ID": "trace-1"}  # fmt: skip
    with _gateway_before(handle) as c:
        assert c.post("/v1/graph/query", json={}, headers=spoof).status_code == 200
    (head,) = heads
    assert "6.6.6.6" not in head
    assert head.count("x-forwarded-for:") == 1 and "x-forwarded-for: testclient" in head
    assert head.count("x-request-id:") == 1 and "x-request-id: trace-1" in head


def test_forwarded_for_is_the_real_peer_under_uvicorn(tmp_path):
    """The gateway as a real process: uvicorn must not rewrite the peer address from the
    client's X-Forwarded-For (its default trusts loopback clients), so the backend gets the
    address the gateway actually saw."""
    from workbench.services.launcher import running_services

    heads = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                while (head := _read_request(conn)) is not None:
                    heads.append(head.decode("latin-1").lower())
                    _answer(conn)

    threading.Thread(target=serve, daemon=True).start()
    backend = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        with running_services(
            ["gateway"], ports="free", state_dir=tmp_path, write_state=False,
            settings={"gateway": {"backends": {"graphrag": backend}}},
        ) as svc:  # fmt: skip
            r = httpx.post(
                svc.gateway + "/v1/graph/query",
                json={},
                headers={**svc.headers(), "X-Forwarded-For": "6.6.6.6"},
                trust_env=False,
            )
            assert r.status_code == 200, r.text
    finally:
        listener.close()
    (head,) = heads
    assert "6.6.6.6" not in head and "x-forwarded-for: 127.0.0.1" in head


def test_start_bare_failure_leaves_no_zombie(monkeypatch):
    """A bare server that never answers is killed and reaped when start_bare gives up."""
    import os
    import subprocess
    import sys
    import time
    import types

    from workbench.errors import ServiceError
    from workbench.services import overhead
    from workbench.services.launcher import free_port

    started: list[subprocess.Popen] = []
    real_popen = subprocess.Popen

    class Hanging(real_popen):  # type: ignore[misc, valid-type]
        """The child starts but never serves (a hung server)."""

        def __init__(self, args, **kwargs):
            super().__init__([sys.executable, "-c", "import time; time.sleep(120)"], **kwargs)
            started.append(self)

    monkeypatch.setattr(overhead.subprocess, "Popen", Hanging)
    # start_bare's clock runs 1000x fast, so its 30 s deadline passes in 30 ms.
    fast = types.SimpleNamespace(monotonic=lambda: time.monotonic() * 1000, sleep=time.sleep)
    monkeypatch.setattr(overhead, "time", fast)
    with pytest.raises(ServiceError):
        overhead.start_bare(free_port())
    (proc,) = started
    assert proc.returncode is not None  # killed and waited for
    assert not os.path.exists(f"/proc/{proc.pid}")  # no zombie entry left


def test_pool_slot_returns_when_a_connect_is_cancelled(monkeypatch):
    # A caller's own timeout (the gateway's /ready probe) can cancel a request while it is
    # still connecting; the connection slot must come back, or the pool shrinks for good.
    import asyncio

    from workbench.services import upstream

    async def stalled(*args, **kwargs):
        await asyncio.sleep(60)

    async def main():
        pool = upstream.UpstreamPool("http://127.0.0.1:9", max_connections=2, pool_timeout=0.2)
        monkeypatch.setattr(upstream.asyncio, "open_connection", stalled)
        for _ in range(3):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    await pool.request("GET", "/health")
        return pool._slots._value

    assert asyncio.run(main()) == 2
