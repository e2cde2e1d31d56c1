"""Throwaway PostgreSQL and Redis servers on loopback, for tests and notebooks.

Each launcher starts a private server in a temporary directory on a free ``127.0.0.1`` port,
waits until it accepts connections, and gives back an object with its ``url`` and a
``stop()`` (also a context manager). Nothing is left behind: the data directory is removed
on stop; a server still running when the interpreter exits is stopped then (``atexit``), and
if the caller is killed outright the server gets SIGTERM from the kernel (the launcher's
parent-death signal, :func:`workbench.services.launcher.pdeathsig_preexec`). Only the
temporary directory of a caller killed with SIGKILL can remain. The Debian packages
(``postgresql``, ``redis-server``) provide the binaries;
``scripts/install-system-deps.sh`` installs them in CI.

PostgreSQL refuses to run as root, so when the caller is root the server runs as the
``postgres`` system user (``runuser -u postgres``) with the temporary directory handed to it;
its unix socket lives inside that directory, never in ``/var/run/postgresql``.

Examples
--------
>>> from workbench.services.dbservers import find_postgres_bin, start_redis
>>> with start_redis() as redis_server:  # doctest: +SKIP
...     print(redis_server.url)
redis://127.0.0.1:40123/0
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import ServiceError

__all__ = [
    "PostgresServer",
    "RedisServer",
    "find_postgres_bin",
    "find_redis_server",
    "start_postgres",
    "start_redis",
]


# The launcher is imported lazily below (free ports, the parent-death signal): it pulls in
# httpx, which this module does not otherwise need.


def _preexec() -> Any:
    from workbench.services.launcher import pdeathsig_preexec

    return pdeathsig_preexec()


#: Servers started and not stopped yet; stopped at interpreter exit.
_LIVE: dict[int, Any] = {}


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_LIVE.values()):
        with contextlib.suppress(Exception):
            server.stop()


def find_postgres_bin() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``, or ``None`` when not installed.

    Looks at ``$PG_BIN``, then the newest ``/usr/lib/postgresql/*/bin`` (Debian), then
    ``PATH``.
    """
    candidates: list[Path] = []
    if os.environ.get("PG_BIN"):
        candidates.append(Path(os.environ["PG_BIN"]))

    def version(path: str) -> float:
        try:
            return float(Path(path).parent.name)
        except ValueError:
            return 0.0

    candidates += [
        Path(p).parent
        for p in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version, reverse=True)
    ]
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).parent)
    for c in candidates:
        if (c / "initdb").is_file() and (c / "postgres").is_file() and (c / "pg_ctl").is_file():
            return c
    return None


def find_redis_server() -> str | None:
    """Path of ``redis-server`` (``$REDIS_SERVER`` or ``PATH``), or ``None``."""
    explicit = os.environ.get("REDIS_SERVER")
    if explicit and Path(explicit).is_file():
        return explicit
    return shutil.which("redis-server")


def _as_postgres_user() -> list[str]:
    """Command prefix that runs a PostgreSQL binary as a non-root user."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise ServiceError("running as root but `runuser` is missing: cannot start PostgreSQL")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        raise ServiceError(
            "running as root and there is no `postgres` system user to run PostgreSQL as"
        ) from None
    return [runuser, "-u", "postgres", "--"]


def _chown_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, user="postgres", group=None)


@dataclass
class PostgresServer:
    """A running throwaway PostgreSQL server (see :func:`start_postgres`).

    Attributes
    ----------
    url : str
        ``postgresql://postgres@127.0.0.1:PORT/postgres`` (trust authentication, loopback).
    port : int
    root : Path
        Temporary directory holding ``data/`` and the unix socket; removed by :meth:`stop`.
    """

    url: str
    port: int
    root: Path
    bin_dir: Path
    process: subprocess.Popen[bytes] | None = None
    _prefix: list[str] = field(default_factory=list)
    _options: list[str] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def _pg_ctl_stop(self, mode: str) -> None:
        # Whenever a postmaster.pid exists, whoever started the server (us, or a pg_ctl
        # restart that daemonised it), so a server is never left running.
        if (self.data_dir / "postmaster.pid").exists():
            subprocess.run(
                [*self._prefix, str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.data_dir),
                 "-m", mode, "-w", "-t", "20"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                check=False,
            )  # fmt: skip
        if self.process is not None:
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _spawn(self, timeout: float) -> None:
        log = (self.root / "postgres.log").open("ab")
        with log:
            self.process = subprocess.Popen(
                [*self._prefix, str(self.bin_dir / "postgres"), "-D", str(self.data_dir),
                 "-p", str(self.port), *self._options],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_preexec(),
            )  # fmt: skip
        _LIVE[id(self)] = self
        _wait_postgres(self, timeout)

    def restart(self, timeout: float = 60.0) -> None:
        """Stop (fast: clients are disconnected) and start again on the same port and data."""
        self._pg_ctl_stop("fast")
        self._spawn(timeout)

    def stop(self) -> None:
        """Stop the server and remove its directory.

        Immediate shutdown: the data directory is deleted next, so the shutdown checkpoint
        of a fast shutdown (which writes every dirty buffer — seconds after a test session
        has created dozens of databases) would be wasted work.
        """
        self._pg_ctl_stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
        _LIVE.pop(id(self), None)

    def log_tail(self, lines: int = 20) -> str:
        path = self.root / "postgres.log"
        if not path.is_file():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_postgres(
    *, port: int | None = None, durable: bool = False, timeout: float = 60.0
) -> PostgresServer:
    """Initialise a cluster in a temporary directory and start PostgreSQL on loopback.

    Parameters
    ----------
    port : int, optional
        TCP port on ``127.0.0.1``; a free one by default.
    durable : bool
        ``False`` (tests) turns off ``fsync``, ``synchronous_commit`` and
        ``full_page_writes``: a throwaway server needs no crash safety, and a test run is
        faster without them. Use ``True`` for latency figures that should resemble a
        production server's commit cost.
    timeout : float
        Seconds to wait for the server to accept connections.

    Returns
    -------
    PostgresServer

    Raises
    ------
    ServiceError
        The binaries are missing, ``initdb`` fails, or the server does not come up (the
        message includes the end of its log).
    """
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        raise ServiceError(
            "PostgreSQL binaries not found (looked in $PG_BIN, /usr/lib/postgresql/*/bin, PATH); "
            "install the Debian package `postgresql` (scripts/install-system-deps.sh)"
        )
    prefix = _as_postgres_user()
    root = Path(tempfile.mkdtemp(prefix="wb-pg-"))
    _chown_postgres(root)
    if not port:
        from workbench.services.launcher import free_port

        port = free_port()
    server = PostgresServer(
        url=f"postgresql://postgres@127.0.0.1:{port}/postgres",
        port=port,
        root=root,
        bin_dir=bin_dir,
        _prefix=prefix,
    )
    try:
        init = subprocess.run(
            [*prefix, str(bin_dir / "initdb"), "-D", str(server.data_dir), "-U", "postgres",
             "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if init.returncode != 0:
            raise ServiceError(f"initdb failed ({init.returncode}): {init.stderr.strip()[-800:]}")
        options = [
            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={root}",
            "-c", "max_connections=200", "-c", "shared_buffers=64MB",
        ]  # fmt: skip
        if not durable:
            options += ["-c", "fsync=off", "-c", "synchronous_commit=off",
                        "-c", "full_page_writes=off"]  # fmt: skip
        (root / "postgres.log").touch()
        _chown_postgres(root / "postgres.log")
        server._options = options
        server._spawn(timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_postgres(server: PostgresServer, timeout: float) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        assert server.process is not None
        if server.process.poll() is not None:
            raise ServiceError(
                f"postgres exited with code {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            with psycopg.connect(server.url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"postgres not ready after {timeout:.0f} s:\n{server.log_tail()}"
                ) from None
            time.sleep(0.1)


@dataclass
class RedisServer:
    """A running throwaway Redis server (see :func:`start_redis`).

    Attributes
    ----------
    url : str
        ``redis://127.0.0.1:PORT/0``.
    port : int
    """

    url: str
    port: int
    root: Path
    executable: str
    process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> None:
        """(Re)start the server on the same port; no persistence, so it starts empty."""
        if self.process is not None and self.process.poll() is None:
            return
        log = (self.root / "redis.log").open("ab")
        with log:
            self.process = subprocess.Popen(
                [self.executable, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", str(self.root),
                 "--protected-mode", "yes", "--daemonize", "no"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_preexec(),
            )  # fmt: skip
        _LIVE[id(self)] = self
        self._wait(timeout)

    def _wait(self, timeout: float) -> None:
        import redis

        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)
        try:
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise ServiceError(
                        f"redis-server exited with code {self.process.returncode}:\n"
                        + (self.root / "redis.log").read_text(errors="replace")[-800:]
                    )
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError, OSError):
                    pass
                if time.monotonic() > deadline:
                    raise ServiceError(f"redis-server not ready after {timeout:.0f} s")
                time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        """Stop the server process abruptly-but-cleanly (SIGTERM, then SIGKILL)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self) -> None:
        """Stop and start again on the same port (clients see their connections drop)."""
        self.kill()
        self.start()

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)
        _LIVE.pop(id(self), None)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_redis(*, port: int | None = None, timeout: float = 20.0) -> RedisServer:
    """Start ``redis-server`` on a free loopback port without persistence.

    Raises
    ------
    ServiceError
        ``redis-server`` is not installed or does not come up.
    """
    exe = find_redis_server()
    if exe is None:
        raise ServiceError(
            "redis-server not found (looked at $REDIS_SERVER and PATH); install the Debian "
            "package `redis-server` (scripts/install-system-deps.sh)"
        )
    if not port:
        from workbench.services.launcher import free_port

        port = free_port()
    root = Path(tempfile.mkdtemp(prefix="wb-redis-"))
    server = RedisServer(url=f"redis://127.0.0.1:{port}/0", port=port, root=root, executable=exe)
    try:
        server.start(timeout)
    except BaseException:
        server.stop()
        raise
    return server
