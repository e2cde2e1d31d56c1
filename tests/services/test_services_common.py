"""The shared service conventions, checked in-process with Starlette's TestClient."""

from __future__ import annotations

import json

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from workbench.services.common import (
    ApiError,
    build_app,
    field,
    memory_snapshot,
    pressure_level,
    read_json,
)


async def echo(request: Request) -> JSONResponse:
    body = await read_json(request)
    return JSONResponse({"n": field(body, "n", int, lo=0, hi=10)})


async def boom(request: Request) -> JSONResponse:
    raise RuntimeError("a bug")


def make_app(**settings):
    routes = [Route("/echo", echo, methods=["POST"]), Route("/boom", boom)]
    return build_app("svc", routes, {"max_body_bytes": 100, **settings})


@pytest.fixture
def client():
    with TestClient(make_app(), raise_server_exceptions=False) as c:
        yield c


def is_error(r, status, code=None):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error", "detail"} and body["detail"]
    if code is not None:
        assert body["error"] == code
    return body


def test_common_routes(client):
    assert client.get("/health").json() == {"status": "ok", "service": "svc"}
    mem = client.get("/v1/memory").json()
    assert mem["rss_bytes"] > 0 and mem["pressure"] in {"low", "moderate", "high", "critical"}
    assert len(mem["gc"]["counts"]) == 3
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")


def test_happy_path(client):
    assert client.post("/echo", json={"n": 3}).json() == {"n": 3}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "malformed_json"),
        (b"{nope", "malformed_json"),
        (b"\xff\xfe", "malformed_json"),
        (b"[1, 2]", "invalid_request"),
        (b'{"n": NaN}', "malformed_json"),
        (b'{"n": -Infinity}', "malformed_json"),
        (b'{"n": "3"}', "invalid_field"),
        (b'{"n": true}', "invalid_field"),
        (b'{"n": 11}', "invalid_field"),
        (b"{}", "invalid_field"),
    ],
)
def test_bad_input_is_422_json(client, body, code):
    detail = is_error(client.post("/echo", content=body), 422, code)["detail"]
    if code == "invalid_field":
        assert "'n'" in detail


def test_deeply_nested_json_is_422_not_500():
    # json.loads raises RecursionError (not ValueError) on deep nesting: bad input, not a bug.
    deep = b"[" * 100_000 + b"]" * 100_000
    with TestClient(make_app(max_body_bytes=1 << 20), raise_server_exceptions=False) as c:
        is_error(c.post("/echo", content=deep), 422, "malformed_json")
        is_error(c.post("/echo", content=b'{"a":' * 50_000 + b"1" + b"}" * 50_000), 422,
                 "malformed_json")  # fmt: skip


def test_404_405_are_json(client):
    is_error(client.get("/nowhere"), 404, "not_found")
    is_error(client.get("/echo"), 405, "method_not_allowed")


def test_body_limit_declared_and_streamed(client):
    is_error(client.post("/echo", content=b"x" * 101), 413, "payload_too_large")

    def chunks():  # no Content-Length: the limit must hold while reading
        for _ in range(10):
            yield b"x" * 20

    is_error(client.post("/echo", content=chunks()), 413, "payload_too_large")
    assert client.post("/echo", content=b'{"n": 1}').status_code == 200


def test_unexpected_exception_is_logged_500_json(client, caplog):
    body = is_error(client.get("/boom"), 500, "internal")
    assert "request id" in body["detail"]
    assert "a bug" not in body["detail"]  # internals stay in the log


def test_request_id_echoed_or_generated(client):
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == (
        "abc-123"
    )
    generated = client.get("/health", headers={"X-Request-ID": "bad id\n"}).headers["x-request-id"]
    assert generated != "bad id\n" and len(generated) == 32


def test_metrics_count_requests_per_app():
    # Two apps in one process: separate registries, no "duplicated timeseries" error.
    a, b = make_app(), make_app()
    with TestClient(a) as ca, TestClient(b) as cb:
        for _ in range(3):
            ca.get("/health")
        cb.get("/health")
        text = ca.get("/metrics").text
    counts = {
        (s.labels["route"], s.labels["status"]): s.value
        for fam in text_string_to_metric_families(text)
        if fam.name == "workbench_http_request_duration_seconds"
        for s in fam.samples
        if s.name.endswith("_count")
    }
    assert counts[("/health", "200")] == 3


def test_field_rules():
    assert field({"x": 1}, "x", float) == 1
    with pytest.raises(ApiError, match="must be one of"):
        field({"x": "c"}, "x", str, choices=("a", "b"))
    with pytest.raises(ApiError, match="must be int"):
        field({"x": 1.5}, "x", int)


def test_logging_redacts_keys_in_messages_args_and_extras(capsys):
    import logging

    from workbench.services.common import configure_logging

    configure_logging("svc")
    try:
        log = logging.getLogger("uvicorn.error")
        log.info('%s - "WebSocket %s" 403', "127.0.0.1:5", "/ws?api_key=sekrit-1&x=1")
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/a?token=sekrit-2", "1.1", 200
        )
        logging.getLogger("workbench.x").warning(
            "url /a?key=sekrit-3", extra={"u": "k=1&key=sekrit-4"}
        )
    finally:
        for name in ("workbench", "uvicorn.error", "uvicorn.access"):
            logging.getLogger(name).handlers.clear()
            logging.getLogger(name).propagate = True
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines()]
    assert len(lines) == 3
    assert "sekrit" not in err
    assert "/ws?api_key=[redacted]&x=1" in lines[0]["msg"]


def test_run_in_thread_is_the_one_helper_and_works_inside_a_running_loop():
    import asyncio

    from workbench.load import runner
    from workbench.services import common, datatier, dbservers, launcher, realtime

    async def answer():
        return 42

    async def boom():
        raise KeyError("x")

    async def in_a_notebook():  # ipykernel: a loop already runs in this thread
        return common.run_in_thread(answer)

    assert asyncio.run(in_a_notebook()) == 42
    with pytest.raises(KeyError):
        common.run_in_thread(boom)
    # One copy of each helper: the thread runner here, free ports and the parent-death
    # signal in the launcher.
    for module in (datatier, realtime):
        assert not hasattr(module, "_in_thread") and module.run_in_thread is common.run_in_thread
    for module in (dbservers, runner):
        assert not hasattr(module, "_free_port")
    assert not hasattr(runner, "_set_pdeathsig") and callable(launcher.pdeathsig_preexec())


def test_pressure_levels():
    assert [pressure_level(x, 100) for x in (10, 60, 80, 95)] == [
        "low",
        "moderate",
        "high",
        "critical",
    ]
    snap = memory_snapshot(limit_bytes=1)
    assert snap["pressure"] == "critical" and json.dumps(snap)


def test_request_histogram_matches_prometheus_client():
    # The lock-free request series must expose exactly what prometheus_client's Histogram
    # would for the same observations, bucket bounds included (a value equal to a bound
    # counts in that bound's bucket).
    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    from workbench.services.common import LATENCY_BUCKETS, ServiceMetrics

    rng = np.random.default_rng(3)
    values = [*LATENCY_BUCKETS, 0.0, 20.0, *rng.exponential(0.05, 500).tolist()]
    ours = ServiceMetrics("t")
    ref_registry = CollectorRegistry()
    ref = Histogram(
        "workbench_http_request_duration_seconds",
        "",
        ["route", "method", "status"],
        buckets=LATENCY_BUCKETS,
        registry=ref_registry,
    )
    for i, v in enumerate(values):
        status = 200 if i % 3 else 404
        ours.observe("/r", "GET", status, v)
        ref.labels("/r", "GET", str(status)).observe(v)

    def samples(text):
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text)
            if fam.name == "workbench_http_request_duration_seconds"
            for s in fam.samples
            if not s.name.endswith("_created")
        }

    got = samples(generate_latest(ours.registry).decode())
    want = samples(generate_latest(ref_registry).decode())
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-12), key


def test_unknown_methods_share_one_metrics_series():
    # Clients choose the method string: unknown ones must not each create a new series.
    with TestClient(make_app()) as client:
        for verb in ("FOO", "BAR", "BAZ"):
            client.request(verb, "/nowhere")
        text = client.get("/metrics").text
    methods = {
        s.labels["method"]
        for fam in text_string_to_metric_families(text)
        if fam.name == "workbench_http_request_duration_seconds"
        for s in fam.samples
    }
    assert "OTHER" in methods and not methods & {"FOO", "BAR", "BAZ"}


class _TeapotError(Exception):
    pass


def _stack_app():
    """An app exercising every way an exception can reach the one service layer."""
    from starlette.middleware import Middleware
    from starlette.responses import StreamingResponse
    from starlette.routing import WebSocketRoute

    async def gatekeeper(app, scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/guarded":
            raise ApiError(403, "forbidden", "not for you")  # outside any endpoint
        await app(scope, receive, send)

    class Gate:
        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            await gatekeeper(self.app, scope, receive, send)

    async def teapot(request):
        raise _TeapotError

    def sync_teapot(request):  # sync endpoints keep Starlette's own wrapper
        raise _TeapotError

    async def gone(request):
        from starlette.exceptions import HTTPException

        raise HTTPException(410, "it left")  # status handlers apply to HTTPException

    async def half(request):
        async def body():
            yield b"first part"
            raise RuntimeError("broke mid-stream")

        return StreamingResponse(body())

    async def ws_refuse(websocket):
        from starlette.exceptions import WebSocketException

        await websocket.accept()
        raise WebSocketException(4001, "go away")

    routes = [
        Route("/teapot", teapot),
        Route("/sync-teapot", sync_teapot),
        Route("/gone", gone),
        Route("/half", half),
        Route("/guarded", teapot),
        WebSocketRoute("/ws", ws_refuse),
    ]
    app = build_app("svc", routes, {}, middleware=[Middleware(Gate)])

    async def on_teapot(request, exc):
        return JSONResponse({"error": "teapot", "detail": request.url.path}, status_code=418)

    async def on_410(request, exc):
        return JSONResponse({"error": "gone_by_status", "detail": exc.detail}, status_code=410)

    app.add_exception_handler(_TeapotError, on_teapot)  # added after build_app, before use
    app.add_exception_handler(410, on_410)
    return app


def test_one_service_layer_answers_every_exception_with_its_handler(caplog):
    from starlette.websockets import WebSocketDisconnect

    with TestClient(_stack_app(), raise_server_exceptions=False) as c:
        # Raised by a service middleware, outside the router: still the JSON shape.
        r = c.get("/guarded")
        assert is_error(r, 403, "forbidden")["detail"] == "not for you"
        assert len(r.headers["x-request-id"]) == 32
        # Handlers registered by exception type and by status, async and sync endpoints.
        for path in ("/teapot", "/sync-teapot"):
            r = c.get(path)
            assert r.status_code == 418 and r.json() == {"error": "teapot", "detail": path}
        assert c.get("/gone").json()["error"] == "gone_by_status"
        # Too late for an error response: logged, the client gets what was sent.
        with caplog.at_level("ERROR", logger="workbench.services"):
            r = c.get("/half")
        assert r.status_code == 200 and r.content == b"first part"
        assert any("after the response started" in rec.getMessage() for rec in caplog.records)
        # WebSocketException closes the socket with its code (Starlette's default handler).
        with c.websocket_connect("/ws") as ws, pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
        assert info.value.code == 4001
        text = c.get("/metrics").text
    statuses = {
        (s.labels["route"], s.labels["status"])
        for fam in text_string_to_metric_families(text)
        if fam.name == "workbench_http_request_duration_seconds"
        for s in fam.samples
    }
    assert {
        ("<unmatched>", "403"),
        ("/teapot", "418"),
        ("/gone", "410"),
        ("/half", "200"),
    } <= statuses


def _asgi_call(app, path, headers=(), chunks=(b"",), method="POST", timeout=5.0):
    """Call ``app`` once in-process: (status, body, headers). Times out instead of hanging."""
    import asyncio

    async def run():
        messages = [
            {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
            for i, c in enumerate(chunks)
        ]
        sent = []

        async def receive():
            if messages:
                return messages.pop(0)
            await asyncio.sleep(3600)  # a client that waits for its answer

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": b"", "root_path": "", "headers": list(headers),
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2), "state": {}}  # fmt: skip
        await asyncio.wait_for(app(scope, receive, send), timeout)
        start = next(m for m in sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return start["status"], body, dict(start["headers"])

    return asyncio.run(run())


def test_chunked_body_is_counted_even_with_a_content_length():
    # With Transfer-Encoding a server frames the body as chunked and ignores Content-Length
    # (h11 does): a small declared length must not let a large body through.
    app = make_app()
    headers = [(b"content-length", b"10"), (b"transfer-encoding", b"chunked")]
    status, body, _ = _asgi_call(app, "/echo", headers, [b"x" * 60, b"x" * 60])
    assert status == 413 and json.loads(body)["error"] == "payload_too_large"
    # A declared length within the limit, no Transfer-Encoding: served as usual.
    status, body, _ = _asgi_call(app, "/echo", [(b"content-length", b"8")], [b'{"n": 1}'])
    assert (status, json.loads(body)) == (200, {"n": 1})


def test_handlers_get_the_endpoints_request_and_failures_stay_json():
    from starlette.middleware import Middleware

    class Once:  # a route's own middleware: must survive build_app
        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            async def tagged(message):
                if message["type"] == "http.response.start":
                    message["headers"] = [*message["headers"], (b"x-route-mw", b"1")]
                await send(message)

            await self.app(scope, receive, tagged)

    class ReadThenFailError(Exception):
        pass

    class BadHandlerError(Exception):
        pass

    class NoAnswerError(Exception):
        pass

    async def read_then_fail(request):
        await request.body()
        raise ReadThenFailError

    def raise_(exc_type):
        async def endpoint(request):
            raise exc_type

        return endpoint

    async def on_read(request, exc):  # reads the body the endpoint already consumed
        return JSONResponse({"error": "read", "detail": (await request.body()).decode()}, 400)

    def on_bad(request, exc):  # a sync handler that fails
        raise RuntimeError("handler bug")

    def on_none(request, exc):
        return None

    routes = [
        Route("/read", read_then_fail, methods=["POST"]),
        Route("/bad", raise_(BadHandlerError)),
        Route("/none", raise_(NoAnswerError)),
        Route("/mw", echo, methods=["POST"], middleware=[Middleware(Once)]),
    ]
    app = build_app(
        "svc",
        routes,
        {},
        exception_handlers={
            ReadThenFailError: on_read,
            BadHandlerError: on_bad,
            NoAnswerError: on_none,
        },
    )
    status, body, _ = _asgi_call(app, "/read", [(b"content-length", b"5")], [b"hello"])
    assert (status, json.loads(body)) == (400, {"error": "read", "detail": "hello"})
    for path in ("/bad", "/none"):
        status, body, headers = _asgi_call(app, path, method="GET")
        assert status == 500 and json.loads(body)["error"] == "internal", path
        assert headers[b"x-request-id"].decode() in json.loads(body)["detail"]
    status, body, headers = _asgi_call(app, "/mw", [(b"content-length", b"8")], [b'{"n": 2}'])
    assert (status, json.loads(body)) == (200, {"n": 2}) and headers[b"x-route-mw"] == b"1"
