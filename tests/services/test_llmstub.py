"""The llm stub speaks the Ollama API: the official ``ollama`` client must work against it."""

from __future__ import annotations

import math

import httpx
import numpy as np
import ollama
import pytest
from starlette.testclient import TestClient

from workbench.services.llmstub import LatencyModel, create_app, deterministic_text

MODEL = "workbench-stub:latest"


@pytest.fixture(scope="module")
def client(core_services):
    return ollama.Client(host=core_services.urls["llm-stub"])


@pytest.mark.services
def test_list_models(client):
    assert [m.model for m in client.list().models] == [MODEL]


@pytest.mark.services
def test_chat_non_streaming(client):
    r = client.chat(model="workbench-stub", messages=[{"role": "user", "content": "hello"}])
    assert r.done and r.message.role == "assistant"
    assert r.eval_count == 32 and r.prompt_eval_count >= 1
    assert r.message.content == "".join(deterministic_text(MODEL, "user: hello", 32))


@pytest.mark.services
def test_chat_streaming_matches_non_streaming(client):
    msgs = [{"role": "user", "content": "stream me"}]
    chunks = list(client.chat(model=MODEL, messages=msgs, stream=True, options={"num_predict": 7}))
    assert [c.done for c in chunks] == [False] * 7 + [True]
    assert chunks[-1].eval_count == 7 and chunks[-1].total_duration > 0
    whole = client.chat(model=MODEL, messages=msgs, options={"num_predict": 7})
    assert "".join(c.message.content for c in chunks) == whole.message.content


@pytest.mark.services
def test_generate_and_embed(client):
    r = client.generate(model=MODEL, prompt="why", options={"num_predict": 5})
    assert r.eval_count == 5 and len(r.response.split()) == 5
    e = client.embed(model=MODEL, input=["a", "b", "a"])
    vecs = np.asarray(e.embeddings)
    assert vecs.shape == (3, 64)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0)
    assert np.array_equal(vecs[0], vecs[2]) and not np.array_equal(vecs[0], vecs[1])


@pytest.mark.services
def test_unknown_model_is_ollama_style_404(client):
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="llama-missing", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 404 and "not found" in info.value.error


@pytest.mark.services
def test_simulated_provenance_header(core_services):
    r = httpx.get(core_services.urls["llm-stub"] + "/api/tags")
    assert r.headers["x-workbench-provenance"] == "simulated"


def test_error_rate_one_always_fails():
    app = create_app({"error_rate": 1.0, "ttft_ms": 0})
    with TestClient(app) as c:
        r = c.post("/api/chat", json={"model": MODEL, "messages": [], "stream": False})
    assert r.status_code == 503 and "simulated" in r.json()["error"]


def test_bad_requests_are_422():
    with TestClient(create_app({"ttft_ms": 0})) as c:
        assert c.post("/api/chat", json={"messages": []}).status_code == 422  # no model
        bad = {"model": MODEL, "messages": [{"role": "user", "content": 3}]}
        assert c.post("/api/chat", json=bad).status_code == 422
        assert c.post("/api/embed", json={"model": MODEL, "input": 5}).status_code == 422
        opts = {"model": MODEL, "prompt": "x", "options": {"num_predict": "many"}}
        assert c.post("/api/generate", json=opts).status_code == 422


def test_embed_batch_is_capped():
    with TestClient(create_app({"ttft_ms": 0})) as c:
        big = {"model": MODEL, "input": [f"t{i}" for i in range(1000)], "dimensions": 4096}
        r = c.post("/api/embed", json=big)
        assert r.status_code == 422 and r.json()["error"] == "too_many_inputs"
        r = c.post("/api/embed", json={**big, "input": ["x"] * 257, "dimensions": 8})
        assert r.status_code == 422 and "at most 256" in r.json()["detail"]
        ok = c.post("/api/embed", json={**big, "input": ["x"] * 256, "dimensions": 4096})
        assert ok.status_code == 200 and len(ok.json()["embeddings"]) == 256


def test_latency_model_draws_within_jitter_and_rate():
    lm = LatencyModel({"ttft_ms": 100, "tokens_per_s": 50, "jitter": 0.2, "error_rate": 0.25,
                       "seed": 7})  # fmt: skip
    draws = [lm.draw() for _ in range(4000)]
    ttft = np.array([d[0] for d in draws])
    per_tok = np.array([d[1] for d in draws])
    fails = np.array([d[2] for d in draws])
    assert ttft.min() >= 0.08 - 1e-12 and ttft.max() <= 0.12 + 1e-12
    assert per_tok.min() >= 0.8 / 50 and per_tok.max() <= 1.2 / 50
    assert math.isclose(ttft.mean(), 0.1, rel_tol=0.01)
    # Binomial(4000, 0.25): 5 standard deviations is about 0.034.
    assert abs(fails.mean() - 0.25) < 0.035


def test_latency_model_rejects_bad_settings():
    with pytest.raises(ValueError, match="tokens_per_s"):
        LatencyModel({"ttft_ms": 1, "tokens_per_s": 0, "jitter": 0, "error_rate": 0, "seed": 0})
