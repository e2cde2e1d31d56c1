"""Fixtures for the load tests: the core services on free loopback ports, a stalling server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from workbench.load import DEFAULT_SERVICE_SETTINGS
from workbench.services.launcher import ServiceSet, running_services

#: Fast llm stub and a small graph/vector set: the tests check behaviour, not speed.
SETTINGS = {
    **DEFAULT_SERVICE_SETTINGS,
    "llm-stub": {"ttft_ms": 0, "tokens_per_s": 100_000, "jitter": 0.0},
    "graphrag": {"graph": {"scale": 10, "edge_factor": 8, "seed": 3},
                 "vectors": {"n": 2000, "dim": 32, "seed": 1}},
}  # fmt: skip


@pytest.fixture(scope="session")
def load_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceSet]:
    """llm-stub, ai-core, graphrag and gateway (rate limit lifted), stopped at the end."""
    state = tmp_path_factory.mktemp("serve-load")
    with running_services(
        ["llm-stub", "ai-core", "graphrag", "gateway"],
        ports="free",
        state_dir=state,
        settings=SETTINGS,
        ready_timeout=180,
    ) as svc:
        yield svc


@pytest.fixture
def stall_server(tmp_path: Path) -> Iterator[dict]:
    """A tiny Starlette app (``stall_app.py``) that answers at once, except for one window
    in which every request waits until the window ends; yields its URL and timing."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = Path(__file__).with_name("stall_app.py")
    proc = subprocess.Popen(
        [sys.executable, str(app), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("stall app did not start")
            time.sleep(0.1)
        yield {"url": url}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
