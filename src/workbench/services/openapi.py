"""The gateway's OpenAPI document: the contract every gateway implementation must meet.

Served at ``GET /openapi.json``. The contract test (``tests/services/test_contract.py``) runs
schemathesis against a running gateway: no 5xx and every response conforming to this
document (status code, content type, body schema) for generated inputs. A Go or Rust
gateway passes the same test by pointing it at its own URL.

The data-tier routes (``/v1/agents``, ``/v1/conversations``) are proxied by the gateway but
not described here yet: their schema belongs to the data-tier service.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OPENAPI"]

_ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        401: "Missing or invalid API key.",
        404: "Not found.",
        413: "Request body too large.",
        422: "Malformed JSON or invalid field.",
        429: "Rate limit exceeded; see Retry-After.",
        502: "Backend answered badly.",
        503: "Backend unavailable or circuit open; see Retry-After.",
        504: "Backend timed out.",
    }
    return {str(c): _json(_ERROR, text[c]) for c in codes}


_PROXIED = (401, 413, 422, 429, 502, 503, 504)
_SECURITY = [{"bearerAuth": []}, {"apiKeyHeader": []}]

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "workbench gateway",
        "version": "1.0.0",
        "description": "Reference API of the Universal AI Tools backend, as measured by the "
        "workbench. Errors are always JSON {error, detail}.",
    },
    "servers": [{"url": "/"}],
    "paths": {
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Liveness; never touches a backend.",
                "responses": {"200": _json({"$ref": "#/components/schemas/Health"}, "Alive.")},
            }
        },
        "/ready": {
            "get": {
                "operationId": "ready",
                "summary": "Readiness: every backend answers its /health.",
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/Ready"}, "All backends up."),
                    "503": _json({"$ref": "#/components/schemas/Ready"}, "A backend is down."),
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics (text exposition format).",
                "responses": {
                    "200": {
                        "description": "Metrics.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/v1/memory": {
            "get": {
                "operationId": "memory",
                "summary": "Memory of the gateway process: RSS, GC counters, pressure level.",
                "responses": {"200": _json({"$ref": "#/components/schemas/Memory"}, "Memory.")},
            }
        },
        "/v1/chat": {
            "post": {
                "operationId": "chat",
                "summary": "Chat completion routed across LLM providers (via ai-core).",
                "security": _SECURITY,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ChatRequest"}}
                    },
                },
                "responses": {
                    "200": {
                        "description": "The answer; NDJSON chunks when stream is true.",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ChatResponse"}
                            },
                            "application/x-ndjson": {"schema": {"type": "string"}},
                        },
                    },
                    **_errors(*_PROXIED),
                },
            }
        },
        "/v1/graph/query": {
            "post": {
                "operationId": "graphQuery",
                "summary": "Graph query on the loaded graph (via graphrag).",
                "security": _SECURITY,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/GraphQuery"}}
                    },
                },
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/GraphResult"}, "Result."),
                    **_errors(*_PROXIED),
                },
            }
        },
        "/v1/vectors/search": {
            "post": {
                "operationId": "vectorSearch",
                "summary": "Exact or IVF nearest-neighbour search (via graphrag).",
                "security": _SECURITY,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/VectorQuery"}}
                    },
                },
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/VectorResult"}, "Neighbours."),
                    **_errors(*_PROXIED),
                },
            }
        },
    },
    "components": {
        "securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer"},
            "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error", "detail"],
                "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
            },
            "Health": {
                "type": "object",
                "required": ["status", "service"],
                "properties": {
                    "status": {"type": "string", "enum": ["ok"]},
                    "service": {"type": "string"},
                },
            },
            "Ready": {
                "type": "object",
                "required": ["status", "backends"],
                "properties": {
                    "status": {"type": "string", "enum": ["ready", "not_ready"]},
                    "backends": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
            "Memory": {
                "type": "object",
                "required": ["rss_bytes", "pressure", "gc"],
                "properties": {
                    "rss_bytes": {"type": "integer", "minimum": 0},
                    "vms_bytes": {"type": "integer", "minimum": 0},
                    "limit_bytes": {"type": "integer", "nullable": True},
                    "pressure": {
                        "type": "string",
                        "enum": ["low", "moderate", "high", "critical"],
                    },
                    "gc": {"type": "object"},
                    "pid": {"type": "integer"},
                    "service": {"type": "string"},
                },
            },
            "Message": {
                "type": "object",
                "required": ["role", "content"],
                "properties": {
                    "role": {"type": "string", "enum": ["system", "user", "assistant", "tool"]},
                    "content": {"type": "string"},
                },
            },
            "ChatRequest": {
                "type": "object",
                "required": ["messages"],
                "properties": {
                    "messages": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"$ref": "#/components/schemas/Message"},
                    },
                    "model": {"type": "string"},
                    "stream": {"type": "boolean"},
                    "options": {
                        "type": "object",
                        "properties": {
                            "num_predict": {"type": "integer", "minimum": -1, "maximum": 4096}
                        },
                    },
                },
            },
            "ChatResponse": {
                "type": "object",
                "required": [
                    "message",
                    "model",
                    "provider",
                    "prompt_tokens",
                    "completion_tokens",
                    "ttft_s",
                    "tokens_per_s",
                ],
                "properties": {
                    "message": {"$ref": "#/components/schemas/Message"},
                    "model": {"type": "string"},
                    "provider": {"type": "string"},
                    "prompt_tokens": {"type": "integer", "minimum": 0},
                    "completion_tokens": {"type": "integer", "minimum": 0},
                    "ttft_s": {"type": "number", "minimum": 0},
                    "tokens_per_s": {"type": "number", "minimum": 0},
                    "total_s": {"type": "number", "minimum": 0},
                    "done_reason": {"type": "string"},
                    "attempts": {"type": "integer", "minimum": 1},
                    "simulated": {"type": "boolean"},
                },
            },
            "GraphQuery": {
                "type": "object",
                "required": ["kind", "seeds"],
                "properties": {
                    "kind": {
                        "type": "string",
                        "enum": ["khop", "ppr", "local_search", "community", "path"],
                    },
                    "seeds": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 64,
                        "items": {"type": "integer", "minimum": 0},
                    },
                    "k": {"type": "integer", "minimum": 1, "maximum": 4},
                    "top": {"type": "integer", "minimum": 1, "maximum": 1000},
                    "target": {"type": "integer", "minimum": 0},
                    "alpha": {
                        "type": "number",
                        "exclusiveMinimum": True,
                        "minimum": 0,
                        "exclusiveMaximum": True,
                        "maximum": 1,
                    },
                },
            },
            "GraphResult": {
                "type": "object",
                "required": ["kind", "nodes", "count", "timing_s", "n_nodes"],
                "properties": {
                    "kind": {"type": "string"},
                    "nodes": {"type": "array", "items": {"type": "integer"}},
                    "scores": {"type": "array", "items": {"type": "number"}},
                    "count": {"type": "integer", "minimum": 0},
                    "path": {"type": "array", "items": {"type": "integer"}, "nullable": True},
                    "community": {"type": "integer", "nullable": True},
                    "n_nodes": {"type": "integer", "minimum": 0},
                    "timing_s": {"type": "number", "minimum": 0},
                    "implementation": {"type": "string"},
                },
            },
            "VectorQuery": {
                "type": "object",
                "required": ["vector"],
                "properties": {
                    "vector": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 4096,
                        "items": {"type": "number"},
                    },
                    "k": {"type": "integer", "minimum": 1, "maximum": 1000},
                    "index": {"type": "string", "enum": ["exact", "ivf"]},
                },
            },
            "VectorResult": {
                "type": "object",
                "required": ["ids", "scores", "timing_s"],
                "properties": {
                    "ids": {"type": "array", "items": {"type": "integer"}},
                    "scores": {"type": "array", "items": {"type": "number"}},
                    "dim": {"type": "integer"},
                    "n_vectors": {"type": "integer"},
                    "index": {"type": "string"},
                    "timing_s": {"type": "number", "minimum": 0},
                    "implementation": {"type": "string"},
                },
            },
        },
    },
}
