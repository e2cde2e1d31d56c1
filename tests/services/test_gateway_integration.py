"""The gateway in front of real backend processes: every route, every error path."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from workbench.services.launcher import running_services

pytestmark = pytest.mark.services

CHAT = {"messages": [{"role": "user", "content": "What does the plan promise?"}]}


@pytest.fixture(scope="module")
def gw(core_services):
    with httpx.Client(base_url=core_services.gateway, headers=core_services.headers()) as c:
        yield c


def assert_error(r, status, code=None):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "detail"}
    if code:
        assert body["error"] == code
    return body


def test_open_operational_routes(core_services):
    base = core_services.gateway
    assert httpx.get(base + "/health").json() == {"status": "ok", "service": "gateway"}
    ready = httpx.get(base + "/ready").json()
    assert ready == {"status": "ready", "backends": {"ai-core": "ok", "graphrag": "ok"}}
    spec = httpx.get(base + "/openapi.json").json()
    assert {"/v1/chat", "/v1/graph/query", "/v1/vectors/search"} <= set(spec["paths"])
    assert httpx.get(base + "/v1/memory").json()["service"] == "gateway"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}, {"X-API-Key": "x"}],
)
def test_401_without_valid_key(core_services, headers):
    r = httpx.post(core_services.gateway + "/v1/chat", json=CHAT, headers=headers)
    assert_error(r, 401, "unauthorized")
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_x_api_key_header_works(core_services):
    r = httpx.post(
        core_services.gateway + "/v1/chat", json=CHAT, headers={"X-API-Key": core_services.api_key}
    )
    assert r.status_code == 200


def test_chat_through_gateway(gw, core_services):
    r = gw.post("/v1/chat", json=CHAT)
    assert r.status_code == 200
    body = r.json()
    assert body["provider"] == "llm-stub" and body["simulated"] is True
    assert body["completion_tokens"] == 32 and body["prompt_tokens"] > 0
    assert body["ttft_s"] >= 0 and body["tokens_per_s"] > 0
    # The same answer as the stub gives directly for the same conversation.
    direct = httpx.post(
        core_services.urls["llm-stub"] + "/api/chat",
        json={"model": "workbench-stub", "stream": False, **CHAT},
    ).json()
    assert body["message"]["content"] == direct["message"]["content"]


def test_chat_streams_through_gateway(gw):
    with gw.stream("POST", "/v1/chat", json={**CHAT, "stream": True}) as r:
        assert r.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in r.iter_lines() if line]
    assert [x["done"] for x in lines] == [False] * 32 + [True]
    text = "".join(x["message"]["content"] for x in lines)
    assert text == gw.post("/v1/chat", json=CHAT).json()["message"]["content"]


def test_graph_query_and_vector_search(gw):
    r = gw.post(
        "/v1/graph/query", json={"kind": "local_search", "seeds": [0, 5], "k": 2, "top": 10}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert 1 <= len(body["nodes"]) <= 10 and len(body["scores"]) == len(body["nodes"])
    assert body["scores"] == sorted(body["scores"], reverse=True)
    r = gw.post("/v1/vectors/search", json={"vector": [0.5] * 32, "k": 4})
    assert r.status_code == 200, r.text
    assert len(r.json()["ids"]) == 4


def test_backend_validation_errors_pass_through(gw):
    assert_error(gw.post("/v1/graph/query", json={"kind": "nope", "seeds": [0]}), 422)
    assert_error(gw.post("/v1/vectors/search", json={"vector": [1.0, 2.0]}), 422)
    assert_error(gw.post("/v1/chat", json={"messages": []}), 422)


def test_malformed_json_is_422(gw):
    assert_error(
        gw.post(
            "/v1/chat", content=b'{"messages": [', headers={"content-type": "application/json"}
        ),
        422,
        "malformed_json",
    )


def test_deeply_nested_json_is_422_and_does_not_open_the_breaker(tmp_path, fast_stub):
    deep = b"[" * 100_000 + b"]" * 100_000
    with (
        running_services(
            ["llm-stub", "ai-core", "gateway"],
            ports="free",
            state_dir=tmp_path,
            settings={"llm-stub": fast_stub, "gateway": {"breaker": {"failures": 3}}},
            write_state=False,
        ) as svc,
        httpx.Client(base_url=svc.gateway, headers=svc.headers(), timeout=30) as c,
    ):
        for _ in range(6):
            r = c.post("/v1/chat", content=deep, headers={"content-type": "application/json"})
            assert_error(r, 422, "malformed_json")
        assert c.post("/v1/chat", json=CHAT).status_code == 200


def test_unknown_route_is_404(gw):
    assert_error(gw.get("/v1/nothing-here"), 404, "not_found")


def test_oversized_body_is_413(gw):
    assert_error(gw.post("/v1/chat", content=b"x" * (1 << 20 + 1)), 413, "payload_too_large")


def test_datatier_not_running_is_503(gw, core_services):
    if "datatier" in core_services.urls:
        pytest.skip("datatier is part of this set")
    assert_error(gw.get("/v1/agents"), 503, "backend_unavailable")


def test_request_id_forwarded_and_returned(gw):
    r = gw.post("/v1/chat", json=CHAT, headers={"X-Request-ID": "trace-42"})
    assert r.headers["x-request-id"] == "trace-42"


def test_metrics_histogram_by_route_and_status(gw, core_services):
    gw.get("/v1/nothing-here")
    text = httpx.get(core_services.gateway + "/metrics").text
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    counts = {
        (s.labels["route"], s.labels["status"])
        for s in fams["workbench_http_request_duration_seconds"].samples
        if s.name.endswith("_count")
    }
    assert ("/v1/chat", "200") in counts and ("<unmatched>", "404") in counts
    assert "workbench_http_requests_in_flight" in fams
    states = {s.labels["backend"]: s.value for s in fams["workbench_gateway_breaker_state"].samples}
    assert states == {"ai-core": 0.0, "graphrag": 0.0}


def test_key_never_logged(core_services, gw):
    gw.post("/v1/chat", json=CHAT)
    httpx.post(core_services.gateway + "/v1/chat", json=CHAT, headers={"X-API-Key": "wrong-key"})
    for log in (core_services.state_dir / "logs").glob("*.log"):
        text = log.read_text()
        assert core_services.api_key not in text and "wrong-key" not in text


def test_rate_limit_429_with_retry_after(tmp_path):
    with (
        running_services(
            "gateway",
            ports="free",
            state_dir=tmp_path,
            settings={"gateway": {"rate_limit": {"rate_per_s": 0.2, "burst": 3}}},
            write_state=False,
        ) as svc,
        httpx.Client(base_url=svc.gateway, headers=svc.headers()) as c,
    ):
        statuses = [c.post("/v1/chat", json=CHAT).status_code for _ in range(5)]
        # No backends in this set: allowed requests get 503, the rest 429.
        assert statuses == [503, 503, 503, 429, 429]
        r = c.post("/v1/chat", json=CHAT)
        assert_error(r, 429, "rate_limited")
        assert 1 <= int(r.headers["retry-after"]) <= 5
        # Unauthenticated requests are rejected before they can spend a key's tokens.
        assert httpx.get(svc.gateway + "/health").status_code == 200


def test_backend_down_fast_503_then_recovery(tmp_path, fast_stub):
    with (
        running_services(
            ["llm-stub", "ai-core", "gateway"],
            ports="free",
            state_dir=tmp_path,
            settings={
                "llm-stub": fast_stub,
                "gateway": {"breaker": {"failures": 3, "open_s": 1.0}},
            },
            write_state=False,
        ) as svc,
        httpx.Client(base_url=svc.gateway, headers=svc.headers(), timeout=10) as c,
    ):
        assert c.post("/v1/chat", json=CHAT).status_code == 200
        svc.kill("ai-core")
        codes = []
        for _ in range(6):
            t0 = time.monotonic()
            r = c.post("/v1/chat", json=CHAT)
            codes.append(r.json()["detail"])
            assert_error(r, 503, "backend_unavailable")
            assert "retry-after" in r.headers
            # "Fast": far below the client's timeout; the point is no hang.
            assert time.monotonic() - t0 < 5.0
        assert any("circuit open" in d for d in codes)
        assert httpx.get(svc.gateway + "/ready").status_code == 503
        svc.start("ai-core")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            r = c.post("/v1/chat", json=CHAT)
            if r.status_code == 200:
                break
            time.sleep(0.2)
        assert r.status_code == 200
        assert httpx.get(svc.gateway + "/ready").status_code == 200


def test_client_disconnect_mid_body_does_not_keep_the_circuit_open(tmp_path, fast_stub):
    import socket

    with (
        running_services(
            ["llm-stub", "ai-core", "gateway"],
            ports="free",
            state_dir=tmp_path,
            settings={
                "llm-stub": fast_stub,
                "gateway": {"breaker": {"failures": 1, "open_s": 0.5}},
            },
            write_state=False,
        ) as svc,
        httpx.Client(base_url=svc.gateway, headers=svc.headers(), timeout=10) as c,
    ):
        svc.kill("ai-core")
        assert_error(c.post("/v1/chat", json=CHAT), 503, "backend_unavailable")  # opens
        svc.start("ai-core")
        time.sleep(0.7)  # the breaker is due for its half-open probe
        # The probe's client announces a body, sends part of it and goes away.
        with socket.create_connection(("127.0.0.1", svc.ports["gateway"])) as s:
            s.sendall(
                b"POST /v1/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + f"Authorization: Bearer {svc.api_key}\r\n".encode()
                + b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                + b'{"messages": ['
            )
            time.sleep(0.3)
        deadline = time.monotonic() + 5
        while True:
            r = c.post("/v1/chat", json=CHAT)
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert r.status_code == 200, r.text


@pytest.mark.integration
def test_redis_rate_limit_is_shared_by_two_gateways(tmp_path):
    from workbench.services.dbservers import find_redis_server, start_redis

    if find_redis_server() is None:
        pytest.skip("redis-server not installed")
    limit = {"rate_limit": {"rate_per_s": 0.1, "burst": 4}}
    with start_redis() as redis_server:
        gw_settings = {**limit, "redis_url": redis_server.url}
        with (
            running_services("gateway", ports="free", state_dir=tmp_path / "a", api_key="shared-k",
                             settings={"gateway": gw_settings}, write_state=False) as a,
            running_services("gateway", ports="free", state_dir=tmp_path / "b", api_key="shared-k",
                             settings={"gateway": gw_settings}, write_state=False) as b,
        ):  # fmt: skip
            hdr = {"Authorization": "Bearer shared-k"}
            first = [httpx.post(a.gateway + "/v1/chat", json=CHAT, headers=hdr).status_code
                     for _ in range(3)]  # fmt: skip
            second = [httpx.post(b.gateway + "/v1/chat", json=CHAT, headers=hdr).status_code
                      for _ in range(2)]  # fmt: skip
    # 4 tokens in total: three spent at A, one left for B, then B says 429.
    assert first == [503, 503, 503] and second == [503, 429]
