"""An Ollama-API-compatible LLM stub with a token-throughput latency model.

It lets the real ``ollama`` client, ai-core and the whole request path run on a bare machine.
Everything it answers is **simulated**: responses carry ``X-Workbench-Provenance: simulated``
and figures derived from it must be recorded with ``provenance="simulated"``.

Routes (the subset of the Ollama API the workbench uses): ``POST /api/chat``,
``POST /api/generate``, ``POST /api/embed``, ``GET /api/tags``, ``GET /api/version``, plus the
common ``/health``, ``/metrics``, ``/v1/memory``. As in Ollama, ``stream`` defaults to true and
a streamed answer is NDJSON, one chunk per token, the last with ``done: true`` and the counters.
Errors keep Ollama's shape (``{"error": message}``, which the ``ollama`` client reads) plus the
workbench's ``detail``.

Latency model (settings, all optional)
--------------------------------------
``ttft_ms`` (50)
    Time to first token (prompt processing), milliseconds.
``tokens_per_s`` (200)
    Decode speed; token *i* is sent at ``ttft + i / tokens_per_s``.
``jitter`` (0.1)
    Relative spread: both times are scaled by a factor uniform in ``[1 - j, 1 + j]``.
``error_rate`` (0)
    Share of requests answered ``503 {"error": "server busy (simulated)"}``.
``max_tokens`` (32)
    Completion length unless the request's ``options.num_predict`` asks for fewer/more
    (capped at 4096).
``models`` (``["workbench-stub:latest"]``), ``embed_dim`` (64), ``seed`` (0).

Limits of ``POST /api/embed``: ``dimensions`` at most 4096, at most
:data:`MAX_EMBED_INPUTS` (256) inputs per request and at most :data:`MAX_EMBED_FLOATS`
(256 x 4096) floats in all (inputs x dimensions); beyond either the answer is 422
``too_many_inputs``. The vectors are computed on the event loop, so an unbounded batch
(1000 x 4096 took 3 s and 88 MB) would stall every other request of the stub.

Text and embeddings are deterministic functions of model and prompt; jitter and errors are
drawn from a generator seeded with ``seed``, so a run is reproducible for a request order.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from workbench.services.common import ApiError, build_app, field, read_json

__all__ = [
    "DEFAULTS",
    "MAX_EMBED_FLOATS",
    "MAX_EMBED_INPUTS",
    "LatencyModel",
    "create_app",
    "deterministic_text",
    "embed_text",
]

DEFAULTS: dict[str, Any] = {
    "ttft_ms": 50.0,
    "tokens_per_s": 200.0,
    "jitter": 0.1,
    "error_rate": 0.0,
    "max_tokens": 32,
    "models": ["workbench-stub:latest"],
    "embed_dim": 64,
    "seed": 0,
}
#: Most inputs one ``/api/embed`` request may carry.
MAX_EMBED_INPUTS = 256
#: Most floats (inputs x dimensions) one ``/api/embed`` answer may hold.
MAX_EMBED_FLOATS = 256 * 4096
_MAX_TOKENS_CAP = 4096
_HEADERS = {"X-Workbench-Provenance": "simulated"}
_VOCAB = (  # noqa: SIM905 - prose reads better than a word list
    "the graph query returns a ranked set of nodes whose scores follow from personalised "
    "pagerank over the local neighbourhood while the gateway measures latency and memory "
    "under load so that each claim in the migration plan meets its evidence token by token"
).split()


def _seed_of(*parts: str) -> int:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def deterministic_text(model: str, prompt: str, n_tokens: int) -> list[str]:
    """The stub's answer: ``n_tokens`` word tokens, a pure function of model and prompt.

    Examples
    --------
    >>> deterministic_text("m", "hi", 3) == deterministic_text("m", "hi", 3)
    True
    >>> len(deterministic_text("m", "hi", 5))
    5
    """
    rng = np.random.default_rng(_seed_of(model, prompt))
    idx = rng.integers(0, len(_VOCAB), size=n_tokens)
    return [(" " if i else "") + _VOCAB[j] for i, j in enumerate(idx)]


def embed_text(model: str, text: str, dim: int) -> list[float]:
    """A deterministic unit-norm embedding of ``text`` (``dim`` floats)."""
    rng = np.random.default_rng(_seed_of("embed", model, text))
    v = rng.standard_normal(dim)
    v /= np.linalg.norm(v)
    return [float(x) for x in v]


class LatencyModel:
    """Time to first token and decode speed with seeded jitter and error draws."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.ttft = float(settings["ttft_ms"]) / 1000.0
        self.tps = float(settings["tokens_per_s"])
        self.jitter = float(settings["jitter"])
        self.error_rate = float(settings["error_rate"])
        if self.ttft < 0 or self.tps <= 0 or not 0 <= self.jitter < 1:
            raise ValueError(
                "llm-stub settings: need ttft_ms >= 0, tokens_per_s > 0, 0 <= jitter < 1"
            )
        if not 0 <= self.error_rate <= 1:
            raise ValueError("llm-stub settings: error_rate must be in [0, 1]")
        self._rng = np.random.default_rng(int(settings["seed"]))

    def draw(self) -> tuple[float, float, bool]:
        """(time to first token s, seconds per token, fail?) for one request."""
        u1, u2, u3 = self._rng.random(3)
        f1 = 1.0 + self.jitter * (2.0 * u1 - 1.0)
        f2 = 1.0 + self.jitter * (2.0 * u2 - 1.0)
        return self.ttft * f1, f2 / self.tps, bool(u3 < self.error_rate)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _ollama_error(status: int, message: str) -> ApiError:
    # Ollama's clients read the "error" key as the message, so it carries the text here.
    return ApiError(status, message, message, _HEADERS)


def create_app(settings: Mapping[str, Any]) -> Any:
    """The llm stub's Starlette app (see the module docstring for settings)."""
    cfg = {**DEFAULTS, **dict(settings)}
    latency = LatencyModel(cfg)
    models = [str(m) for m in cfg["models"]]
    aliases = {m: m for m in models} | {m.split(":")[0]: m for m in models}
    dim = int(cfg["embed_dim"])
    default_tokens = int(cfg["max_tokens"])

    def resolve_model(body: Mapping[str, Any]) -> str:
        name = field(body, "model", str)
        if name not in aliases:
            raise _ollama_error(404, f"model '{name}' not found")
        return aliases[name]

    def n_tokens(body: Mapping[str, Any]) -> int:
        options = field(body, "options", dict, {})
        n = options.get("num_predict", default_tokens)
        if isinstance(n, bool) or not isinstance(n, int):
            raise ApiError(422, "invalid_field", "field 'options.num_predict' must be int")
        return default_tokens if n < 0 else min(n, _MAX_TOKENS_CAP)

    def prompt_tokens(text: str) -> int:
        return max(1, len(text.split()))

    async def generate_tokens(
        model: str, prompt: str, n: int, make_chunk: Any, make_final: Any, stream: bool
    ) -> Response:
        ttft, per_token, fail = latency.draw()
        if fail:
            await asyncio.sleep(ttft)
            raise _ollama_error(503, "server busy (simulated)")
        tokens = deterministic_text(model, prompt, n)
        n_prompt = prompt_tokens(prompt)

        def stats(t_first: float, t_end: float) -> dict[str, Any]:
            return {
                "done": True,
                "done_reason": "stop" if n < _MAX_TOKENS_CAP else "length",
                "total_duration": int((t_end - t_start) * 1e9),
                "load_duration": 0,
                "prompt_eval_count": n_prompt,
                "prompt_eval_duration": int((t_first - t_start) * 1e9),
                "eval_count": n,
                "eval_duration": int((t_end - t_first) * 1e9),
            }

        t_start = time.perf_counter()
        if not stream:
            await asyncio.sleep(ttft + per_token * n)
            t_end = time.perf_counter()
            body = make_final("".join(tokens)) | stats(t_start + ttft, t_end)
            return JSONResponse(body, headers=_HEADERS)

        async def chunks() -> AsyncIterator[bytes]:
            await asyncio.sleep(ttft)
            t_first = time.perf_counter()
            for i, tok in enumerate(tokens):
                # Pace against the schedule, not by fixed sleeps, so rounding does not drift.
                delay = t_first + i * per_token - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                yield (json.dumps(make_chunk(tok)) + "\n").encode()
            delay = t_first + n * per_token - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            final = make_final("") | stats(t_first, time.perf_counter())
            yield (json.dumps(final) + "\n").encode()

        return StreamingResponse(chunks(), media_type="application/x-ndjson", headers=_HEADERS)

    async def chat(request: Request) -> Response:
        body = await read_json(request)
        model = resolve_model(body)
        messages = field(body, "messages", list, [])
        parts = []
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict) or not isinstance(msg.get("role"), str):
                raise ApiError(422, "invalid_field", f"messages[{i}] must be an object with a role")
            content = msg.get("content", "")
            if not isinstance(content, str):
                raise ApiError(422, "invalid_field", f"messages[{i}].content must be a string")
            parts.append(f"{msg['role']}: {content}")
        stream = field(body, "stream", bool, True)
        n = n_tokens(body)

        def chunk(tok: str) -> dict[str, Any]:
            return {
                "model": model,
                "created_at": _now(),
                "message": {"role": "assistant", "content": tok},
                "done": False,
            }

        def final(text: str) -> dict[str, Any]:
            return {
                "model": model,
                "created_at": _now(),
                "message": {"role": "assistant", "content": text},
            }

        return await generate_tokens(model, "\n".join(parts), n, chunk, final, stream)

    async def generate(request: Request) -> Response:
        body = await read_json(request)
        model = resolve_model(body)
        prompt = field(body, "prompt", str, "")
        system = field(body, "system", str, "")
        stream = field(body, "stream", bool, True)
        n = n_tokens(body) if prompt else 0

        def chunk(tok: str) -> dict[str, Any]:
            return {"model": model, "created_at": _now(), "response": tok, "done": False}

        def final(text: str) -> dict[str, Any]:
            return {"model": model, "created_at": _now(), "response": text}

        return await generate_tokens(model, system + "\n" + prompt, n, chunk, final, stream)

    async def embed(request: Request) -> Response:
        body = await read_json(request)
        model = resolve_model(body)
        raw = body.get("input")
        inputs = [raw] if isinstance(raw, str) else raw
        if not isinstance(inputs, list) or not all(isinstance(s, str) for s in inputs):
            raise ApiError(
                422, "invalid_field", "field 'input' must be a string or list of strings"
            )
        d = field(body, "dimensions", int, dim, lo=1, hi=4096)
        if len(inputs) > MAX_EMBED_INPUTS:
            raise ApiError(
                422,
                "too_many_inputs",
                f"field 'input' has {len(inputs)} strings; at most {MAX_EMBED_INPUTS} per request",
            )
        if len(inputs) * d > MAX_EMBED_FLOATS:
            raise ApiError(
                422,
                "too_many_inputs",
                f"{len(inputs)} inputs x {d} dimensions = {len(inputs) * d} floats; at most "
                f"{MAX_EMBED_FLOATS} per request (send fewer inputs or dimensions)",
            )
        t0 = time.perf_counter()
        vectors = [embed_text(model, s, d) for s in inputs]
        return JSONResponse(
            {
                "model": model,
                "embeddings": vectors,
                "total_duration": int((time.perf_counter() - t0) * 1e9),
                "load_duration": 0,
                "prompt_eval_count": sum(prompt_tokens(s) for s in inputs),
            },
            headers=_HEADERS,
        )

    tags_body = {
        "models": [
            {
                "name": m,
                "model": m,
                "modified_at": "2026-01-01T00:00:00Z",
                "size": 0,
                "digest": hashlib.sha256(m.encode()).hexdigest(),
                "details": {
                    "format": "stub",
                    "family": "workbench-stub",
                    "families": ["workbench-stub"],
                    "parameter_size": "0B",
                    "quantization_level": "none",
                },
            }
            for m in models
        ]
    }

    async def tags(request: Request) -> Response:
        return JSONResponse(tags_body, headers=_HEADERS)

    async def version(request: Request) -> Response:
        return JSONResponse({"version": "0.0.0-workbench-stub"}, headers=_HEADERS)

    routes = [
        Route("/api/chat", chat, methods=["POST"]),
        Route("/api/generate", generate, methods=["POST"]),
        Route("/api/embed", embed, methods=["POST"]),
        Route("/api/tags", tags, methods=["GET"]),
        Route("/api/version", version, methods=["GET"]),
    ]
    app = build_app(cfg.get("name", "llm-stub"), routes, cfg)
    app.state.latency = latency
    return app
