"""Fixtures that start the reference services as real processes on free loopback ports.

Every set is started by :func:`workbench.services.launcher.running_services` with OS-chosen
free ports and a temporary state dir, so runs never clash with a developer's
``workbench serve`` or with each other, and every process is stopped at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from workbench.services.launcher import ServiceSet, running_services

#: A real Ollama server for the opt-in integration test (``real_ollama_host``). Taken out of
#: the environment so that every other test's ai-core routes to the llm stub only (ai-core
#: adds an ``OLLAMA_HOST`` server as a provider, which would make their answers depend on it).
_REAL_OLLAMA_HOST = os.environ.pop("OLLAMA_HOST", None)

#: A fast llm stub: tests check behaviour, not the latency model.
FAST_STUB = {"ttft_ms": 0, "tokens_per_s": 100_000, "jitter": 0.0}
#: A small graph and vector set so graphrag starts in seconds.
SMALL_GRAPHRAG = {"graph": {"scale": 10, "edge_factor": 8, "seed": 3},
                  "vectors": {"n": 2000, "dim": 32, "seed": 1}}  # fmt: skip


@pytest.fixture(scope="session")
def core_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceSet]:
    """llm-stub, ai-core, graphrag and gateway, shared by the read-only integration tests."""
    state = tmp_path_factory.mktemp("serve-core")
    with running_services(
        ["llm-stub", "ai-core", "graphrag", "gateway"],
        ports="free",
        state_dir=state,
        settings={"llm-stub": FAST_STUB, "graphrag": SMALL_GRAPHRAG},
        ready_timeout=120,
    ) as svc:
        yield svc


@pytest.fixture(scope="session")
def all_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceSet]:
    """The gateway with every backend it proxies (data tier on a throwaway SQLite file)."""
    state = tmp_path_factory.mktemp("serve-all")
    with running_services(
        ["llm-stub", "ai-core", "graphrag", "datatier", "gateway"],
        ports="free",
        state_dir=state,
        settings={
            "llm-stub": FAST_STUB,
            "graphrag": SMALL_GRAPHRAG,
            "datatier": {"database_url": f"sqlite:///{state / 'datatier.sqlite3'}"},
        },
        ready_timeout=120,
        write_state=False,
    ) as svc:
        yield svc


@pytest.fixture(scope="session")
def fast_stub() -> dict:
    """Settings of an llm stub without latency."""
    return dict(FAST_STUB)


@pytest.fixture(scope="session")
def real_ollama_host() -> str:
    """``OLLAMA_HOST`` as set when the tests started; the test is skipped without it."""
    if not _REAL_OLLAMA_HOST:
        pytest.skip("OLLAMA_HOST is not set: no real Ollama server to test ai-core against")
    return _REAL_OLLAMA_HOST
