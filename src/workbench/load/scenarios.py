"""Scenarios: named endpoint mixes for the gateway load test.

The weights live here, in plain Python, so that the runner can validate a scenario without
importing Locust; ``loadtests/gateway_users.py`` holds the requests themselves.

Endpoints: ``health`` (``GET /health``, the gateway alone), ``routing`` (``GET
/v1/graph/info``: auth, rate limit, one proxy hop and a trivial backend answer - the plan's
"API Routing"), ``chat`` (``POST /v1/chat``), ``graph_query`` (``POST /v1/graph/query``,
``local_search``), ``vector_search`` (``POST /v1/vectors/search``). The keys ``agents`` and
``realtime`` weight the user classes of ``loadtests/users_datatier.py`` and
``loadtests/users_realtime.py`` when those modules and services are present.

Examples
--------
>>> weights_for("gateway", "health=0")
{'health': 0.0, 'routing': 3.0}
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["ENDPOINT_NAMES", "EXTRA_KEYS", "ROUTING_ENDPOINT", "SCENARIOS", "parse_weights",
           "weights_for"]  # fmt: skip

ENDPOINT_NAMES = ("health", "routing", "chat", "graph_query", "vector_search")
#: Scenario keys that weight other modules' user classes instead of gateway endpoints.
EXTRA_KEYS = ("agents", "realtime")
#: The endpoint whose latency stands for the plan's "API Routing" row.
ROUTING_ENDPOINT = "routing"

SCENARIOS: dict[str, dict[str, float]] = {
    # A mixed day: mostly cheap routed calls, some compute, some chat, agents CRUD and
    # WebSocket users when the data tier and realtime hub are running.
    "mixed": {
        "health": 1,
        "routing": 3,
        "chat": 1,
        "graph_query": 2,
        "vector_search": 2,
        "agents": 2,
        "realtime": 1,
    },
    "gateway": {"health": 1, "routing": 3},
    "health": {"health": 1},
    "routing": {"routing": 1},
    "chat": {"chat": 1},
    "graph": {"graph_query": 1},
    "vectors": {"vector_search": 1},
    "compute": {"graph_query": 1, "vector_search": 1},
}


def parse_weights(text: str | Mapping[str, float] | None) -> dict[str, float]:
    """``"chat=0,graph_query=3"`` (or a mapping) -> validated ``{name: weight}``."""
    items: list[tuple[str, str | float]] = []
    if isinstance(text, Mapping):
        items = list(text.items())
    else:
        for part in (text or "").split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"weights: expected NAME=WEIGHT, got {part!r}")
            items.append((key.strip(), value))
    out: dict[str, float] = {}
    for key, value in items:
        if key not in (*ENDPOINT_NAMES, *EXTRA_KEYS):
            raise ValueError(
                f"weights: unknown name {key!r}; known: {[*ENDPOINT_NAMES, *EXTRA_KEYS]}"
            )
        w = float(value)
        if not w >= 0:
            raise ValueError(f"weights: weight of {key} must be >= 0, got {value!r}")
        out[key] = w
    return out


def weights_for(
    scenario: str, overrides: str | Mapping[str, float] | None = None
) -> dict[str, float]:
    """The scenario's weights with ``overrides`` applied; at least one endpoint must remain.

    Raises
    ------
    ValueError
        Unknown scenario or endpoint, negative weight, or no gateway endpoint left.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; known: {sorted(SCENARIOS)}")
    w = {name: float(v) for name, v in {**SCENARIOS[scenario], **parse_weights(overrides)}.items()}
    if not any(w.get(n, 0) > 0 for n in ENDPOINT_NAMES):
        raise ValueError(
            f"scenario {scenario!r} with {overrides!r} leaves no endpoint with weight > 0"
        )
    return w
