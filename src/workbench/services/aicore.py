"""ai-core: chat completion routed across LLM providers with the shared routing policies.

``POST /v1/chat`` takes Ollama's chat message format::

    {"messages": [{"role": "user", "content": "..."}], "model": "optional",
     "stream": false, "options": {"num_predict": 64}}

and answers (non-streaming)::

    {"message": {"role": "assistant", "content": "..."}, "model": "...", "provider": "...",
     "prompt_tokens": 12, "completion_tokens": 32, "ttft_s": 0.05, "tokens_per_s": 190.0,
     "total_s": 0.22, "done_reason": "stop", "attempts": 1, "simulated": true}

With ``"stream": true`` the answer is NDJSON: one ``{"message": {...}, "done": false}`` line
per chunk, then a final line with ``"done": true`` and the fields above (content empty). An
error after streaming began ends the stream with a ``{"error": ..., "detail": ...,
"done": true}`` line.

Every provider is an Ollama API server reached through the official ``ollama`` client: the
llm stub (:mod:`workbench.services.llmstub`, simulated) and, when configured, a real Ollama
(``OLLAMA_HOST`` or the ``ollama_host`` setting). The choice among them, retries, fallback,
circuit breaking and cooldown come from :class:`workbench.sim.policies.LiveRouter`: the very
functions the router simulator runs, so the simulated and the live router cannot drift apart.
Time to first token is measured here (ai-core always streams from the provider).

Settings
--------
``providers``
    List of ``{"name", "host", "models": [...], "slots": 8, "cost_per_1k": 0,
    "prior_latency_s": 0, "weight": 1, "simulated": bool}``; default: the llm stub of the
    service set, plus a real Ollama when ``ollama_host``/``OLLAMA_HOST`` is set.
``routing``
    Keyword arguments of :class:`workbench.sim.policies.RoutingPolicy`; default
    ``{"name": "least_outstanding", "max_attempts": 2, "attempt_timeout_s": 30,
    "breaker_failures": 5, "breaker_open_s": 5}``.
``default_model``
    Model used when a request names none (default: the first provider's first model).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import ollama
from prometheus_client import Counter, Histogram
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from workbench.services.common import ApiError, build_app, read_json
from workbench.services.common import field as body_field
from workbench.sim import policies as pol

__all__ = ["DEFAULT_ROUTING", "Provider", "create_app"]

DEFAULT_ROUTING: dict[str, Any] = {
    "name": "least_outstanding",
    "max_attempts": 2,
    "attempt_timeout_s": 30.0,
    "breaker_failures": 5,
    "breaker_open_s": 5.0,
}
STUB_MODEL = "workbench-stub:latest"
_ROLES = ("system", "user", "assistant", "tool")


@dataclass
class Provider:
    """One Ollama-API provider and its client."""

    name: str
    host: str
    models: list[str]
    slots: int = 8
    cost_per_1k: float = 0.0
    prior_latency_s: float = 0.0
    weight: float = 1.0
    simulated: bool = False
    client: ollama.AsyncClient | None = field(default=None, repr=False)

    def serves(self, model: str) -> bool:
        return (
            not self.models
            or model in self.models
            or model.split(":")[0] in {m.split(":")[0] for m in self.models}
        )


def _providers(settings: Mapping[str, Any]) -> list[Provider]:
    raw = settings.get("providers")
    if raw is None:
        raw = []
        stub = settings.get("urls", {}).get("llm-stub")
        if stub:
            raw.append(
                {"name": "llm-stub", "host": stub, "models": [STUB_MODEL], "simulated": True}
            )
        real = settings.get("ollama_host") or os.environ.get("OLLAMA_HOST")
        if real:
            raw.append(
                {"name": "ollama", "host": real, "models": settings.get("ollama_models", [])}
            )
    if not raw:
        raise ValueError("ai-core settings: no providers (set 'providers' or start the llm stub)")
    out = []
    for i, p in enumerate(raw):
        if not isinstance(p, Mapping) or "host" not in p:
            raise ValueError(f"ai-core settings: providers[{i}] needs a 'host'")
        out.append(
            Provider(
                name=str(p.get("name", f"provider-{i}")),
                host=str(p["host"]),
                models=[str(m) for m in p.get("models", [])],
                slots=int(p.get("slots", 8)),
                cost_per_1k=float(p.get("cost_per_1k", 0.0)),
                prior_latency_s=float(p.get("prior_latency_s", 0.0)),
                weight=float(p.get("weight", 1.0)),
                simulated=bool(p.get("simulated", False)),
            )
        )
    return out


class _AttemptError(Exception):
    def __init__(self, outcome: int, status: int, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.status = status
        self.message = message


def _classify(exc: BaseException) -> _AttemptError:
    if isinstance(exc, _AttemptError):
        return exc
    if isinstance(exc, ollama.ResponseError):
        code = exc.status_code
        if code == 404:
            return _AttemptError(pol.OUTCOME_OK, 422, f"model not found: {exc.error}")
        if code == 429:
            return _AttemptError(
                pol.OUTCOME_RATE_LIMITED, 429, f"provider rate limited: {exc.error}"
            )
        if 400 <= code < 500:
            return _AttemptError(pol.OUTCOME_OK, 422, f"provider rejected the request: {exc.error}")
        return _AttemptError(pol.OUTCOME_ERROR, 502, f"provider error {code}: {exc.error}")
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return _AttemptError(pol.OUTCOME_TIMEOUT, 504, "provider timed out")
    # Connection refused/reset: the ollama client raises ConnectionError for these.
    return _AttemptError(pol.OUTCOME_ERROR, 503, f"provider unreachable: {type(exc).__name__}")


def create_app(settings: Mapping[str, Any]) -> Any:
    """ai-core's Starlette app (see the module docstring)."""
    cfg = dict(settings)
    providers = _providers(cfg)
    routing = {**DEFAULT_ROUTING, **dict(cfg.get("routing", {}))}
    policy = pol.RoutingPolicy(**routing)
    router = pol.LiveRouter(
        policy,
        slots=[p.slots for p in providers],
        weights=[p.weight for p in providers],
        cost_per_1k=[p.cost_per_1k for p in providers],
        prior_latency_s=[p.prior_latency_s for p in providers],
        seed=int(cfg.get("seed", 0)),
    )
    default_model = str(cfg.get("default_model") or (providers[0].models or [STUB_MODEL])[0])
    timeout = policy.attempt_timeout_s if policy.attempt_timeout_s != float("inf") else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        for p in providers:
            p.client = ollama.AsyncClient(host=p.host, timeout=timeout)
        # Compile the routing kernels now, not on the first request (numba JIT).
        router.choose()
        yield
        for p in providers:
            if p.client is not None:
                with contextlib.suppress(Exception):
                    await p.client.close()

    app = None  # assigned below; endpoints reach metrics through it

    def pick(model: str, tried: set[int]) -> int:
        last = -1
        for _ in range(len(providers) + 1):
            p = router.choose(exclude=last)
            if p < 0:
                break
            if p not in tried and providers[p].serves(model):
                return p
            last = p
        for i, prov in enumerate(providers):
            if (
                i not in tried
                and prov.serves(model)
                and pol.is_available(router.state, i, time.monotonic(), router.cfg)
            ):
                return i
        return -1

    def abandoned(p: int) -> None:
        """End an attempt the *client* gave up on (disconnect, cancellation): neutral.

        Frees the provider's outstanding slot (and its half-open probe) without counting an
        error or a success, so aborted streams can never open a provider's breaker. The
        shared kernels have no neutral outcome, hence the two state updates here.
        """
        st = router.state
        if st[p, pol.S_OUTSTANDING] > 0.0:
            st[p, pol.S_OUTSTANDING] -= 1.0
        if st[p, pol.S_BREAKER] == pol.BREAKER_HALF_OPEN and st[p, pol.S_PROBES] > 0.0:
            st[p, pol.S_PROBES] -= 1.0

    async def first_chunk(
        prov: Provider, model: str, messages: list[Any], options: Mapping[str, Any]
    ) -> tuple[AsyncIterator[Any], Any]:
        assert prov.client is not None
        stream = await prov.client.chat(
            model=model, messages=messages, options=options, stream=True
        )
        it = aiter(stream)
        return it, await anext(it)

    async def start_attempts(
        model: str, messages: list[Any], options: Mapping[str, Any]
    ) -> tuple[int, AsyncIterator[Any], Any, float, float, int]:
        tried: set[int] = set()
        last_err: _AttemptError | None = None
        for attempt in range(1, policy.max_attempts + 1):
            p = pick(model, tried)
            if p < 0:
                break
            if policy.fallback:  # otherwise a retry may go to the same provider
                tried.add(p)
            prov = providers[p]
            router.dispatched(p)
            t0 = time.perf_counter()
            try:
                async with asyncio.timeout(timeout):
                    it, chunk = await first_chunk(prov, model, messages, options)
                return p, it, chunk, t0, time.perf_counter() - t0, attempt
            except asyncio.CancelledError:
                abandoned(p)
                raise
            except Exception as exc:
                err = _classify(exc)
                router.completed(p, err.outcome, time.perf_counter() - t0)
                if err.status == 422:
                    raise ApiError(err.status, "provider_rejected", err.message) from None
                last_err = err
                if attempt < policy.max_attempts:
                    await asyncio.sleep(router.backoff(attempt))
        if last_err is None:
            raise ApiError(
                503,
                "no_provider",
                f"no provider available for model {model!r} (breakers open or none serves it)",
                {"Retry-After": "1"},
            )
        raise ApiError(last_err.status, "provider_failed", last_err.message, {"Retry-After": "1"})

    def stats(
        p: int, model: str, last: Any, t0: float, ttft: float, attempts: int, content: str
    ) -> dict[str, Any]:
        total = time.perf_counter() - t0
        n_out = int(getattr(last, "eval_count", 0) or 0)
        decode = max(total - ttft, 1e-9)
        prov = providers[p]
        metrics = app.state.metrics_llm
        metrics["ttft"].labels(prov.name).observe(ttft)
        n_in = int(getattr(last, "prompt_eval_count", 0) or 0)
        metrics["tokens"].labels(prov.name, "prompt").inc(n_in)
        metrics["tokens"].labels(prov.name, "completion").inc(n_out)
        return {
            "message": {"role": "assistant", "content": content},
            "model": getattr(last, "model", None) or model,
            "provider": prov.name,
            "prompt_tokens": n_in,
            "completion_tokens": n_out,
            "ttft_s": ttft,
            "tokens_per_s": (n_out / decode) if n_out else 0.0,
            "total_s": total,
            "done_reason": getattr(last, "done_reason", None) or "stop",
            "attempts": attempts,
            "simulated": prov.simulated,
        }

    async def chat(request: Request) -> Response:
        body = await read_json(request)
        messages = body_field(body, "messages", list)
        if not messages:
            raise ApiError(422, "invalid_field", "field 'messages' must not be empty")
        clean = []
        for i, m in enumerate(messages):
            if not isinstance(m, dict):
                raise ApiError(422, "invalid_field", f"messages[{i}] must be an object")
            role, content = m.get("role"), m.get("content")
            if role not in _ROLES:
                raise ApiError(
                    422, "invalid_field", f"messages[{i}].role must be one of {list(_ROLES)}"
                )
            if not isinstance(content, str):
                raise ApiError(422, "invalid_field", f"messages[{i}].content must be a string")
            clean.append({"role": role, "content": content})
        model = body_field(body, "model", str, default_model)
        stream = body_field(body, "stream", bool, False)
        options = body_field(body, "options", dict, {})
        if not any(prov.serves(model) for prov in providers):
            served = sorted({m for prov in providers for m in prov.models})
            raise ApiError(
                422, "unknown_model", f"no provider serves model {model!r}; known: {served}"
            )
        p, it, chunk, t0, ttft, attempts = await start_attempts(model, clean, options)

        if not stream:
            parts = [chunk.message.content or ""]
            last = chunk
            try:
                async with asyncio.timeout(timeout):
                    async for last in it:
                        parts.append(last.message.content or "")
            except asyncio.CancelledError:
                abandoned(p)
                raise
            except Exception as exc:
                err = _classify(exc)
                router.completed(p, err.outcome, time.perf_counter() - t0)
                raise ApiError(err.status, "provider_failed", err.message) from None
            finally:
                await _aclose(it)
            router.completed(p, pol.OUTCOME_OK, time.perf_counter() - t0)
            return JSONResponse(stats(p, model, last, t0, ttft, attempts, "".join(parts)))

        async def lines() -> AsyncIterator[bytes]:
            last = chunk
            ok = False
            client_gone = False
            try:
                if not chunk.done:
                    yield _line(
                        {
                            "message": {
                                "role": "assistant",
                                "content": chunk.message.content or "",
                            },
                            "done": False,
                        }
                    )
                    async for last in it:
                        if last.done:
                            break
                        yield _line(
                            {
                                "message": {
                                    "role": "assistant",
                                    "content": last.message.content or "",
                                },
                                "done": False,
                            }
                        )
                ok = True
                final = stats(p, model, last, t0, ttft, attempts, "")
                final["done"] = True
                yield _line(final)
            except (GeneratorExit, asyncio.CancelledError):
                # The client went away mid-stream: not the provider's fault.
                client_gone = True
                raise
            except Exception as exc:
                err = _classify(exc)
                yield _line({"error": "provider_failed", "detail": err.message, "done": True})
            finally:
                # End the provider's stream now (its HTTP response is closed, so the provider
                # stops generating), not whenever the garbage collector finalizes it. The
                # router's bookkeeping runs even if that close is cancelled: a provider whose
                # request never completes would look busy to least-outstanding routing forever.
                try:
                    await _aclose(it)
                finally:
                    if ok:
                        router.completed(p, pol.OUTCOME_OK, time.perf_counter() - t0)
                    elif client_gone:
                        abandoned(p)
                    else:
                        router.completed(p, pol.OUTCOME_ERROR, time.perf_counter() - t0)

        return _ClosingStream(lines(), media_type="application/x-ndjson")

    async def providers_endpoint(request: Request) -> Response:
        now = time.monotonic()
        return JSONResponse(
            {
                "policy": policy.name,
                "providers": [
                    {
                        "name": prov.name,
                        "host": prov.host,
                        "models": prov.models,
                        "simulated": prov.simulated,
                        "outstanding": int(router.state[i, pol.S_OUTSTANDING]),
                        "latency_ewma_s": float(router.state[i, pol.S_EWMA_S]),
                        "breaker": int(router.state[i, pol.S_BREAKER]),
                        "available": bool(pol.is_available(router.state, i, now, router.cfg)),
                    }
                    for i, prov in enumerate(providers)
                ],
            }
        )

    routes = [
        Route("/v1/chat", chat, methods=["POST"]),
        Route("/v1/providers", providers_endpoint, methods=["GET"]),
    ]
    app = build_app(cfg.get("name", "ai-core"), routes, cfg, lifespan=lifespan)
    reg = app.state.metrics.registry
    app.state.metrics_llm = {
        "ttft": Histogram(
            "workbench_llm_ttft_seconds",
            "Time to first token by provider.",
            ["provider"],
            registry=reg,
        ),
        "tokens": Counter(
            "workbench_llm_tokens",
            "Tokens by provider and kind (prompt/completion).",
            ["provider", "kind"],
            registry=reg,
        ),
    }
    app.state.router = router
    return app


async def _aclose(it: Any) -> None:
    """Close a provider's chunk iterator (the ``ollama`` client's async generator, whose
    exit closes the HTTP response); harmless when it has finished already."""
    aclose = getattr(it, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


class _ClosingStream(StreamingResponse):
    """A streaming response that always closes its body iterator.

    Starlette stops iterating when the client disconnects (or ``send`` fails) but leaves the
    generator suspended at its ``yield``; it is finalized only when garbage collected, and
    until then the provider stream it holds stays open and the provider keeps generating.
    Closing it here runs its ``finally`` (which closes the provider stream) at once.
    """

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()


def _line(obj: Mapping[str, Any]) -> bytes:
    return (json.dumps(obj) + "\n").encode()
