"""Locust users for the realtime hub: WebSocket clients that publish and time delivery.

Import :class:`RealtimeUser` into a locustfile (``workbench load`` does); run it alone with::

    locust -f loadtests/users_realtime.py --headless -u 50 -r 10 -t 30s

The hub URL comes from ``WORKBENCH_REALTIME_URL`` or ``serve.json`` (key ``"realtime"``), the
key from ``--wb-api-key`` (the workbench locustfile's option), ``WORKBENCH_API_KEY`` or
``serve.json``. Each user opens one WebSocket (authenticating with an ``Authorization:
Bearer`` header, never in the URL), subscribes to one of ``channels`` shared channels, and
publishes a small message about once a second carrying ``time.time_ns()``. Every delivered
message is reported to Locust as request type ``WS``, name ``publish->receive``, with the
end-to-end latency (publisher's clock to receiver's clock, same machine) as response time;
so with ``u`` users and ``c`` channels each publish yields about ``u / c`` samples. Sends
are reported as ``WS publish`` (time to hand the frame to the socket), connects as
``WS connect``. A connection refused or dropped by the hub is a failure.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

import gevent
from locust import User, constant_pacing, task
from websockets.sync.client import connect

__all__ = ["RealtimeUser"]


def _hub() -> tuple[str | None, str]:
    info: dict[str, Any] = {}
    try:
        from workbench.services.launcher import read_serve_state

        info = dict(read_serve_state(os.environ.get("WORKBENCH_STATE_DIR")))
    except Exception:  # no serve.json: rely on the environment
        info = {}
    url = os.environ.get("WORKBENCH_REALTIME_URL") or info.get("realtime")
    key = os.environ.get("WORKBENCH_API_KEY") or info.get("api_key") or ""
    return url, key


class RealtimeUser(User):
    """One WebSocket per user: subscribe, publish, measure (see the module docstring)."""

    wait_time = constant_pacing(1.0)
    #: Shared channels; users are spread over them round-robin.
    channels = 4
    payload_bytes = 64
    _counter = 0

    def on_start(self) -> None:
        url, key = _hub()
        opts = getattr(self.environment, "parsed_options", None)
        key = getattr(opts, "wb_api_key", "") or key
        if not url:
            raise RuntimeError("no realtime URL: set WORKBENCH_REALTIME_URL or run workbench serve")
        RealtimeUser._counter += 1
        self.channel = f"load.{RealtimeUser._counter % self.channels}"
        self.sender = uuid.uuid4().hex[:8]
        self.pad = "x" * self.payload_bytes
        events = self.environment.events.request
        t0 = time.perf_counter()
        try:
            self.ws = connect(url, additional_headers={"Authorization": f"Bearer {key}"},
                              open_timeout=10, max_size=2**20)  # fmt: skip
            self._await("welcome")
            self.ws.send(json.dumps({"action": "subscribe", "channel": self.channel}))
            self._await("subscribed")
        except Exception as exc:
            events.fire(request_type="WS", name="connect", response_time=_ms(t0),
                        response_length=0, exception=exc)  # fmt: skip
            raise
        events.fire(request_type="WS", name="connect", response_time=_ms(t0),
                    response_length=0, exception=None)  # fmt: skip
        self.reader = gevent.spawn(self._read)

    def _await(self, kind: str) -> dict[str, Any]:
        while True:
            msg = json.loads(self.ws.recv(timeout=10))
            if msg.get("type") == kind:
                return msg
            if msg.get("type") == "error":
                raise RuntimeError(f"hub error: {msg}")

    def _read(self) -> None:
        events = self.environment.events.request
        try:
            for raw in self.ws:
                now = time.time_ns()
                msg = json.loads(raw)
                kind = msg.get("type")
                if kind == "message":
                    sent = msg.get("data", {}).get("sent_ns")
                    if isinstance(sent, int):
                        events.fire(request_type="WS", name="publish->receive",
                                    response_time=(now - sent) / 1e6, response_length=len(raw),
                                    exception=None)  # fmt: skip
                elif kind == "error":
                    events.fire(request_type="WS", name="error", response_time=0,
                                response_length=len(raw),
                                exception=RuntimeError(msg.get("detail")))  # fmt: skip
        except Exception as exc:
            if not getattr(self, "stopping", False):
                events.fire(request_type="WS", name="connection", response_time=0,
                            response_length=0, exception=exc)  # fmt: skip

    @task
    def publish(self) -> None:
        data = {"sent_ns": time.time_ns(), "from": self.sender, "pad": self.pad}
        text = json.dumps({"action": "publish", "channel": self.channel, "data": data})
        t0 = time.perf_counter()
        exc = None
        try:
            self.ws.send(text)
        except Exception as e:
            exc = e
        self.environment.events.request.fire(
            request_type="WS", name="publish", response_time=_ms(t0), response_length=len(text),
            exception=exc,
        )  # fmt: skip

    def on_stop(self) -> None:
        self.stopping = True
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()
        reader = getattr(self, "reader", None)
        if reader is not None:
            reader.join(timeout=2)


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0
