"""ai-core routing: answers, streaming, validation, and failover across providers."""

from __future__ import annotations

import json

import httpx
import pytest

from workbench.services.launcher import free_port, running_services

pytestmark = pytest.mark.services
CHAT = {"messages": [{"role": "user", "content": "route me"}]}


def test_chat_reports_provider_tokens_and_timing(core_services):
    r = httpx.post(
        core_services.urls["ai-core"] + "/v1/chat", json={**CHAT, "options": {"num_predict": 9}}
    )
    body = r.json()
    assert r.status_code == 200
    assert body["provider"] == "llm-stub" and body["model"] == "workbench-stub:latest"
    assert body["completion_tokens"] == 9 and len(body["message"]["content"].split()) == 9
    assert 0 <= body["ttft_s"] <= body["total_s"] and body["attempts"] == 1


def test_stream_final_line_has_stats(core_services):
    with httpx.stream(
        "POST", core_services.urls["ai-core"] + "/v1/chat", json={**CHAT, "stream": True}
    ) as r:
        lines = [json.loads(x) for x in r.iter_lines() if x]
    assert lines[-1]["done"] and lines[-1]["completion_tokens"] == len(lines) - 1


@pytest.mark.parametrize(
    "body",
    [
        {"messages": "hi"},
        {"messages": [{"role": "robot", "content": "x"}]},
        {"messages": [{"role": "user"}]},
        {**CHAT, "model": "no-such-model"},
        {**CHAT, "stream": "yes"},
    ],
)
def test_invalid_requests_422(core_services, body):
    r = httpx.post(core_services.urls["ai-core"] + "/v1/chat", json=body)
    assert r.status_code == 422 and set(r.json()) == {"error", "detail"}


def test_failover_to_the_live_provider(tmp_path, fast_stub):
    stub_port, dead_port = free_port(), free_port()
    stub = f"http://127.0.0.1:{stub_port}"
    providers = [
        {
            "name": "dead",
            "host": f"http://127.0.0.1:{dead_port}",
            "models": ["workbench-stub:latest"],
        },
        {"name": "stub", "host": stub, "models": ["workbench-stub:latest"], "simulated": True},
    ]
    routing = {"name": "round_robin", "max_attempts": 2, "backoff_base_s": 0.0,
               "breaker_failures": 2, "breaker_open_s": 60}  # fmt: skip
    with running_services(
        ["llm-stub", "ai-core"],
        ports={"llm-stub": stub_port, "ai-core": free_port()},
        state_dir=tmp_path,
        settings={"llm-stub": fast_stub, "ai-core": {"providers": providers, "routing": routing}},
        write_state=False,
    ) as svc:
        answers = [httpx.post(svc.urls["ai-core"] + "/v1/chat", json=CHAT).json() for _ in range(6)]
        info = httpx.get(svc.urls["ai-core"] + "/v1/providers").json()
    assert all(a["provider"] == "stub" for a in answers)
    assert any(a["attempts"] == 2 for a in answers)  # first tried the dead one
    dead = next(p for p in info["providers"] if p["name"] == "dead")
    assert not dead["available"]  # its breaker opened after two failures


def _start_raw_chat(port: int, body: bytes):
    """POST ``body`` to ai-core's /v1/chat on a raw socket (so the test controls when the
    client stops reading and disconnects); returns the socket once the 200 status line is in."""
    import socket

    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(
        b"POST /v1/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    assert b"200" in s.recv(4096).split(b"\r\n")[0]
    return s


def test_client_aborting_streams_does_not_open_the_provider_breaker(tmp_path):
    import time

    slow = {"ttft_ms": 0, "tokens_per_s": 20, "jitter": 0.0}  # a 64-token answer takes ~3 s
    routing = {"name": "round_robin", "max_attempts": 1, "breaker_failures": 2,
               "breaker_open_s": 60}  # fmt: skip
    with running_services(
        ["llm-stub", "ai-core"],
        ports="free",
        state_dir=tmp_path,
        settings={"llm-stub": slow, "ai-core": {"routing": routing}},
        write_state=False,
    ) as svc:
        base = svc.urls["ai-core"]
        body = json.dumps({**CHAT, "stream": True, "options": {"num_predict": 64}}).encode()
        for _ in range(4):
            # Read the start of the stream, then drop the connection.
            with _start_raw_chat(svc.ports["ai-core"], body):
                pass
        time.sleep(1.0)  # let ai-core notice the disconnects
        info = httpx.get(base + "/v1/providers").json()
        assert all(p["available"] for p in info["providers"]), info
        r = httpx.post(base + "/v1/chat", json={**CHAT, "options": {"num_predict": 2}}, timeout=30)
        assert r.status_code == 200, r.text


class _EndlessProvider:
    """A fake Ollama server whose /api/chat streams large chunks until the connection is
    closed, recording when that happens (``closed`` is set)."""

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.started = threading.Event()
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(next(x.split(b":")[1] for x in head.split(b"\r\n")
                              if x.lower().startswith(b"content-length")))  # fmt: skip
            while len(body) < length:
                body += conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
            line = json.dumps({"model": "m", "created_at": "2026-01-01T00:00:00Z",
                               "message": {"role": "assistant", "content": "x" * 65536},
                               "done": False}).encode() + b"\n"  # fmt: skip
            chunk = f"{len(line):x}\r\n".encode() + line + b"\r\n"
            self.started.set()
            try:
                while True:
                    conn.sendall(chunk)
            except OSError:
                self.closed.set()

    def close(self) -> None:
        self.sock.close()


def test_client_disconnect_closes_the_provider_stream(tmp_path):
    """End to end under uvicorn: a client that stops reading a streamed chat and then
    disconnects ends ai-core's stream from the provider too (so the provider stops
    generating). uvicorn (ASGI 2.3) cancels the stream while it awaits the provider, which
    closes it; the ASGI 2.4 case, where nothing is cancelled, is the test below."""

    provider = _EndlessProvider()
    providers = [{"name": "endless", "host": f"http://127.0.0.1:{provider.port}",
                  "models": ["m"]}]  # fmt: skip
    try:
        with running_services(
            ["ai-core"],
            ports="free",
            state_dir=tmp_path,
            settings={"ai-core": {"providers": providers, "routing": {"max_attempts": 1}}},
            write_state=False,
        ) as svc:
            body = json.dumps({**CHAT, "model": "m", "stream": True}).encode()
            s = _start_raw_chat(svc.ports["ai-core"], body)
            assert provider.started.wait(10)
            # Stop reading: every buffer on the way fills and ai-core blocks sending to us.
            assert not provider.closed.wait(3.0)
            s.close()
            assert provider.closed.wait(10), "ai-core kept the provider stream open"
            # And ai-core still serves.
            r = httpx.get(svc.urls["ai-core"] + "/v1/providers", trust_env=False)
            assert r.json()["providers"][0]["outstanding"] == 0
    finally:
        provider.close()


def test_stream_abandoned_by_the_server_closes_the_provider_stream():
    """Under ASGI 2.4 servers there is no disconnect listener: ``send`` raises ``OSError``
    when the client is gone and Starlette stops iterating, leaving the body generator parked
    at a ``yield``. ai-core must still close the provider stream at once."""
    import asyncio
    import contextlib

    from workbench.services import aicore

    provider = _EndlessProvider()
    providers = [{"name": "endless", "host": f"http://127.0.0.1:{provider.port}",
                  "models": ["m"]}]  # fmt: skip
    body = json.dumps({**CHAT, "model": "m", "stream": True}).encode()
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1", "method": "POST", "scheme": "http", "path": "/v1/chat",
        "raw_path": b"/v1/chat", "root_path": "", "query_string": b"",
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8701),
    }  # fmt: skip

    async def main() -> bool:
        app = aicore.create_app({"providers": providers, "routing": {"max_attempts": 1}})
        async with app.router.lifespan_context(app):
            sent: list[dict] = []

            async def receive() -> dict:
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict) -> None:
                sent.append(message)
                if message["type"] == "http.response.body" and len(sent) >= 3:
                    raise OSError("client went away")  # what an ASGI 2.4 server does

            with contextlib.suppress(Exception):
                await app(scope, receive, send)
            assert sent[0]["status"] == 200 and len(sent) == 3
            for _ in range(40):  # the event loop keeps running meanwhile
                if provider.closed.is_set():
                    return True
                await asyncio.sleep(0.05)
            return False

    try:
        assert asyncio.run(main()), "ai-core kept the provider stream open"
    finally:
        provider.close()


def test_real_ollama_through_aicore(tmp_path, real_ollama_host):
    """ai-core against a real Ollama server (runs only when OLLAMA_HOST is set), through the
    same official ``ollama`` client it uses for the stub. The model is ``OLLAMA_TEST_MODEL``
    or the smallest one the server has pulled."""
    import os

    import ollama

    try:
        listed = ollama.Client(host=real_ollama_host, timeout=10).list().models
    except Exception as exc:  # set but unreachable: that is a failure, not a skip
        pytest.fail(f"OLLAMA_HOST={real_ollama_host} is set but not reachable: {exc!r}")
    model = os.environ.get("OLLAMA_TEST_MODEL")
    if model is None:
        if not listed:
            pytest.skip(f"the Ollama server at {real_ollama_host} has no model pulled "
                        "(ollama pull <model>, or set OLLAMA_TEST_MODEL)")  # fmt: skip
        model = min(listed, key=lambda m: m.size or 0).model
    providers = [{"name": "ollama", "host": real_ollama_host, "models": [model]}]
    routing = {"max_attempts": 1, "attempt_timeout_s": 300}
    with running_services(
        ["ai-core"],
        ports="free",
        state_dir=tmp_path,
        settings={"ai-core": {"providers": providers, "routing": routing}},
        write_state=False,
    ) as svc:
        url = svc.urls["ai-core"] + "/v1/chat"
        body = {"model": model, "messages": [{"role": "user", "content": "Say hello."}],
                "options": {"num_predict": 8}}  # fmt: skip
        r = httpx.post(url, json=body, timeout=300)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["provider"] == "ollama" and answer["simulated"] is False
        assert 0 < answer["completion_tokens"] <= 8 and answer["message"]["content"]
        assert 0 < answer["ttft_s"] <= answer["total_s"]
        with httpx.stream("POST", url, json={**body, "stream": True}, timeout=300) as s:
            lines = [json.loads(x) for x in s.iter_lines() if x]
        assert lines[-1]["done"] and lines[-1]["provider"] == "ollama"
        assert all(not x["done"] for x in lines[:-1])
