"""Locust users for the data tier: an HTTP CRUD mix on the agents API through the gateway.

Import :class:`DatatierUser` into a locustfile (``workbench load`` does); run it alone with::

    locust -f loadtests/users_datatier.py --headless -u 20 -r 5 -t 30s --host http://127.0.0.1:8700

The API key comes from ``--wb-api-key`` (when run through the workbench locustfile), else
``WORKBENCH_API_KEY``, else ``.workbench/serve.json`` written by ``workbench serve`` (which
also gives the gateway URL when ``--host`` is not set).

Each user owns a few agents (created in ``on_start`` with unique names, deleted in
``on_stop``), so users never step on each other and no request is expected to fail. The mix
is read-heavy, like the plan's "Database Ops": get by id 60 %, list with a filter 20 %,
update 10 %, create + delete 10 %. Requests are named by route template
(``/v1/agents/[id]``) so Locust aggregates them per operation.
"""

from __future__ import annotations

import os
import random
import uuid
from typing import Any

from locust import FastHttpUser, between, task

__all__ = ["DatatierUser", "api_key", "serve_info"]


def serve_info() -> dict[str, Any]:
    """Gateway URL and API key: environment first, then ``serve.json``; ``{}`` if neither."""
    info: dict[str, Any] = {}
    try:
        from workbench.services.launcher import read_serve_state

        info = dict(read_serve_state(os.environ.get("WORKBENCH_STATE_DIR")))
    except Exception:  # no serve.json: the caller must pass --host and the key itself
        info = {}
    if os.environ.get("WORKBENCH_API_KEY"):
        info["api_key"] = os.environ["WORKBENCH_API_KEY"]
    return info


_INFO = serve_info()


def api_key(environment: Any) -> str:
    """The key: ``--wb-api-key`` (the workbench locustfile's option), else the environment,
    else ``serve.json``."""
    opts = getattr(environment, "parsed_options", None)
    return (
        getattr(opts, "wb_api_key", "")
        or os.environ.get("WORKBENCH_API_KEY", "")
        or str(_INFO.get("api_key") or "")
    )


class DatatierUser(FastHttpUser):
    """CRUD mix on ``/v1/agents`` (see the module docstring)."""

    host = _INFO.get("gateway")
    wait_time = between(0.05, 0.2)
    #: Agents each user keeps alive to read and update.
    own_agents = 5

    def on_start(self) -> None:
        key = api_key(self.environment)
        self.headers = {"Authorization": f"Bearer {key}"}
        self.tag = f"load-{uuid.uuid4().hex[:10]}"
        self.ids: list[str] = []
        self.serial = 0
        for _ in range(self.own_agents):
            self._create()

    def on_stop(self) -> None:
        for agent_id in list(self.ids):
            self.client.delete(
                f"/v1/agents/{agent_id}", headers=self.headers, name="/v1/agents/[id]"
            )
        self.ids.clear()

    def _create(self) -> None:
        self.serial += 1
        body = {"name": f"{self.tag}-{self.serial}", "kind": self.tag, "config": {"n": self.serial}}
        with self.client.post(
            "/v1/agents", json=body, headers=self.headers, name="/v1/agents", catch_response=True
        ) as r:
            if r.status_code == 201:
                self.ids.append(r.json()["id"])
            else:
                r.failure(f"create: {r.status_code} {r.text[:200]}")

    @task(6)
    def get_agent(self) -> None:
        if self.ids:
            self.client.get(
                f"/v1/agents/{random.choice(self.ids)}", headers=self.headers,
                name="/v1/agents/[id]",
            )  # fmt: skip

    @task(2)
    def list_agents(self) -> None:
        self.client.get(
            "/v1/agents", params={"kind": self.tag, "limit": 20}, headers=self.headers,
            name="/v1/agents?kind",
        )  # fmt: skip

    @task(1)
    def update_agent(self) -> None:
        if self.ids:
            self.client.patch(
                f"/v1/agents/{random.choice(self.ids)}",
                json={"description": f"updated {random.random():.6f}"},
                headers=self.headers,
                name="/v1/agents/[id]",
            )

    @task(1)
    def create_and_delete(self) -> None:
        self._create()
        if len(self.ids) > self.own_agents:
            victim = self.ids.pop(0)
            self.client.delete(f"/v1/agents/{victim}", headers=self.headers, name="/v1/agents/[id]")
