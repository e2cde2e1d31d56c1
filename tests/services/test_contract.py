"""The gateway meets its OpenAPI contract: schemathesis-generated requests, no 5xx, no violations.

The schema is the in-code contract (:data:`workbench.services.openapi.OPENAPI`); the first test
checks the running gateway serves exactly it. Point ``base_url`` at another implementation
(a Go or Rust gateway) to hold it to the same contract.

The gateway runs with every backend it proxies (ai-core with the llm stub, graphrag, the data
tier on a throwaway SQLite file), so every operation in the document is exercised end to end.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from workbench.services.openapi import OPENAPI

pytestmark = pytest.mark.services

schema = schemathesis.openapi.from_dict(OPENAPI)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_gateway_serves_the_contract(all_services):
    assert httpx.get(all_services.gateway + "/openapi.json").json() == OPENAPI


def test_every_proxied_route_is_in_the_contract():
    """Each route prefix the gateway proxies has at least one operation in the document."""
    from workbench.services.gateway import BACKEND_ROUTES

    paths = OPENAPI["paths"]
    for prefix, _backend in BACKEND_ROUTES:
        assert any(p == prefix.rstrip("/") or p.startswith(prefix) for p in paths), prefix
    for path in (
        "/v1/graph/info",
        "/v1/agents/{agent_id}",
        "/v1/conversations/{conversation_id}",
        "/v1/conversations/{conversation_id}/messages",
        "/v1/agents/batch",
    ):
        assert path in paths, path


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_contract(case, all_services):
    case.call_and_validate(
        base_url=all_services.gateway,
        headers=all_services.headers(),
        checks=CHECKS,
        timeout=30,
    )


def test_data_tier_and_graph_info_walk_conforms(all_services):
    """A create -> read -> page -> update -> delete walk through the gateway, every answer
    checked against the document: random ids (above) only ever reach the 404 branches."""
    walk = []

    def call(method: str, template: str, path: str, expect: int, **kw) -> httpx.Response:
        r = gw.request(method, path, **kw)
        assert r.status_code == expect, (method, path, r.status_code, r.text)
        schema[template][method].validate_response(r)
        walk.append((method, template, expect))
        return r

    with httpx.Client(base_url=all_services.gateway, headers=all_services.headers()) as gw:
        info = call("GET", "/v1/graph/info", "/v1/graph/info", 200).json()
        assert info["n_nodes"] > 0 and info["dim"] == 32
        kind = "walk-" + httpx.get(all_services.gateway + "/health").headers["x-request-id"][:8]
        agent = call(
            "POST",
            "/v1/agents",
            "/v1/agents",
            201,
            json={"name": f"{kind}-a", "kind": kind, "config": {"x": [1, 2]}},
        ).json()
        call("POST", "/v1/agents", "/v1/agents", 409, json={"name": f"{kind}-a"})
        call(
            "POST",
            "/v1/agents/batch",
            "/v1/agents/batch",
            201,
            json={
                "items": [{"name": f"{kind}-b", "kind": kind}, {"name": f"{kind}-c", "kind": kind}]
            },
        )
        page = call(
            "GET", "/v1/agents", "/v1/agents", 200, params={"kind": kind, "limit": 2}
        ).json()
        assert len(page["items"]) == 2 and isinstance(page["next_cursor"], str)
        rest = call(
            "GET",
            "/v1/agents",
            "/v1/agents",
            200,
            params={"kind": kind, "cursor": page["next_cursor"]},
        ).json()
        # Ids sort by creation millisecond, then at random: the order within one batch is not
        # fixed, but the two pages hold each agent exactly once.
        names = [a["name"] for a in page["items"] + rest["items"]]
        assert sorted(names) == [f"{kind}-{x}" for x in "abc"] and rest["next_cursor"] is None
        call("GET", "/v1/agents", "/v1/agents", 422, params={"cursor": "x", "offset": 1})
        one = "/v1/agents/{agent_id}"
        call("GET", one, f"/v1/agents/{agent['id']}", 200)
        updated = call(
            "PATCH", one, f"/v1/agents/{agent['id']}", 200, json={"status": "inactive"}
        ).json()
        assert updated["version"] == 2
        call("PATCH", one, f"/v1/agents/{agent['id']}", 409, json={"name": f"{kind}-b"})
        conv = call(
            "POST",
            "/v1/conversations",
            "/v1/conversations",
            201,
            json={
                "agent_id": agent["id"],
                "title": "t",
                "messages": [{"role": "user", "content": "hi"}],
            },
        ).json()
        assert conv["message_count"] == 1 and conv["messages"][0]["seq"] == 1
        call("POST", "/v1/conversations", "/v1/conversations", 422, json={"agent_id": "0" * 32})
        call("GET", "/v1/conversations", "/v1/conversations", 200, params={"agent_id": agent["id"]})
        c1 = "/v1/conversations/{conversation_id}"
        call("GET", c1, f"/v1/conversations/{conv['id']}", 200)
        msgs = "/v1/conversations/{conversation_id}/messages"
        call(
            "POST",
            msgs,
            f"/v1/conversations/{conv['id']}/messages",
            201,
            json={"role": "assistant", "content": "hello"},
        )
        call(
            "POST",
            msgs,
            f"/v1/conversations/{conv['id']}/messages",
            201,
            json={"messages": [{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}]},
        )
        page = call(
            "GET", msgs, f"/v1/conversations/{conv['id']}/messages", 200, params={"limit": 3}
        ).json()
        assert [m["seq"] for m in page["items"]] == [1, 2, 3] and page["next_after_seq"] == 3
        call("DELETE", c1, f"/v1/conversations/{conv['id']}", 204)
        call("GET", c1, f"/v1/conversations/{conv['id']}", 404)
        call("DELETE", one, f"/v1/agents/{agent['id']}", 204)
        call("GET", one, f"/v1/agents/{agent['id']}", 404)
    # Every operation of the data tier and graph info reached a success status at least once.
    ops = {(m, t) for m, t, s in walk if s < 300}
    for path, item in OPENAPI["paths"].items():
        if path.startswith(("/v1/agents", "/v1/conversations", "/v1/graph/info")):
            for method in item:
                assert (method.upper(), path) in ops, (method, path)
