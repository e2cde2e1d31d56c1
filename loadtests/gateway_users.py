"""The gateway's endpoints, the scenarios that mix them, and the Locust users that call them.

Endpoints (all through the gateway, authenticated except ``health``):

============== ====================================== =========================================
name           request                                what it exercises
============== ====================================== =========================================
health         GET /health                            the gateway alone (no auth, no backend)
routing        GET /v1/graph/info                     auth + rate limit + proxy hop + a trivial
                                                      backend answer: the plan's "API Routing"
chat           POST /v1/chat                          ai-core routing to the llm stub
graph_query    POST /v1/graph/query (local_search)    graphrag's numba graph kernels
vector_search  POST /v1/vectors/search                graphrag's exact top-k
============== ====================================== =========================================

A scenario is a weight per endpoint; the keys ``agents`` and ``realtime`` weight the user
classes of ``users_datatier.py`` and ``users_realtime.py`` when those modules and services
are present. Weights can be overridden per run (``--weights chat=0,graph_query=3``).

This module imports Locust (and so gevent's monkey patching): only Locust processes load it.
"""

from __future__ import annotations

import json
import random
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.lock
from locust import FastHttpUser, task
from locust.exception import StopUser

from workbench.load.scenarios import EXTRA_KEYS, SCENARIOS, parse_weights

__all__ = [
    "ENDPOINTS",
    "EXTRA_KEYS",
    "SCENARIOS",
    "GatewayUser",
    "OpenGatewayUser",
    "configure",
    "parse_weights",
]


@dataclass(frozen=True)
class Endpoint:
    """One request kind: method, path, whether it needs the API key, and its body."""

    method: str
    path: str
    auth: bool
    body: Callable[[random.Random, Mapping[str, Any]], Any] | None = None


_PROMPTS = (
    "Summarise the migration plan in one sentence.",
    "Which service owns graph queries?",
    "List three risks of a rewrite.",
    "What is the p99 latency target?",
)


def _chat_body(rng: random.Random, info: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": rng.choice(_PROMPTS)}],
        "options": {"num_predict": 16},
    }


def _graph_body(rng: random.Random, info: Mapping[str, Any]) -> dict[str, Any]:
    n = int(info.get("n_nodes") or 6)
    return {
        "kind": "local_search",
        "seeds": [rng.randrange(n), rng.randrange(n)],
        "k": 2,
        "top": 10,
    }


def _vector_body(rng: random.Random, info: Mapping[str, Any]) -> dict[str, Any]:
    dim = int(info.get("dim") or 64)
    return {"vector": [rng.uniform(-1.0, 1.0) for _ in range(dim)], "k": 10}


ENDPOINTS: dict[str, Endpoint] = {
    "health": Endpoint("GET", "/health", auth=False),
    "routing": Endpoint("GET", "/v1/graph/info", auth=True),
    "chat": Endpoint("POST", "/v1/chat", auth=True, body=_chat_body),
    "graph_query": Endpoint("POST", "/v1/graph/query", auth=True, body=_graph_body),
    "vector_search": Endpoint("POST", "/v1/vectors/search", auth=True, body=_vector_body),
}


@dataclass
class _Config:
    """Per-process settings, filled by :func:`configure` at test start (on every node)."""

    api_key: str = ""
    mix: list[tuple[float, str]] = field(default_factory=lambda: [(1.0, "health")])
    think_s: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    info_fetched: bool = False
    clock: Any = None


CONFIG = _Config()


def configure(
    weights: Mapping[str, float], api_key: str, think_s: float = 0.0, clock: Any = None
) -> None:
    """Set the endpoint mix (cumulative weights), credentials, think time and arrival clock."""
    total = 0.0
    mix: list[tuple[float, str]] = []
    for name, w in weights.items():
        if name in ENDPOINTS and w > 0:
            total += float(w)
            mix.append((total, name))
    if not mix:
        raise ValueError(f"the scenario gives no gateway endpoint a weight > 0: {dict(weights)}")
    CONFIG.mix = [(c / total, n) for c, n in mix]
    CONFIG.api_key = api_key
    CONFIG.think_s = max(0.0, float(think_s))
    CONFIG.clock = clock


_INFO_LOCK = gevent.lock.Semaphore()


def _fetch_info(host: str) -> None:
    # Once per process, outside the Locust client so that it is not counted as load. The
    # other users wait for it: a vector of the wrong size would be a 422, not a measurement.
    with _INFO_LOCK:
        if CONFIG.info_fetched:
            return
        req = urllib.request.Request(
            host.rstrip("/") + "/v1/graph/info",
            headers={"Authorization": f"Bearer {CONFIG.api_key}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                CONFIG.info = json.loads(resp.read())
        except Exception:
            CONFIG.info = {}
        CONFIG.info_fetched = True


class _GatewayBase(FastHttpUser):
    abstract = True
    # Bounded requests: a hung server fails a request after this long instead of holding it.
    network_timeout = 30.0
    connection_timeout = 5.0

    def on_start(self) -> None:
        self._rng = random.Random(id(self) ^ int(time.time() * 1e6))
        _fetch_info(self.host or "")

    def _pick(self) -> str:
        x = self._rng.random()
        for cum, name in CONFIG.mix:
            if x < cum:
                return name
        return CONFIG.mix[-1][1]

    def call(self, name: str, context: dict[str, Any] | None = None) -> None:
        ep = ENDPOINTS[name]
        headers = {"Authorization": f"Bearer {CONFIG.api_key}"} if ep.auth else None
        body = ep.body(self._rng, CONFIG.info) if ep.body is not None else None
        self.client.request(
            ep.method, ep.path, name=name, headers=headers, json=body, context=context or {}
        )


class GatewayUser(_GatewayBase):
    """Closed model: each user sends its next request when the previous one returned
    (after the think time, 0 by default: as fast as the server allows)."""

    def wait_time(self) -> float:
        return CONFIG.think_s

    @task
    def request(self) -> None:
        self.call(self._pick())


class OpenGatewayUser(_GatewayBase):
    """Open model: takes the next intended send time from the process's arrival clock,
    sleeps until it, sends, and tags the request with it so that its latency is measured
    from the intended time (see :mod:`workbench.load.openmodel`)."""

    def wait_time(self) -> float:
        return 0.0

    @task
    def arrive(self) -> None:
        clock = CONFIG.clock
        # The clock starts once the pool is spawned; bounded by the test's own stop.
        while clock is None or not clock.started:
            gevent.sleep(0.01)
            clock = CONFIG.clock
        intended = clock.next()
        if intended is None:
            raise StopUser()
        delay = intended - time.time()
        if delay > 0:
            gevent.sleep(delay)
        self.call(self._pick(), context={"wb_intended": intended})
