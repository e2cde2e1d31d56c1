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


def test_client_aborting_streams_does_not_open_the_provider_breaker(tmp_path):
    import socket
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
            with socket.create_connection(("127.0.0.1", svc.ports["ai-core"])) as s:
                s.sendall(
                    b"POST /v1/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                assert b"200" in s.recv(4096).split(b"\r\n")[0]
        time.sleep(1.0)  # let ai-core notice the disconnects
        info = httpx.get(base + "/v1/providers").json()
        assert all(p["available"] for p in info["providers"]), info
        r = httpx.post(base + "/v1/chat", json={**CHAT, "options": {"num_predict": 2}}, timeout=30)
        assert r.status_code == 200, r.text
