"""Storage of the data tier: pooled SQLite or PostgreSQL behind one async repository.

:func:`open_store` picks the backend from a database URL:

* ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or ``sqlite:///:memory:``
  — the embedded default. A pool of ``pool_size`` connections, each pinned to a thread of its
  own (sqlite3 connections are not shareable between threads while in use), WAL journal so
  readers never wait for the writer, ``busy_timeout`` for writers, foreign keys on.
  ``:memory:`` uses one connection (each connection would otherwise see its own database).
* ``postgresql://user@host:port/db`` (or ``postgres://``) — psycopg 3 with
  :class:`psycopg_pool.AsyncConnectionPool` (``pool_size`` connections at most), a
  server-side ``statement_timeout``.

Both backends run the same SQL (written with ``%s`` placeholders; SQLite gets ``?``), so the
repository, :class:`DataStore`, is written once. Schema migrations (:data:`MIGRATIONS`) are
applied at start inside one transaction under a lock (PostgreSQL advisory lock; SQLite's
``BEGIN IMMEDIATE``), so several processes starting together apply each one exactly once.

Errors are :class:`StoreError` subclasses carrying the HTTP status the service answers with:
:class:`NotFoundError` 404, :class:`ConflictError` 409 (unique constraint),
:class:`InvalidReferenceError` 422 (foreign key), :class:`PoolExhaustedError` 503 (no
connection within ``pool_timeout_s``) and :class:`StoreUnavailableError` 503 (database down,
locked or query timed out). Every write runs in one transaction: if any statement fails,
nothing of it stays.

Examples
--------
>>> import asyncio
>>> async def demo():
...     store = await open_store("sqlite:///:memory:")
...     try:
...         agent = await store.create_agent({"name": "a1"})
...         return (await store.get_agent(agent["id"]))["name"]
...     finally:
...         await store.close()
>>> asyncio.run(demo())
'a1'
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from workbench.errors import require

__all__ = [
    "AGENT_FIELDS",
    "AGENT_STATUSES",
    "MESSAGE_ROLES",
    "MIGRATIONS",
    "ConflictError",
    "DataStore",
    "InvalidReferenceError",
    "NotFoundError",
    "PoolExhaustedError",
    "StoreError",
    "StoreUnavailableError",
    "new_id",
    "open_store",
]

AGENT_STATUSES = ("active", "inactive", "archived")
MESSAGE_ROLES = ("system", "user", "assistant", "tool")
#: Columns of an agent, in the order every query selects them.
AGENT_FIELDS = (
    "id", "name", "kind", "status", "description", "config", "version", "created_at",
    "updated_at",
)  # fmt: skip
_AGENT_COLS = ", ".join(AGENT_FIELDS)
_CONV_COLS = "id, agent_id, title, message_count, created_at, updated_at"
_MSG_COLS = "id, conversation_id, seq, role, content, created_at"

#: (version, name, statements). Plain SQL both dialects accept; append, never edit.
MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (
        1,
        "agents, conversations, messages",
        (
            """CREATE TABLE agents (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                kind TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('active', 'inactive', 'archived')),
                description TEXT NOT NULL,
                config TEXT NOT NULL,
                version INTEGER NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL)""",
            "CREATE INDEX agents_kind_status ON agents (kind, status, id)",
            "CREATE INDEX agents_status ON agents (status, id)",
            """CREATE TABLE conversations (
                id TEXT PRIMARY KEY,
                agent_id TEXT REFERENCES agents (id) ON DELETE CASCADE,
                title TEXT NOT NULL,
                message_count INTEGER NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL)""",
            "CREATE INDEX conversations_agent ON conversations (agent_id, id)",
            """CREATE TABLE messages (
                id TEXT PRIMARY KEY,
                conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
                seq INTEGER NOT NULL,
                role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
                content TEXT NOT NULL,
                created_at TEXT NOT NULL,
                UNIQUE (conversation_id, seq))""",
        ),
    ),
)


# --------------------------------------------------------------------------- errors


class StoreError(Exception):
    """A storage failure the service turns into a JSON error with :attr:`status`."""

    status = 500
    code = "store_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFoundError(StoreError):
    """The addressed row does not exist."""

    status = 404
    code = "not_found"


class ConflictError(StoreError):
    """A unique constraint would be violated (for example a duplicate agent name)."""

    status = 409
    code = "conflict"


class InvalidReferenceError(StoreError):
    """A foreign key points at a row that does not exist, or a CHECK constraint failed."""

    status = 422
    code = "invalid_reference"


class PoolExhaustedError(StoreError):
    """No pooled connection became free within the pool timeout."""

    status = 503
    code = "pool_exhausted"


class StoreUnavailableError(StoreError):
    """The database cannot be reached, is locked, or a statement timed out."""

    status = 503
    code = "database_unavailable"


def _integrity_error(message: str) -> StoreError:
    """Map a backend's integrity-error message to a 409 or 422 store error."""
    low = message.lower()
    if "unique" in low or "duplicate key" in low:
        if "name" in low:
            return ConflictError("an agent with this name already exists")
        return ConflictError(f"duplicate value: {message.splitlines()[0]}")
    if "foreign key" in low:
        return InvalidReferenceError("a referenced row does not exist (foreign key)")
    return InvalidReferenceError(f"constraint violated: {message.splitlines()[0]}")


# --------------------------------------------------------------------------- helpers


def new_id(prefix: str = "") -> str:
    """A 32-hex-digit id whose first 12 digits are the creation time in milliseconds.

    Ids therefore sort (roughly) by creation time, which makes keyset pagination by id list
    rows in creation order, and spread random bits after the time so two processes never
    collide in practice.

    Examples
    --------
    >>> a, b = new_id(), new_id()
    >>> len(a), a[:6] == b[:6]
    (32, True)
    """
    return f"{prefix}{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class _Conn(Protocol):
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


# --------------------------------------------------------------------------- sqlite


_PLACEHOLDER = re.compile(r"%s")


class _SqliteSlot:
    """One sqlite3 connection and the single thread that is allowed to use it."""

    def __init__(self, path: str, busy_timeout_s: float) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wb-sqlite")
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self.conn: sqlite3.Connection | None = None

    def _open(self) -> None:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction is exactly
        # what the repository says it is.
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA foreign_keys = ON")
        if self.path != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL is durable against application crashes and is what SQLite
            # recommends for WAL; FULL would add an fsync per commit.
            conn.execute("PRAGMA synchronous = NORMAL")
        self.conn = conn

    def _run(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        assert self.conn is not None
        try:
            cur = self.conn.execute(_PLACEHOLDER.sub("?", sql), tuple(params))
            return cur.fetchall()
        except sqlite3.IntegrityError as exc:
            raise _integrity_error(str(exc)) from None
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreUnavailableError(
                    f"database is locked (waited {self.busy_timeout_s:g} s for a writer)"
                ) from None
            raise

    async def call(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, fn, *args)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await self.call(self._run, sql, params)

    def _close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class SqliteBackend:
    """Pool of sqlite3 connections (see the module docstring)."""

    dialect = "sqlite"

    def __init__(
        self, path: str, pool_size: int, pool_timeout_s: float, busy_timeout_s: float
    ) -> None:
        self.path = path
        self.pool_size = 1 if path == ":memory:" else pool_size
        self.pool_timeout_s = pool_timeout_s
        self.busy_timeout_s = busy_timeout_s
        self._slots: list[_SqliteSlot] = []
        self._free: asyncio.Queue[_SqliteSlot] = asyncio.Queue()

    @property
    def in_use(self) -> int:
        return len(self._slots) - self._free.qsize()

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        for _ in range(self.pool_size):
            slot = _SqliteSlot(self.path, self.busy_timeout_s)
            await slot.call(slot._open)
            self._slots.append(slot)
            self._free.put_nowait(slot)

    async def close(self) -> None:
        for slot in self._slots:
            await slot.call(slot._close)
            slot.executor.shutdown(wait=True)
        self._slots.clear()

    @contextlib.asynccontextmanager
    async def connection(self, *, write: bool) -> AsyncIterator[_Conn]:
        try:
            slot = await asyncio.wait_for(self._free.get(), self.pool_timeout_s)
        except TimeoutError:
            raise PoolExhaustedError(
                f"all {self.pool_size} database connections are busy; none freed within "
                f"{self.pool_timeout_s:g} s"
            ) from None
        try:
            if not write:
                # Reads run in autocommit: each statement sees a consistent snapshot (WAL),
                # and BEGIN/COMMIT would cost two more thread hops per request.
                yield slot
                return
            # IMMEDIATE takes the write lock up front: a deferred transaction that upgrades
            # to writing can fail with SQLITE_BUSY without waiting, IMMEDIATE waits.
            await slot.execute("BEGIN IMMEDIATE")
            try:
                yield slot
            except BaseException:
                await slot.execute("ROLLBACK")
                raise
            await slot.execute("COMMIT")
        finally:
            self._free.put_nowait(slot)

    async def lock_for_migrations(self, conn: _Conn) -> None:
        return None  # BEGIN IMMEDIATE already excludes every other writer


# --------------------------------------------------------------------------- postgres


class _PgConn:
    def __init__(self, conn: Any, errors: Any) -> None:
        self.conn = conn
        self.errors = errors

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        e = self.errors
        try:
            cur = await self.conn.execute(sql, tuple(params), prepare=True)
            return await cur.fetchall() if cur.description is not None else []
        except e.IntegrityError as exc:
            raise _integrity_error(str(exc)) from None
        except e.DataError as exc:
            raise InvalidReferenceError(f"invalid value: {str(exc).splitlines()[0]}") from None
        except e.QueryCanceled:
            raise StoreUnavailableError("query cancelled: statement_timeout exceeded") from None
        except e.OperationalError as exc:
            raise StoreUnavailableError(f"database error: {str(exc).splitlines()[0]}") from None


class PostgresBackend:
    """psycopg 3 async connection pool (see the module docstring)."""

    dialect = "postgres"

    def __init__(
        self, url: str, pool_size: int, pool_timeout_s: float, statement_timeout_s: float
    ) -> None:
        self.psycopg = require("psycopg", "services", "the PostgreSQL data tier")
        pool_mod = require("psycopg_pool", "services", "the PostgreSQL data tier")
        self.url = url
        self.pool_size = pool_size
        self.pool_timeout_s = pool_timeout_s
        self.PoolTimeout = pool_mod.PoolTimeout
        self.pool = pool_mod.AsyncConnectionPool(
            url,
            min_size=min(2, pool_size),
            max_size=pool_size,
            timeout=pool_timeout_s,
            open=False,
            name="datatier",
            kwargs={
                "autocommit": True,
                "options": f"-c statement_timeout={int(statement_timeout_s * 1000)}",
                "connect_timeout": 5,
            },
        )

    @property
    def in_use(self) -> int:
        stats = self.pool.get_stats()
        return int(stats.get("pool_size", 0) - stats.get("pool_available", 0))

    async def open(self) -> None:
        try:
            await self.pool.open(wait=True, timeout=max(5.0, self.pool_timeout_s))
        except self.PoolTimeout:
            await self.pool.close()
            raise StoreUnavailableError(
                f"cannot connect to PostgreSQL at {_redact(self.url)}"
            ) from None

    async def close(self) -> None:
        await self.pool.close()

    @contextlib.asynccontextmanager
    async def connection(self, *, write: bool) -> AsyncIterator[_Conn]:
        try:
            conn = await self.pool.getconn(timeout=self.pool_timeout_s)
        except self.PoolTimeout:
            raise PoolExhaustedError(
                f"all {self.pool_size} database connections are busy; none freed within "
                f"{self.pool_timeout_s:g} s"
            ) from None
        try:
            if write:
                # One transaction per write: committed on a clean exit, rolled back otherwise.
                async with conn.transaction():
                    yield _PgConn(conn, self.psycopg.errors)
            else:
                # Autocommit reads: one round trip per statement instead of BEGIN/.../COMMIT.
                yield _PgConn(conn, self.psycopg.errors)
        except self.psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"database error: {str(exc).splitlines()[0]}") from None
        finally:
            # putconn discards a broken connection and resets one left in a failed state.
            await self.pool.putconn(conn)

    async def lock_for_migrations(self, conn: _Conn) -> None:
        # Any constant works; it only has to be the same in every data-tier process.
        await conn.execute("SELECT pg_advisory_xact_lock(870508)")


def _redact(url: str) -> str:
    return re.sub(r"//([^:@/]+):[^@/]*@", r"//\1:***@", url)


# --------------------------------------------------------------------------- repository


def _agent(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(AGENT_FIELDS, row, strict=True))
    out["config"] = json.loads(out["config"])
    return out


def _conv(row: Sequence[Any]) -> dict[str, Any]:
    keys = ("id", "agent_id", "title", "message_count", "created_at", "updated_at")
    return dict(zip(keys, row, strict=True))


def _msg(row: Sequence[Any]) -> dict[str, Any]:
    keys = ("id", "conversation_id", "seq", "role", "content", "created_at")
    return dict(zip(keys, row, strict=True))


class DataStore:
    """Agents, conversations and messages over one backend (see the module docstring).

    Inputs are trusted to be validated by the caller (the HTTP layer checks types and
    ranges); the database's constraints are the second line of defence and surface as
    :class:`StoreError`.
    """

    def __init__(self, backend: SqliteBackend | PostgresBackend) -> None:
        self.backend = backend

    @property
    def dialect(self) -> str:
        return self.backend.dialect

    async def close(self) -> None:
        await self.backend.close()

    # ---------------------------------------------------------------- schema

    async def migrate(self) -> list[int]:
        """Apply the migrations this database lacks; returns the versions applied."""
        applied: list[int] = []
        async with self.backend.connection(write=True) as conn:
            await self.backend.lock_for_migrations(conn)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            done = {r[0] for r in await conn.execute("SELECT version FROM schema_migrations")}
            for version, name, statements in MIGRATIONS:
                if version in done:
                    continue
                for sql in statements:
                    await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                    (version, name, _now()),
                )
                applied.append(version)
        return applied

    async def schema_version(self) -> int:
        async with self.backend.connection(write=False) as conn:
            rows = await conn.execute("SELECT max(version) FROM schema_migrations")
        return int(rows[0][0] or 0)

    async def ping(self) -> None:
        """One trivial query through the pool (``/ready``)."""
        async with self.backend.connection(write=False) as conn:
            await conn.execute("SELECT 1")

    # ---------------------------------------------------------------- agents

    @staticmethod
    def _agent_row(fields: Mapping[str, Any]) -> tuple[Any, ...]:
        now = _now()
        return (
            new_id(),
            fields["name"],
            fields.get("kind", "assistant"),
            fields.get("status", "active"),
            fields.get("description", ""),
            json.dumps(fields.get("config", {}), separators=(",", ":"), sort_keys=True),
            1,
            now,
            now,
        )

    async def create_agent(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Insert one agent; ``name`` is required and unique (:class:`ConflictError`)."""
        return (await self.create_agents([fields]))[0]

    async def create_agents(self, items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Insert several agents in one transaction: all of them, or none."""
        sql = (
            f"INSERT INTO agents ({_AGENT_COLS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            f"RETURNING {_AGENT_COLS}"
        )
        out = []
        async with self.backend.connection(write=True) as conn:
            for fields in items:
                rows = await conn.execute(sql, self._agent_row(fields))
                out.append(_agent(rows[0]))
        return out

    async def get_agent(self, agent_id: str) -> dict[str, Any]:
        async with self.backend.connection(write=False) as conn:
            rows = await conn.execute(
                f"SELECT {_AGENT_COLS} FROM agents WHERE id = %s", (agent_id,)
            )
        if not rows:
            raise NotFoundError(f"agent {agent_id!r} not found")
        return _agent(rows[0])

    async def update_agent(self, agent_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change some of ``name, kind, status, description, config``; bumps ``version``."""
        allowed = ("name", "kind", "status", "description", "config")
        sets, params = [], []
        for key in allowed:
            if key in changes:
                value = changes[key]
                if key == "config":
                    value = json.dumps(value, separators=(",", ":"), sort_keys=True)
                sets.append(f"{key} = %s")
                params.append(value)
        unknown = set(changes) - set(allowed)
        if unknown or not sets:
            raise ValueError(f"nothing to update or unknown fields: {sorted(unknown)}")
        sets += ["version = version + 1", "updated_at = %s"]
        params += [_now(), agent_id]
        async with self.backend.connection(write=True) as conn:
            rows = await conn.execute(
                f"UPDATE agents SET {', '.join(sets)} WHERE id = %s RETURNING {_AGENT_COLS}",
                params,
            )
        if not rows:
            raise NotFoundError(f"agent {agent_id!r} not found")
        return _agent(rows[0])

    async def delete_agent(self, agent_id: str) -> None:
        """Delete an agent and (cascade) its conversations and messages."""
        async with self.backend.connection(write=True) as conn:
            rows = await conn.execute("DELETE FROM agents WHERE id = %s RETURNING id", (agent_id,))
        if not rows:
            raise NotFoundError(f"agent {agent_id!r} not found")

    async def list_agents(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        name_prefix: str | None = None,
        limit: int = 50,
        after: str | None = None,
        offset: int | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Agents ordered by id, filtered; returns ``(items, last id if more follow)``.

        Keyset pagination (``after``: the last id of the previous page) costs O(limit) per
        page with the ``(kind, status, id)`` index; ``offset`` costs O(offset + limit) and is
        offered for clients that need page numbers.
        """
        where, params = [], []
        if kind is not None:
            where.append("kind = %s")
            params.append(kind)
        if status is not None:
            where.append("status = %s")
            params.append(status)
        if name_prefix:
            # substr, not LIKE: LIKE is case-insensitive in SQLite and case-sensitive in
            # PostgreSQL, and the two backends must answer alike.
            where.append("substr(name, 1, %s) = %s")
            params += [len(name_prefix), name_prefix]
        if after is not None:
            where.append("id > %s")
            params.append(after)
        sql = f"SELECT {_AGENT_COLS} FROM agents"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id LIMIT %s"
        params.append(limit + 1)
        if offset:
            sql += " OFFSET %s"
            params.append(offset)
        async with self.backend.connection(write=False) as conn:
            rows = await conn.execute(sql, params)
        items = [_agent(r) for r in rows[:limit]]
        more = len(rows) > limit
        return items, (items[-1]["id"] if more and items else None)

    # ---------------------------------------------------------------- conversations

    async def create_conversation(
        self,
        *,
        agent_id: str | None,
        title: str,
        messages: Sequence[Mapping[str, Any]] = (),
    ) -> dict[str, Any]:
        """A conversation with its first messages, in one transaction (all or nothing)."""
        conv_id, now = new_id(), _now()
        async with self.backend.connection(write=True) as conn:
            await conn.execute(
                f"INSERT INTO conversations ({_CONV_COLS}) VALUES (%s, %s, %s, %s, %s, %s)",
                (conv_id, agent_id, title, 0, now, now),
            )
            added = await self._append(conn, conv_id, messages)
            rows = await conn.execute(
                f"SELECT {_CONV_COLS} FROM conversations WHERE id = %s", (conv_id,)
            )
        out = _conv(rows[0])
        out["messages"] = added
        return out

    async def _append(
        self, conn: _Conn, conv_id: str, messages: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        if not messages:
            return []
        # Reserving the sequence numbers with one UPDATE locks the conversation row (in
        # PostgreSQL; SQLite's write lock is database-wide), so concurrent appends to one
        # conversation get distinct, gap-free numbers.
        rows = await conn.execute(
            "UPDATE conversations SET message_count = message_count + %s, updated_at = %s "
            "WHERE id = %s RETURNING message_count",
            (len(messages), _now(), conv_id),
        )
        if not rows:
            raise NotFoundError(f"conversation {conv_id!r} not found")
        first = int(rows[0][0]) - len(messages) + 1
        out = []
        for i, m in enumerate(messages):
            row = (m.get("id") or new_id(), conv_id, first + i, m["role"], m["content"], _now())
            res = await conn.execute(
                f"INSERT INTO messages ({_MSG_COLS}) VALUES (%s, %s, %s, %s, %s, %s) "
                f"RETURNING {_MSG_COLS}",
                row,
            )
            out.append(_msg(res[0]))
        return out

    async def add_messages(
        self, conv_id: str, messages: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """Append messages to a conversation in one transaction; returns them with ``seq``."""
        async with self.backend.connection(write=True) as conn:
            return await self._append(conn, conv_id, messages)

    async def get_conversation(self, conv_id: str) -> dict[str, Any]:
        async with self.backend.connection(write=False) as conn:
            rows = await conn.execute(
                f"SELECT {_CONV_COLS} FROM conversations WHERE id = %s", (conv_id,)
            )
        if not rows:
            raise NotFoundError(f"conversation {conv_id!r} not found")
        return _conv(rows[0])

    async def list_conversations(
        self, *, agent_id: str | None = None, limit: int = 50, after: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        where, params = [], []
        if agent_id is not None:
            where.append("agent_id = %s")
            params.append(agent_id)
        if after is not None:
            where.append("id > %s")
            params.append(after)
        sql = f"SELECT {_CONV_COLS} FROM conversations"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id LIMIT %s"
        params.append(limit + 1)
        async with self.backend.connection(write=False) as conn:
            rows = await conn.execute(sql, params)
        items = [_conv(r) for r in rows[:limit]]
        return items, (items[-1]["id"] if len(rows) > limit and items else None)

    async def delete_conversation(self, conv_id: str) -> None:
        async with self.backend.connection(write=True) as conn:
            rows = await conn.execute(
                "DELETE FROM conversations WHERE id = %s RETURNING id", (conv_id,)
            )
        if not rows:
            raise NotFoundError(f"conversation {conv_id!r} not found")

    async def list_messages(
        self, conv_id: str, *, limit: int = 100, after_seq: int = 0
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Messages in ``seq`` order after ``after_seq``; returns ``(items, next after_seq)``."""
        async with self.backend.connection(write=False) as conn:
            exists = await conn.execute("SELECT 1 FROM conversations WHERE id = %s", (conv_id,))
            if not exists:
                raise NotFoundError(f"conversation {conv_id!r} not found")
            rows = await conn.execute(
                f"SELECT {_MSG_COLS} FROM messages WHERE conversation_id = %s AND seq > %s "
                "ORDER BY seq LIMIT %s",
                (conv_id, after_seq, limit + 1),
            )
        items = [_msg(r) for r in rows[:limit]]
        return items, (items[-1]["seq"] if len(rows) > limit and items else None)


# --------------------------------------------------------------------------- factory


def backend_for_url(
    url: str,
    *,
    pool_size: int = 10,
    pool_timeout_s: float = 5.0,
    statement_timeout_s: float = 10.0,
) -> SqliteBackend | PostgresBackend:
    """The backend a database URL names (``sqlite:///...`` or ``postgresql://...``).

    Raises
    ------
    ValueError
        Unknown scheme or bad pool parameters.
    """
    if pool_size < 1:
        raise ValueError(f"pool_size must be >= 1, got {pool_size}")
    if pool_timeout_s <= 0:
        raise ValueError(f"pool_timeout_s must be > 0, got {pool_timeout_s}")
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not path:
            raise ValueError("sqlite URL needs a path: sqlite:///file.db or sqlite:///:memory:")
        return SqliteBackend(path, pool_size, pool_timeout_s, busy_timeout_s=statement_timeout_s)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresBackend(url, pool_size, pool_timeout_s, statement_timeout_s)
    raise ValueError(
        f"unsupported database URL {_redact(url)!r}: use sqlite:///path.db or "
        "postgresql://user@host:port/db"
    )


async def open_store(
    url: str,
    *,
    pool_size: int = 10,
    pool_timeout_s: float = 5.0,
    statement_timeout_s: float = 10.0,
    migrate: bool = True,
) -> DataStore:
    """Open a pooled store for ``url`` and (by default) apply pending migrations.

    Parameters
    ----------
    url : str
        ``sqlite:///path.db``, ``sqlite:///:memory:`` or ``postgresql://...``.
    pool_size : int
        Connections in the pool (at most, for PostgreSQL).
    pool_timeout_s : float
        How long a request waits for a free connection before :class:`PoolExhaustedError`.
    statement_timeout_s : float
        PostgreSQL ``statement_timeout``; SQLite's busy timeout for writers.

    Returns
    -------
    DataStore
    """
    backend = backend_for_url(
        url, pool_size=pool_size, pool_timeout_s=pool_timeout_s,
        statement_timeout_s=statement_timeout_s,
    )  # fmt: skip
    await backend.open()
    store = DataStore(backend)
    if migrate:
        try:
            await store.migrate()
        except BaseException:
            await backend.close()
            raise
    return store
