"""The gateway's OpenAPI document: the contract every gateway implementation must meet.

Served at ``GET /openapi.json``. The contract test (``tests/services/test_contract.py``) runs
schemathesis against a running gateway: no 5xx and every response conforming to this
document (status code, content type, body schema) for generated inputs. A Go or Rust
gateway passes the same test by pointing it at its own URL.

Every route the gateway proxies is described, with the request and response bodies its
backend (:mod:`~workbench.services.aicore`, :mod:`~workbench.services.graphrag`,
:mod:`~workbench.services.datatier`) accepts and answers: a reimplementation of the gateway
or of a backend is held to the same shapes.
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
        409: "Conflict: an agent with this name already exists.",
        413: "Request body too large.",
        422: "Malformed JSON, invalid field or query parameter, or unknown reference.",
        429: "Rate limit exceeded; see Retry-After.",
        502: "Backend answered badly.",
        503: "Backend unavailable or circuit open; see Retry-After.",
        504: "Backend timed out.",
    }
    return {str(c): _json(_ERROR, text[c]) for c in codes}


_PROXIED = (401, 413, 422, 429, 502, 503, 504)
_SECURITY = [{"bearerAuth": []}, {"apiKeyHeader": []}]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


def _op(
    op_id: str,
    summary: str,
    responses: dict[str, Any],
    *,
    body: str | None = None,
    params: list[dict[str, Any]] | None = None,
    errors: tuple[int, ...] = (),
) -> dict[str, Any]:
    """An authenticated, proxied operation: the gateway's own errors plus ``errors``."""
    out: dict[str, Any] = {"operationId": op_id, "summary": summary, "security": _SECURITY}
    if params:
        out["parameters"] = params
    if body:
        out["requestBody"] = _body(body)
    out["responses"] = {**responses, **_errors(*sorted({*_PROXIED, *errors}))}
    return out


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}  # fmt: skip


def _path_id(name: str, what: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        # Ids are hex; anything else answers 404 (never reaches the database).
        "schema": {"type": "string", "minLength": 1},
        "description": f"The {what}'s id.",
    }


_NO_CONTENT = {"204": {"description": "Deleted."}}
_LIMIT = _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "Page size.")
_CURSOR = _query("cursor", {"type": "string"}, "``next_cursor`` of the previous page.")
_AGENT_ID = _path_id("agent_id", "agent")
_CONV_ID = _path_id("conversation_id", "conversation")

_TEXT_200 = {"type": "string", "minLength": 1, "maxLength": 200}
_STATUS = {"type": "string", "enum": ["active", "inactive", "archived"]}
_ROLE = {"type": "string", "enum": ["system", "user", "assistant", "tool"]}
_AGENT_FIELDS: dict[str, Any] = {
    # Not blank; no NUL characters (422 otherwise).
    "name": {**_TEXT_200, "pattern": r"\S"},
    "kind": {"type": "string", "minLength": 1, "maxLength": 64},
    "status": _STATUS,
    "description": {"type": "string", "maxLength": 4000},
    # At most 64 KiB as JSON.
    "config": {"type": "object"},
}
_STAMP = {"type": "string", "description": "ISO 8601 time, UTC."}

#: Data-tier bodies (:mod:`workbench.services.datatier`).
_DATA_SCHEMAS: dict[str, Any] = {
    "GraphInfo": {
        "type": "object",
        "required": ["graph", "n_nodes", "n_edges", "directed", "communities", "n_vectors", "dim"],
        "properties": {
            "graph": {"type": "string"},
            "n_nodes": {"type": "integer", "minimum": 0},
            "n_edges": {"type": "integer", "minimum": 0},
            "directed": {"type": "boolean"},
            "communities": {"type": "integer", "minimum": 0, "nullable": True},
            "n_vectors": {"type": "integer", "minimum": 0},
            "dim": {"type": "integer", "minimum": 1},
        },
    },
    "Agent": {
        "type": "object",
        "required": [
            "id",
            "name",
            "kind",
            "status",
            "description",
            "config",
            "version",
            "created_at",
            "updated_at",
        ],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "kind": {"type": "string"},
            "status": _STATUS,
            "description": {"type": "string"},
            "config": {"type": "object"},
            "version": {"type": "integer", "minimum": 1},
            "created_at": _STAMP,
            "updated_at": _STAMP,
        },
    },
    "AgentCreate": {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": _AGENT_FIELDS,
    },
    "AgentUpdate": {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": _AGENT_FIELDS,
    },
    "AgentBatch": {
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": {
                "type": "array",
                "minItems": 1,
                "maxItems": 100,
                "items": _ref("AgentCreate"),
            }
        },
    },
    "AgentList": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": _ref("Agent")}},
    },
    "AgentPage": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": _ref("Agent")},
            "next_cursor": {"type": "string", "nullable": True},
        },
    },
    "Conversation": {
        "type": "object",
        "required": ["id", "agent_id", "title", "message_count", "created_at", "updated_at"],
        "properties": {
            "id": {"type": "string"},
            "agent_id": {"type": "string", "nullable": True},
            "title": {"type": "string"},
            "message_count": {"type": "integer", "minimum": 0},
            "created_at": _STAMP,
            "updated_at": _STAMP,
        },
    },
    "ConversationCreated": {
        "allOf": [
            _ref("Conversation"),
            {
                "type": "object",
                "required": ["messages"],
                "properties": {"messages": {"type": "array", "items": _ref("StoredMessage")}},
            },
        ]
    },
    "ConversationCreate": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "agent_id": {
                "type": "string",
                "minLength": 1,
                "maxLength": 64,
                "nullable": True,
                "description": "An existing agent (422 invalid_reference otherwise).",
            },
            "title": {"type": "string", "maxLength": 500},
            "messages": {"type": "array", "maxItems": 100, "items": _ref("NewMessage")},
        },
    },
    "ConversationPage": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": _ref("Conversation")},
            "next_cursor": {"type": "string", "nullable": True},
        },
    },
    "NewMessage": {
        "type": "object",
        "required": ["role", "content"],
        "additionalProperties": False,
        "properties": {"role": _ROLE, "content": {"type": "string", "maxLength": 32_000}},
    },
    "MessagesAppend": {
        "oneOf": [
            _ref("NewMessage"),
            {
                "type": "object",
                "required": ["messages"],
                "additionalProperties": False,
                "properties": {
                    "messages": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 100,
                        "items": _ref("NewMessage"),
                    }
                },
            },
        ]
    },
    "StoredMessage": {
        "type": "object",
        "required": ["id", "conversation_id", "seq", "role", "content", "created_at"],
        "properties": {
            "id": {"type": "string"},
            "conversation_id": {"type": "string"},
            "seq": {"type": "integer", "minimum": 1},
            "role": _ROLE,
            "content": {"type": "string"},
            "created_at": _STAMP,
        },
    },
    "StoredMessageList": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": _ref("StoredMessage")}},
    },
    "MessagePage": {
        "type": "object",
        "required": ["items", "next_after_seq"],
        "properties": {
            "items": {"type": "array", "items": _ref("StoredMessage")},
            "next_after_seq": {"type": "integer", "nullable": True},
        },
    },
}

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
        "/v1/graph/info": {
            "get": _op(
                "graphInfo",
                "The loaded graph and vector set (via graphrag).",
                {"200": _json(_ref("GraphInfo"), "Sizes of the loaded data.")},
            )
        },
        "/v1/agents": {
            "get": _op(
                "listAgents",
                "Agents in creation order, filtered and paged (via the data tier).",
                {"200": _json(_ref("AgentPage"), "One page.")},
                params=[
                    _query(
                        "kind",
                        {"type": "string", "minLength": 1, "maxLength": 200},
                        "Only agents of this kind.",
                    ),
                    _query(
                        "status",
                        {"type": "string", "enum": ["active", "inactive", "archived"]},
                        "Only agents in this status.",
                    ),
                    _query(
                        "name_prefix",
                        {"type": "string", "minLength": 1, "maxLength": 200},
                        "Only agents whose name starts with this (case-sensitive).",
                    ),
                    _LIMIT,
                    _CURSOR,
                    _query(
                        "offset",
                        {"type": "integer", "minimum": 0, "maximum": 10_000_000},
                        "Rows to skip; not together with cursor.",
                    ),
                ],
            ),
            "post": _op(
                "createAgent",
                "Create an agent; names are unique (via the data tier).",
                {"201": _json(_ref("Agent"), "Created.")},
                body="AgentCreate",
                errors=(409,),
            ),
        },
        "/v1/agents/batch": {
            "post": _op(
                "createAgents",
                "Create 1..100 agents in one transaction: all or none (via the data tier).",
                {"201": _json(_ref("AgentList"), "Created, in request order.")},
                body="AgentBatch",
                errors=(409,),
            )
        },
        "/v1/agents/{agent_id}": {
            "get": _op(
                "getAgent",
                "One agent (X-Cache: hit, miss or off) (via the data tier).",
                {"200": _json(_ref("Agent"), "The agent.")},
                params=[_AGENT_ID],
                errors=(404,),
            ),
            "patch": _op(
                "updateAgent",
                "Change some fields; bumps version (via the data tier).",
                {"200": _json(_ref("Agent"), "The updated agent.")},
                params=[_AGENT_ID],
                body="AgentUpdate",
                errors=(404, 409),
            ),
            "delete": _op(
                "deleteAgent",
                "Delete an agent with its conversations (via the data tier).",
                _NO_CONTENT,
                params=[_AGENT_ID],
                errors=(404,),
            ),
        },
        "/v1/conversations": {
            "get": _op(
                "listConversations",
                "Conversations in creation order, paged (via the data tier).",
                {"200": _json(_ref("ConversationPage"), "One page.")},
                params=[
                    _query(
                        "agent_id",
                        {"type": "string", "minLength": 1, "maxLength": 200},
                        "Only this agent's conversations.",
                    ),
                    _LIMIT,
                    _CURSOR,
                ],
            ),
            "post": _op(
                "createConversation",
                "Start a conversation, optionally with its first messages (via the data tier).",
                {"201": _json(_ref("ConversationCreated"), "Created.")},
                body="ConversationCreate",
            ),
        },
        "/v1/conversations/{conversation_id}": {
            "get": _op(
                "getConversation",
                "One conversation, without its messages (via the data tier).",
                {"200": _json(_ref("Conversation"), "The conversation.")},
                params=[_CONV_ID],
                errors=(404,),
            ),
            "delete": _op(
                "deleteConversation",
                "Delete a conversation with its messages (via the data tier).",
                _NO_CONTENT,
                params=[_CONV_ID],
                errors=(404,),
            ),
        },
        "/v1/conversations/{conversation_id}/messages": {
            "get": _op(
                "listMessages",
                "Messages in sequence order after after_seq (via the data tier).",
                {"200": _json(_ref("MessagePage"), "One page.")},
                params=[
                    _CONV_ID,
                    _query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": 500},
                        "Page size (default 100).",
                    ),
                    _query(
                        "after_seq",
                        {"type": "integer", "minimum": 0},
                        "next_after_seq of the previous page (default 0).",
                    ),
                ],
                errors=(404,),
            ),
            "post": _op(
                "addMessages",
                "Append one message or several in one transaction (via the data tier).",
                {"201": _json(_ref("StoredMessageList"), "Appended, with their seq.")},
                params=[_CONV_ID],
                body="MessagesAppend",
                errors=(404,),
            ),
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
            **_DATA_SCHEMAS,
        },
    },
}
