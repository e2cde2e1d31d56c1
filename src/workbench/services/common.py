"""Shared conventions of the reference services: app factory, errors, metrics, memory, limits.

Every service module (``gateway``, ``aicore``, ``graphrag``, ``llmstub``, ``datatier``,
``realtime``) follows the same contract so that the launcher, the tests and a future Go/Rust
implementation can treat them alike:

* **Factory.** The module exposes ``create_app(settings: Mapping[str, Any]) -> Starlette``.
  ``settings`` is a plain JSON-able mapping (the launcher passes it to the child process as
  JSON). Build the app with :func:`build_app`, which adds the common routes and middleware::

      def create_app(settings):
          settings = dict(settings)
          routes = [Route("/v1/things", things, methods=["POST"])]
          return build_app("my-service", routes, settings, lifespan=lifespan)

  Keys every service understands (all optional): ``name``, ``host``, ``port``,
  ``max_body_bytes`` (default 1 MiB), ``memory_limit_bytes`` (for the pressure level),
  ``log_level``, ``urls`` (``{service name: base http url}`` of every registered service),
  ``services`` (names of the services started in this set; the others are not running).
* **Common routes** (added by :func:`build_app`): ``GET /health`` (``{"status": "ok",
  "service": name}``, cheap, never touches a backend), ``GET /metrics`` (Prometheus text
  format, from a *per-app* :class:`prometheus_client.CollectorRegistry`, so several apps in
  one test process never collide) and ``GET /v1/memory`` (see :func:`memory_snapshot`).
  A service with dependencies may add its own ``GET /ready``.
* **Errors are JSON.** Every error response is ``{"error": <short code>, "detail": <what is
  wrong, for a human>}`` with a 4xx status for bad input: raise :class:`ApiError` (or a
  Starlette ``HTTPException``) from an endpoint or a service middleware. Unknown paths give
  404, wrong methods 405, a body over ``max_body_bytes`` 413, malformed JSON 422 (use
  :func:`read_json`), invalid fields 422 (use :func:`field`). An unexpected exception is logged
  with its traceback and answered ``500 {"error": "internal", ...}``: a 500 always means a bug,
  never bad input.
* **Metrics.** :class:`ServiceMetrics` (``app.state.metrics``) records
  ``workbench_http_request_duration_seconds`` (histogram by route template, method, status)
  and ``workbench_http_requests_in_flight``; add service-specific collectors to
  ``app.state.metrics.registry``.
* **Request ids.** Every response carries ``X-Request-ID`` (the client's if it sent a sane
  one, else a fresh one); it is in ``scope["state"]["request_id"]`` for logging.
* **Logs** are one JSON object per line (:func:`configure_logging`); never log API keys,
  authorization headers or request bodies.
* **Registry.** :data:`workbench.services.launcher.SERVICES` maps name -> (module, default
  port): gateway 8700, ai-core 8701, graphrag 8702, llm-stub 8703, realtime 8704, datatier
  8705. A module that does not exist yet is skipped. A WebSocket service may define a
  top-level ``WS_PATH = "/ws"``; the launcher appends it to the ``ws://`` URL in
  ``serve.json``. The launcher waits for ``GET /health`` == 200 before calling a service ready,
  so do slow startup work (loading data) in the lifespan, not lazily on the first request.
* **Binding.** Services bind ``127.0.0.1`` unless told otherwise; the launcher
  (:mod:`workbench.services.launcher`) starts each one in its own process with
  ``python -m workbench.services.run NAME --port P``.
"""

from __future__ import annotations

import asyncio
import bisect
import gc
import inspect
import itertools
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

import psutil
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException, WebSocketException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, request_response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "ApiError",
    "ServiceMetrics",
    "build_app",
    "configure_logging",
    "error_response",
    "field",
    "memory_snapshot",
    "pressure_level",
    "read_json",
    "run_in_thread",
]

DEFAULT_MAX_BODY_BYTES = 1 << 20
#: Latency buckets (seconds) fine enough to see sub-millisecond proxy overhead.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Generated request ids: a random per-process prefix and a counter (32 hex digits). Unique
# without a getrandom() system call per request, which costs several microseconds here.
_REQUEST_ID_PREFIX = os.urandom(8).hex()
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_request_ids = itertools.count()
_log = logging.getLogger("workbench.services")
_perf_counter = time.perf_counter


class ApiError(Exception):
    """An error that becomes a JSON response ``{"error": error, "detail": detail}``.

    Parameters
    ----------
    status : int
        HTTP status (4xx for bad input, 502/503/504 for a backend problem).
    error : str
        Short machine-readable code such as ``"invalid_field"``.
    detail : str
        Human-readable explanation naming the offending field or value.
    headers : mapping, optional
        Extra response headers (``Retry-After`` for 429/503).
    """

    def __init__(
        self, status: int, error: str, detail: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = dict(headers or {})


def error_response(
    status: int, error: str, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The one JSON error shape: ``{"error": error, "detail": detail}`` with ``status``."""
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
}


async def _api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.error, exc.detail, exc.headers)


async def _http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route for {request.method} {request.url.path}"
    return error_response(exc.status_code, code, detail, exc.headers)


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity, which RFC 8259 does not; letting them through
    # turns into 500s wherever a number reaches a database or a kernel.
    raise ValueError(f"{name} is not valid JSON (RFC 8259 has no NaN or Infinity)")


async def read_json(request: Request, *, expect: type | tuple[type, ...] = dict) -> Any:
    """Parse the request body as JSON, or raise :class:`ApiError` 422 saying why.

    The body size is already capped by :func:`build_app`'s limit (413 beyond it).

    Raises
    ------
    ApiError
        422 ``malformed_json`` for an empty or unparsable body, 422 ``invalid_request`` when
        the top-level value is not of type ``expect`` (an object by default).
    """
    body = await request.body()
    if not body:
        raise ApiError(422, "malformed_json", "request body is empty; expected a JSON object")
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, "malformed_json", f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        # Deeply nested arrays/objects exhaust the parser's recursion limit: bad input, not a
        # bug (a 500 here would also count as a backend failure in the gateway's breaker).
        raise ApiError(
            422, "malformed_json", "request body is not valid JSON: nested too deeply"
        ) from None
    if not isinstance(data, expect):
        kind = "object" if expect is dict else getattr(expect, "__name__", str(expect))
        raise ApiError(
            422, "invalid_request", f"request body must be a JSON {kind}, got {type(data).__name__}"
        )
    return data


_MISSING = object()


def field(
    body: Mapping[str, Any],
    name: str,
    kind: type | tuple[type, ...],
    default: Any = _MISSING,
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: Sequence[Any] | None = None,
) -> Any:
    """Fetch and validate one field of a JSON body, raising 422 :class:`ApiError` naming it.

    ``bool`` is never accepted where a number is expected (JSON ``true`` is not ``1``), and
    ``int`` is accepted where ``float`` is.

    Examples
    --------
    >>> field({"k": 3}, "k", int, lo=1)
    3
    >>> field({}, "k", int, 10)
    10
    """
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        if default is _MISSING:
            raise ApiError(422, "invalid_field", f"field {name!r} is required")
        return default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds and int not in kinds:
        kinds = (*kinds, int)
    if isinstance(value, bool) and bool not in kinds:
        ok = False
    else:
        ok = isinstance(value, kinds)
    if not ok:
        names = "/".join(k.__name__ for k in kinds)
        raise ApiError(
            422, "invalid_field", f"field {name!r} must be {names}, got {type(value).__name__}"
        )
    if lo is not None and value < lo:
        raise ApiError(422, "invalid_field", f"field {name!r} must be >= {lo}, got {value}")
    if hi is not None and value > hi:
        raise ApiError(422, "invalid_field", f"field {name!r} must be <= {hi}, got {value}")
    if choices is not None and value not in choices:
        raise ApiError(
            422, "invalid_field", f"field {name!r} must be one of {list(choices)}, got {value!r}"
        )
    return value


def run_in_thread(
    coro_fn: Callable[[], Coroutine[Any, Any, Any]], *, name: str = "wb-measure"
) -> Any:
    """Run ``coro_fn()`` to completion on a fresh event loop in a worker thread.

    For the synchronous measurement helpers: notebooks (ipykernel) already run an event loop
    in the main thread, where ``asyncio.run`` refuses to start another one. The result is
    returned and an exception re-raised in the caller's thread.

    Examples
    --------
    >>> async def answer():
    ...     return 42
    >>> run_in_thread(answer)
    42
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro_fn())
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    t = threading.Thread(target=target, name=name)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


# --------------------------------------------------------------------------- memory


def pressure_level(rss_bytes: int, limit_bytes: int | None = None) -> str:
    """``"low"``, ``"moderate"``, ``"high"`` or ``"critical"`` for an RSS against a limit.

    Without a limit the machine's available memory decides: the share of total memory the
    machine has in use. Thresholds 60 %, 80 %, 95 %.

    Examples
    --------
    >>> pressure_level(50, 100), pressure_level(85, 100), pressure_level(99, 100)
    ('low', 'high', 'critical')
    """
    if limit_bytes:
        share = rss_bytes / limit_bytes
    else:
        share = psutil.virtual_memory().percent / 100.0
    if share >= 0.95:
        return "critical"
    if share >= 0.80:
        return "high"
    if share >= 0.60:
        return "moderate"
    return "low"


def memory_snapshot(limit_bytes: int | None = None) -> dict[str, Any]:
    """Process memory as the ``/v1/memory`` endpoint reports it.

    Returns
    -------
    dict
        ``rss_bytes``, ``vms_bytes``, ``limit_bytes``, ``pressure`` (see
        :func:`pressure_level`), ``gc`` (``counts`` per generation, ``collections`` and
        ``collected`` totals per generation), ``pid``. The number of tracked objects is left
        out on purpose: ``gc.get_objects()`` builds a list of the whole heap, perturbing the
        very memory being reported.
    """
    info = psutil.Process().memory_info()
    stats = gc.get_stats()
    return {
        "pid": psutil.Process().pid,
        "rss_bytes": int(info.rss),
        "vms_bytes": int(info.vms),
        "limit_bytes": limit_bytes,
        "pressure": pressure_level(int(info.rss), limit_bytes),
        "gc": {
            "counts": list(gc.get_count()),
            "collections": [s.get("collections", 0) for s in stats],
            "collected": [s.get("collected", 0) for s in stats],
        },
    }


# --------------------------------------------------------------------------- metrics


class ServiceMetrics:
    """Prometheus metrics of one app, in a registry of its own.

    The per-request series (``workbench_http_request_duration_seconds{route, method,
    status}`` and ``workbench_http_requests_in_flight``) are plain counters exported by a
    collector at scrape time: they are updated only from the event loop's thread, so they
    need none of the locks ``prometheus_client``'s own metrics take on every update (four
    lock round-trips per request, a sizeable share of a trivial request's cost).

    Attributes
    ----------
    registry : CollectorRegistry
        Add service-specific collectors here (``Gauge(..., registry=metrics.registry)``).
    in_flight : int
        Requests being served right now (the middleware counts them).
    """

    _LATENCY = "workbench_http_request_duration_seconds"
    _IN_FLIGHT = "workbench_http_requests_in_flight"

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        self.in_flight = 0
        self._bounds = tuple(sorted(LATENCY_BUCKETS))
        # (route, method, status) -> [per-bucket counts (last: above every bound), sum]
        self._series: dict[tuple[str, str, int], list[Any]] = {}
        self.registry.register(self)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Record one request (event-loop thread only)."""
        series = self._series.get((route, method, status))
        if series is None:
            series = self._series[(route, method, status)] = [[0] * (len(self._bounds) + 1), 0.0]
        # Prometheus buckets are "less than or equal": bisect_left puts a value equal to a
        # bound into that bound's bucket.
        series[0][bisect.bisect_left(self._bounds, seconds)] += 1
        series[1] += seconds

    def describe(self) -> list[Any]:
        return [
            HistogramMetricFamily(self._LATENCY, "", labels=("route", "method", "status")),
            GaugeMetricFamily(self._IN_FLIGHT, ""),
        ]

    def collect(self) -> Any:
        """Export the request series (called by the registry when ``/metrics`` is scraped)."""
        hist = HistogramMetricFamily(
            self._LATENCY,
            "Request latency by route template, method and status.",
            labels=("route", "method", "status"),
        )
        edges = [floatToGoString(b) for b in self._bounds] + ["+Inf"]
        for (route, method, status), (counts, total) in list(self._series.items()):
            cumulative = list(itertools.accumulate(counts))
            hist.add_metric(
                [route, method, str(status)], list(zip(edges, cumulative, strict=True)), total
            )
        yield hist
        yield GaugeMetricFamily(self._IN_FLIGHT, "Requests being served right now.", self.in_flight)

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class _ServiceMiddleware:
    """The one layer around every service: request id, metrics, body-size limit, JSON errors.

    Pure ASGI (not ``BaseHTTPMiddleware``), and it also does the jobs of Starlette's own
    two outer layers (see :class:`_ServiceApp`): it answers exceptions from endpoints and
    from outside them (the router's 404 and 405, the service middleware's errors) with the
    app's exception handlers, any other exception with a logged JSON 500, and hands the
    handlers through the scope to the Starlette route wrappers that remain (sync endpoints,
    WebSocket routes). Every request passes here, and on the gateway's ``/health`` each
    layer of Python costs a visible share of the server's throughput.
    """

    def __init__(
        self,
        app: ASGIApp,
        metrics: ServiceMetrics,
        max_body_bytes: int,
        handlers: Mapping[Any, Callable[..., Any]],
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        by_type: dict[Any, Callable[..., Any]] = {WebSocketException: _websocket_exception}
        by_status: dict[int, Callable[..., Any]] = {}
        for key, handler in handlers.items():
            if isinstance(key, int):
                by_status[key] = handler
            else:
                by_type[key] = handler
        # The shape Starlette's route wrappers read from the scope (what its
        # ExceptionMiddleware would have put there).
        self.handlers = (by_type, by_status)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["starlette.exception_handlers"] = self.handlers
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = _perf_counter()
        request_id = None
        length = None
        chunked = False
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                candidate = value.decode("latin-1")
                if _REQUEST_ID_RE.match(candidate):
                    request_id = candidate
            elif key == b"content-length":
                length = value
            elif key == b"transfer-encoding":
                chunked = True
        if request_id is None:
            request_id = f"{_REQUEST_ID_PREFIX}{next(_request_ids) & 0xFFFFFFFFFFFFFFFF:016x}"
        scope.setdefault("state", {})["request_id"] = request_id
        rid_header = (b"x-request-id", request_id.encode("latin-1"))
        status = 0  # until the response starts

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        limit = self.max_body_bytes
        metrics = self.metrics
        metrics.in_flight += 1
        try:
            if length is None or chunked:
                # A chunked body's size is known only as it arrives. (With Transfer-Encoding
                # a Content-Length is ignored: RFC 9112, and h11 frames the body so.)
                app_receive = _limited_receive(receive, limit)
            else:
                try:
                    declared = int(length)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > limit:
                    await _reject_body(send_with_id, declared, limit)
                    return
                # The server delivers exactly the declared length, so no counting.
                app_receive = receive
            try:
                await self.app(scope, app_receive, send_with_id)
            except Exception as exc:
                if status:  # too late for an error response; the server closes the stream
                    _log.exception(
                        "error after the response started",
                        extra={"request_id": request_id, "path": scope["path"]},
                    )
                else:
                    await self._answer(exc, scope, app_receive, send_with_id, request_id)
        finally:
            metrics.in_flight -= 1
            route = scope.get("route")
            method = scope["method"]
            if method not in _METHODS:  # a client must not be able to mint new series
                method = "OTHER"
            metrics.observe(
                getattr(route, "path", None) or "<unmatched>",
                method,
                status or 500,
                _perf_counter() - start,
            )

    async def _answer(
        self, exc: Exception, scope: Scope, receive: Receive, send: Send, request_id: str
    ) -> None:
        """Respond to an exception that reached this layer (nothing was sent yet)."""
        if isinstance(exc, _BodyTooLargeError):
            await _reject_body(send, exc.size, self.max_body_bytes)
            return
        try:
            response = await _handler_response(exc, Request(scope, receive))
        except Exception:  # no handler for it, or the handler itself failed
            _log.exception(
                "unhandled error", extra={"request_id": request_id, "path": scope["path"]}
            )
            response = error_response(500, "internal", f"internal error (request id {request_id})")
        await response(scope, receive, send)


async def _handler_response(exc: Exception, request: Request) -> Response:
    """The app's exception handler's response to ``exc``, found as Starlette finds it.

    Raises
    ------
    Exception
        ``exc`` itself when no handler takes it, or whatever the handler raised.
    """
    by_type, by_status = request.scope["starlette.exception_handlers"]
    handler = by_status.get(exc.status_code) if isinstance(exc, HTTPException) else None
    if handler is None:
        handler = next((by_type[c] for c in type(exc).__mro__ if c in by_type), None)
    if handler is None:
        raise exc
    if inspect.iscoroutinefunction(handler):
        response = await handler(request, exc)
    else:  # as in Starlette, a plain function runs in the thread pool
        response = await run_in_threadpool(handler, request, exc)
        if inspect.isawaitable(response):
            response = await response
    if not isinstance(response, Response):
        raise TypeError(f"exception handler {handler!r} returned {response!r}, not a Response")
    return response


def _limited_receive(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises :class:`_BodyTooLargeError` once the body passes ``limit``.

    For bodies without a declared length (chunked); a declared one is checked up front.
    """
    received = 0

    async def receive_limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _BodyTooLargeError(received)
        return message

    return receive_limited


async def _reject_body(send: Send, size: int, limit: int) -> None:
    """413 for a body over ``limit`` bytes (400 for an invalid Content-Length), then close."""
    detail = (
        f"request body of {size} bytes exceeds the limit of {limit} bytes"
        if size >= 0
        else "invalid Content-Length header"
    )
    status = 413 if size >= 0 else 400
    body = json.dumps({"error": _HTTP_CODES[status], "detail": detail}, separators=(",", ":"))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})


class _BodyTooLargeError(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"request body passed {size} bytes")
        self.size = size


async def _websocket_exception(websocket: WebSocket, exc: Exception) -> None:
    assert isinstance(exc, WebSocketException)
    await websocket.close(code=exc.code, reason=exc.reason)


class _ServiceApp(Starlette):
    """Starlette whose middleware stack is the service's own middleware in one outer layer.

    Starlette wraps every app in ``ServerErrorMiddleware`` and ``ExceptionMiddleware``;
    :class:`_ServiceMiddleware` does both jobs (a catch-all JSON 500, the exception
    handlers), so the stack here is ``_ServiceMiddleware -> service middleware -> router``:
    two layers fewer on every request. Exception handlers added with
    ``add_exception_handler`` before the first request are honoured, as in Starlette.
    """

    def __init__(self, *, metrics: ServiceMetrics, max_body_bytes: int, **kwargs: Any) -> None:
        self._service_metrics = metrics
        self._max_body_bytes = max_body_bytes
        super().__init__(**kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        app: ASGIApp = self.router
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return _ServiceMiddleware(
            app, self._service_metrics, self._max_body_bytes, self.exception_handlers
        )


def _direct_endpoint(func: Callable[[Request], Coroutine[Any, Any, Response]]) -> ASGIApp:
    """An async endpoint as an ASGI app, without Starlette's per-route exception layer.

    Starlette wraps every endpoint in a layer that tracks whether the response started
    (three closures and an extra hop per message sent) to answer exceptions with the app's
    handlers. Here only the endpoint call can raise before anything is sent, so it is
    answered right there, with the endpoint's own ``Request`` (a body it read stays cached
    for the handler); an exception while sending reaches :class:`_ServiceMiddleware`.
    """

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        try:
            response = await func(request)
        except Exception as exc:
            response = await _handler_response(exc, request)
        await response(scope, receive, send)

    return app


async def _no_endpoint(request: Request) -> Response:  # pragma: no cover - never called
    raise NotImplementedError


#: The code of the wrapper ``starlette.routing.request_response`` puts around an endpoint:
#: :func:`build_app` replaces only that one, never a route's own middleware around it.
_STARLETTE_ENDPOINT_CODE = request_response(_no_endpoint).__code__  # type: ignore[attr-defined]


def build_app(
    name: str,
    routes: Sequence[BaseRoute],
    settings: Mapping[str, Any],
    *,
    lifespan: Callable[[Starlette], Any] | None = None,
    exception_handlers: Mapping[Any, Callable[..., Any]] | None = None,
    health: Callable[[Request], Any] | None = None,
    middleware: Sequence[Middleware] = (),
    metrics: ServiceMetrics | None = None,
) -> Starlette:
    """A Starlette app with the common routes, JSON errors, metrics and body limit.

    Parameters
    ----------
    name : str
        Service name, reported by ``/health`` and ``/v1/memory``.
    routes : sequence of routes
        The service's own routes; ``/health``, ``/metrics`` and ``/v1/memory`` are appended.
    settings : mapping
        The service settings (see the module docstring); stored as ``app.state.settings``.
    lifespan : callable, optional
        Starlette lifespan context manager for startup/shutdown work.
    exception_handlers : mapping, optional
        Extra handlers ``async (request, exc) -> Response``, merged over the JSON ones; keyed
        by exception class, or by status code for ``HTTPException`` (as in Starlette).
    health : endpoint, optional
        Replaces the default ``/health`` endpoint.
    middleware : sequence of Middleware
        Service middleware, placed inside the common layer (so it is timed and limited too).
        It sees every endpoint's response, error responses from the exception handlers
        included, but not the 404/405 of an unknown route or method, nor the answer to an
        exception it raises itself: the common layer sends those.
    metrics : ServiceMetrics, optional
        Pass one when service objects built before the app need its registry.

    Returns
    -------
    Starlette
        ``app.state.metrics`` is its :class:`ServiceMetrics`, ``app.state.settings`` the
        settings, ``app.state.service`` the name.
    """
    metrics = metrics or ServiceMetrics(name)
    limit = int(settings.get("max_body_bytes", DEFAULT_MAX_BODY_BYTES))
    memory_limit = settings.get("memory_limit_bytes")
    health_body = json.dumps({"status": "ok", "service": name}).encode()

    async def default_health(request: Request) -> Response:
        return Response(health_body, media_type="application/json")

    async def metrics_endpoint(request: Request) -> Response:
        return metrics.render()

    async def memory_endpoint(request: Request) -> Response:
        snap = memory_snapshot(int(memory_limit) if memory_limit else None)
        snap["service"] = name
        return JSONResponse(snap)

    common = [
        Route("/health", health or default_health, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/v1/memory", memory_endpoint, methods=["GET"]),
    ]
    handlers: dict[Any, Callable[..., Any]] = {
        ApiError: _api_error_handler,
        HTTPException: _http_exception_handler,
    }
    handlers.update(exception_handlers or {})
    app = _ServiceApp(
        metrics=metrics,
        max_body_bytes=limit,
        # Common routes first: /health is the hot path of every probe and load balancer, and
        # Starlette matches routes in order.
        routes=[*common, *routes],
        middleware=middleware,
        exception_handlers=handlers,
        lifespan=lifespan,
    )
    for route in app.routes:
        if (
            isinstance(route, Route)
            and inspect.iscoroutinefunction(route.endpoint)
            and getattr(route.app, "__code__", None) is _STARLETTE_ENDPOINT_CODE
        ):
            route.app = _direct_endpoint(route.endpoint)
    app.state.metrics = metrics
    app.state.settings = dict(settings)
    app.state.service = name
    return app


# --------------------------------------------------------------------------- logging


class _JsonFormatter(logging.Formatter):
    _SKIP = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
        "message",
        "color_message",
    }

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in self._SKIP and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


#: ``name=value`` pairs whose name says secret (``api_key=``, ``key=``, ``token=``,
#: ``access_token=``, ``secret=``, ``password=``...), as in a logged URL's query string.
_SECRET_QUERY_RE = re.compile(
    r"(?i)((?<![A-Za-z0-9])[A-Za-z0-9_.-]*(?:key|token|secret|password|passwd|signature)=)"
    r"[^&\s\"'#;,]+"
)
_BEARER_RE = re.compile(r"(?i)(\bbearer\s+)[^\s\"',;]+")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """``text`` with secret-looking query values and bearer tokens replaced by ``[redacted]``.

    Examples
    --------
    >>> redact('"WebSocket /ws?api_key=s3cret&x=1" 403')
    '"WebSocket /ws?api_key=[redacted]&x=1" 403'
    >>> redact("GET /a?token=t&page=2&key=k Authorization: Bearer abc")
    'GET /a?token=[redacted]&page=2&key=[redacted] Authorization: Bearer [redacted]'
    """
    if "=" in text:
        text = _SECRET_QUERY_RE.sub(r"\1" + REDACTED, text)
    if "earer" in text:
        text = _BEARER_RE.sub(r"\1" + REDACTED, text)
    return text


class _RedactFilter(logging.Filter):
    """Redacts secrets from every record's message, arguments and string extras.

    uvicorn logs request paths *with* their query string (``"WebSocket /ws?api_key=..."``),
    so a client that puts its key in the URL would otherwise have it written to the log.
    The message is formatted here, once, and its arguments dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format: let the handler report it as usual
            return True
        record.msg = redact(message)
        record.args = None
        for name, value in list(record.__dict__.items()):
            if isinstance(value, str) and name not in _JsonFormatter._SKIP:
                record.__dict__[name] = redact(value)
        if "color_message" in record.__dict__:
            del record.__dict__["color_message"]
        return True


def configure_logging(service: str, level: str | int = "INFO") -> None:
    """One JSON object per line on stderr for the ``workbench`` and ``uvicorn`` loggers.

    Every line carries ``service``. Callers must not pass secrets (keys, authorization
    headers, bodies) in ``extra``; as a safety net every record goes through a filter that
    redacts secret-looking query values (``api_key=``, ``key=``, ``token=``, ...) and bearer
    tokens, since uvicorn logs paths with their query strings (see :func:`redact`).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter())
    handler.addFilter(_RedactFilter())
    handler.addFilter(_ServiceFilter(service))
    for name in ("workbench", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level if isinstance(level, int) else level.upper())
        logger.propagate = False


class _ServiceFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        return True
