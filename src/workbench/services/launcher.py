"""Start, watch and stop the reference services as separate processes.

Two entry points, one machinery:

* :func:`running_services` — a context manager for tests, notebooks and load tests: starts the
  chosen services on chosen ports, waits until each answers ``/health``, yields a
  :class:`ServiceSet` (URLs, API key, pids, per-service stop/start), and stops everything on
  exit, leaving no process behind::

      from workbench.services.launcher import running_services

      with running_services(["llm-stub", "ai-core", "gateway"], ports="free") as svc:
          r = httpx.post(svc.gateway + "/v1/chat", headers=svc.headers(),
                         json={"messages": [{"role": "user", "content": "hi"}]})

* :func:`serve` — what ``workbench serve`` runs: the same, in the foreground, until SIGINT or
  SIGTERM; it writes ``.workbench/serve.json`` so that ``workbench load`` and the notebooks find
  the endpoints and the API key. :func:`add_serve_arguments` / :func:`run_serve` are the
  argparse wiring for the CLI.

Each service runs as ``python -m workbench.services.run NAME --host H --port P`` with its
settings as JSON in ``WORKBENCH_SERVICE_SETTINGS``; its stdout/stderr go to
``<state dir>/logs/NAME.log``. Children get ``PR_SET_PDEATHSIG`` on Linux, so even a
``kill -9`` of the launcher does not leave them orphaned.

Configuration, lowest first (Locust's layering): the registry defaults below → a config file
(TOML or JSON: top-level ``host``, ``ready_timeout``, ``[ports]``, and one table per service,
e.g. ``[llm-stub] ttft_ms = 80``) → environment variables ``WORKBENCH_<SERVICE>_<KEY>`` (service
name upper-cased, ``-`` → ``_``: ``WORKBENCH_LLM_STUB_TTFT_MS=80``, ``WORKBENCH_GATEWAY_PORT=9000``;
values are parsed as JSON when they parse, else kept as strings), ``WORKBENCH_SERVE_HOST``,
``WORKBENCH_SERVE_CONFIG``, ``WORKBENCH_API_KEY`` → explicit arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import hashlib
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx

from workbench.config import state_dir as default_state_dir
from workbench.errors import ServiceError

__all__ = [
    "SERVICES",
    "START_ORDER",
    "ServiceSet",
    "ServiceSpec",
    "add_serve_arguments",
    "available_services",
    "free_port",
    "hash_api_key",
    "load_serve_config",
    "pdeathsig_preexec",
    "plan_services",
    "read_serve_state",
    "run_serve",
    "running_services",
    "serve",
]

SETTINGS_ENV = "WORKBENCH_SERVICE_SETTINGS"


@dataclass(frozen=True)
class ServiceSpec:
    """One entry of the service registry.

    Attributes
    ----------
    name : str
        Service name used everywhere (``serve.json`` key, ``--only``, env prefix).
    module : str
        Module exposing ``create_app(settings)``.
    port : int
        Default port.
    scheme : str
        URL scheme written to ``serve.json`` (``"ws"`` for realtime). The module may define
        ``WS_PATH`` (e.g. ``"/ws"``), appended to a ``ws`` URL.
    """

    name: str
    module: str
    port: int
    scheme: str = "http"


SERVICES: dict[str, ServiceSpec] = {
    spec.name: spec
    for spec in (
        ServiceSpec("gateway", "workbench.services.gateway", 8700),
        ServiceSpec("ai-core", "workbench.services.aicore", 8701),
        ServiceSpec("graphrag", "workbench.services.graphrag", 8702),
        ServiceSpec("llm-stub", "workbench.services.llmstub", 8703),
        ServiceSpec("realtime", "workbench.services.realtime", 8704, scheme="ws"),
        ServiceSpec("datatier", "workbench.services.datatier", 8705),
    )
}
#: Backends before the services that call them, the gateway last; stopped in reverse.
START_ORDER = ("llm-stub", "datatier", "graphrag", "realtime", "ai-core", "gateway")


def available_services() -> list[str]:
    """Registered services whose module exists in this checkout, in start order."""
    out = []
    for name in START_ORDER:
        try:
            found = importlib.util.find_spec(SERVICES[name].module) is not None
        except (ImportError, ValueError):
            found = False
        if found:
            out.append(name)
    return out


def hash_api_key(key: str) -> str:
    """The stored form of an API key: SHA-256 hex. Keys are random and long, so no salt or
    slow hash is needed (unlike passwords), and the gateway never holds the key itself.

    Examples
    --------
    >>> hash_api_key("k")[:12]
    '8254c329a928'
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same option uvicorn sets, so a socket in TIME_WAIT from a previous run is not
        # mistaken for a live server.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def load_serve_config(path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """Read a serve config file (``.toml`` or ``.json``); ``None`` gives ``{}``.

    Raises
    ------
    ServiceError
        The file is missing or cannot be parsed (the message names it).
    """
    if path is None:
        return {}
    p = Path(path)
    try:
        text = p.read_bytes()
    except OSError as exc:
        raise ServiceError(f"serve config {p}: cannot read: {exc}") from exc
    try:
        data = json.loads(text) if p.suffix == ".json" else tomllib.loads(text.decode())
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ServiceError(f"serve config {p}: cannot parse: {exc}") from exc
    if not isinstance(data, dict):
        raise ServiceError(f"serve config {p}: top level must be a table/object")
    return data


def _env_settings(name: str, environ: Mapping[str, str]) -> dict[str, Any]:
    prefix = "WORKBENCH_" + name.upper().replace("-", "_") + "_"
    return {
        key[len(prefix) :].lower(): _parse_value(value)
        for key, value in environ.items()
        if key.startswith(prefix)
    }


def _set_pdeathsig() -> None:  # pragma: no cover - runs in the child before exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def pdeathsig_preexec() -> Callable[[], None] | None:
    """``preexec_fn`` for :class:`subprocess.Popen`: the child gets SIGTERM when we die.

    Children run in their own session (``start_new_session=True``) so a terminal's Ctrl-C
    reaches only their parent; this death signal makes sure they still go when the parent is
    killed outright. Linux only (``None`` elsewhere). The kernel sends it when the *thread*
    that started the child ends, so start long-lived children from a long-lived thread.
    """
    return _set_pdeathsig if sys.platform.startswith("linux") else None


@dataclass
class _Child:
    name: str
    port: int
    settings: dict[str, Any]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None


@dataclass
class ServiceSet:
    """The services started by :func:`running_services`.

    Attributes
    ----------
    host : str
    api_key : str
        The gateway's API key (send as ``Authorization: Bearer <key>`` or ``X-API-Key``).
    urls : dict
        ``{service: base url}`` for the started services (realtime as ``ws://``).
    ports : dict
        ``{service: port}`` for every registered service (started or not).
    state_dir : Path
        Where ``serve.json`` and ``logs/`` live.
    """

    host: str
    api_key: str
    ports: dict[str, int]
    state_dir: Path
    ready_timeout: float
    children: dict[str, _Child] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def gateway(self) -> str:
        """Base URL of the gateway (``KeyError`` if it was not started)."""
        return self.urls["gateway"]

    @property
    def pids(self) -> dict[str, int]:
        """``{service: pid}`` of the running children."""
        return {
            n: c.process.pid
            for n, c in self.children.items()
            if c.process is not None and c.process.poll() is None
        }

    def url(self, name: str) -> str:
        """Base ``http://`` URL of a service (also for realtime's health and metrics)."""
        return f"http://{self.host}:{self.ports[name]}"

    def headers(self) -> dict[str, str]:
        """Authorization header for the gateway."""
        return {"Authorization": f"Bearer {self.api_key}"}

    def info(self) -> dict[str, Any]:
        """What ``serve.json`` holds: gateway URL, API key, one URL per service, pids."""
        out: dict[str, Any] = {"gateway": self.urls.get("gateway"), "api_key": self.api_key}
        out.update(self.urls)
        out["pids"] = self.pids
        out["launcher_pid"] = os.getpid()
        out["host"] = self.host
        out["started_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        return out

    # ------------------------------------------------------------------ lifecycle

    def start(self, name: str) -> None:
        """Start (or restart) one service of the set and wait until it is ready."""
        if self._spawn(name):
            self._wait_ready([name])

    def _spawn(self, name: str) -> bool:
        child = self.children[name]
        if child.process is not None and child.process.poll() is None:
            return False
        if not _port_is_free(self.host, child.port):
            raise ServiceError(
                f"cannot start {name}: port {child.port} on {self.host} is already in use "
                f"(another `workbench serve`?). Stop that process or choose other ports "
                f"(--port {name}=PORT or --port-base)."
            )
        self.state_dir.joinpath("logs").mkdir(parents=True, exist_ok=True)
        child.log_path = self.state_dir / "logs" / f"{name}.log"
        env = dict(os.environ)
        env[SETTINGS_ENV] = json.dumps(child.settings)
        cmd = [
            sys.executable, "-m", "workbench.services.run", name,
            "--host", self.host, "--port", str(child.port),
        ]  # fmt: skip
        with child.log_path.open("ab") as log:
            child.process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                # Own session: a terminal's Ctrl-C reaches only the launcher, which then stops
                # the children in order.
                start_new_session=True,
                preexec_fn=pdeathsig_preexec(),
            )
        spec = SERVICES[name]
        url = f"{spec.scheme}://{self.host}:{child.port}"
        if spec.scheme == "ws":
            url += _ws_path(spec.module)
        self.urls[name] = url
        return True

    def _wait_ready(self, names: Iterable[str]) -> None:
        deadline = time.monotonic() + self.ready_timeout
        pending = list(names)
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while pending:
                name = pending[0]
                child = self.children[name]
                assert child.process is not None
                code = child.process.poll()
                if code is not None:
                    raise ServiceError(
                        f"{name} exited with code {code} during startup; "
                        f"log {child.log_path}:\n{_tail(child.log_path)}"
                    )
                try:
                    r = client.get(f"{self.url(name)}/health")
                    if r.status_code == 200:
                        pending.pop(0)
                        continue
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise ServiceError(
                        f"{name} not ready after {self.ready_timeout:.0f} s on port "
                        f"{child.port}; log {child.log_path}:\n{_tail(child.log_path)}"
                    )
                time.sleep(0.05)

    def stop(self, name: str, timeout: float = 10.0) -> None:
        """Stop one service (SIGTERM, then SIGKILL after ``timeout`` s)."""
        self._stop([name], timeout)

    def kill(self, name: str) -> None:
        """Kill one service abruptly (SIGKILL): the crash a breaker must survive."""
        child = self.children[name]
        if child.process is not None and child.process.poll() is None:
            child.process.kill()
            child.process.wait()

    def _stop(self, names: Iterable[str], timeout: float) -> None:
        procs = []
        for name in names:
            child = self.children.get(name)
            if child is None or child.process is None:
                continue
            if child.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signal.SIGTERM)
            procs.append(child.process)
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self, timeout: float = 10.0) -> None:
        """Stop every service, gateway first."""
        order = [n for n in reversed(START_ORDER) if n in self.children]
        self._stop(order, timeout)

    def poll(self) -> dict[str, int]:
        """``{service: exit code}`` of children that have exited."""
        return {
            n: c.process.returncode
            for n, c in self.children.items()
            if c.process is not None and c.process.poll() is not None
        }


def _ws_path(module: str) -> str:
    # Read WS_PATH without importing the module (its import may be heavy): a plain
    # assignment at top level is all we look for.
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return ""
    try:
        for line in Path(spec.origin).read_text().splitlines():
            if line.startswith("WS_PATH") and "=" in line:
                value = line.split("=", 1)[1].split("#")[0].strip().strip("\"'")
                return value if value.startswith("/") else ""
    except OSError:
        pass
    return ""


def _tail(path: Path | None, lines: int = 30) -> str:
    if path is None or not path.is_file():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _resolve_only(only: str | Iterable[str] | None) -> list[str]:
    present = available_services()
    if only is None:
        return present
    wanted: list[str] = []
    for item in [only] if isinstance(only, str) else only:
        wanted.extend(part.strip() for part in str(item).split(",") if part.strip())
    for name in wanted:
        if name not in SERVICES:
            raise ValueError(f"only: unknown service {name!r}; known: {sorted(SERVICES)}")
        if name not in present:
            raise ServiceError(f"service {name!r} is not available in this checkout (no module)")
    return [n for n in START_ORDER if n in wanted]


def _resolve_ports(
    ports: Mapping[str, int] | Literal["free"] | None,
    port_base: int | None,
    config: Mapping[str, Any],
    environ: Mapping[str, str],
    host: str,
) -> dict[str, int]:
    out = {name: spec.port for name, spec in SERVICES.items()}
    if port_base is not None:
        out = {name: port_base + i for i, name in enumerate(SERVICES)}
    cfg_ports = config.get("ports", {})
    if not isinstance(cfg_ports, Mapping):
        raise ServiceError("serve config: [ports] must be a table of service = port")
    for name, port in cfg_ports.items():
        if name not in SERVICES:
            raise ServiceError(f"serve config: [ports] names unknown service {name!r}")
        out[name] = int(port)
    for name in SERVICES:
        env = _env_settings(name, environ).get("port")
        if env is not None:
            out[name] = int(env)
    if ports == "free":
        out = {name: free_port(host) for name in SERVICES}
    elif ports is not None:
        if not isinstance(ports, Mapping):
            raise TypeError(f"ports must be a mapping or 'free', got {type(ports).__name__}")
        for name, port in ports.items():
            if name not in SERVICES:
                raise ValueError(f"ports: unknown service {name!r}; known: {sorted(SERVICES)}")
            out[name] = int(port)
    for name, port in out.items():
        if not 0 < port < 65536:
            raise ValueError(f"ports: {name} port {port} out of range")
    return out


@contextlib.contextmanager
def running_services(
    only: str | Iterable[str] | None = None,
    *,
    host: str | None = None,
    ports: Mapping[str, int] | Literal["free"] | None = None,
    port_base: int | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    config: str | os.PathLike[str] | None = None,
    state_dir: str | os.PathLike[str] | None = None,
    api_key: str | None = None,
    ready_timeout: float | None = None,
    write_state: bool = True,
    environ: Mapping[str, str] | None = None,
) -> Iterator[ServiceSet]:
    """Start services as processes, wait until ready, yield them, stop them all on exit.

    Parameters
    ----------
    only : str or iterable of str, optional
        Services to start (names or comma-separated); default: every available one.
    host : str, optional
        Bind address, ``127.0.0.1`` unless configured otherwise.
    ports : mapping or ``"free"``, optional
        Per-service ports, or ``"free"`` for OS-chosen free ports (tests).
    port_base : int, optional
        Gateway on ``port_base``, the others on the following ports in registry order.
    settings : mapping, optional
        ``{service: {key: value}}`` overriding the config file and environment.
    config : path, optional
        Serve config file (``WORKBENCH_SERVE_CONFIG`` by default).
    state_dir : path, optional
        Where ``serve.json`` and logs go; default :func:`workbench.config.state_dir`.
    api_key : str, optional
        The gateway's API key; default ``WORKBENCH_API_KEY`` or a fresh random key.
    ready_timeout : float, optional
        Seconds each service may take to answer ``/health`` (default 60).
    write_state : bool
        Write ``serve.json`` (removed again on exit).

    Yields
    ------
    ServiceSet

    Raises
    ------
    ServiceError
        A port is taken, a service fails to start or is not ready in time.
    ValueError
        Unknown service name or bad port.
    """
    svc = plan_services(
        only, host=host, ports=ports, port_base=port_base, settings=settings, config=config,
        state_dir=state_dir, api_key=api_key, ready_timeout=ready_timeout, environ=environ,
    )  # fmt: skip
    taken = [
        f"{n} ({svc.host}:{svc.ports[n]})"
        for n in svc.children
        if not _port_is_free(svc.host, svc.ports[n])
    ]
    if taken:
        raise ServiceError(
            "port already in use for " + ", ".join(taken) + ". Another `workbench serve` may be "
            "running (see .workbench/serve.json); stop it or choose other ports "
            "(--port NAME=PORT or --port-base N)."
        )
    svc.state_dir.mkdir(parents=True, exist_ok=True)
    names = list(svc.children)
    sdir = svc.state_dir
    state_file = sdir / "serve.json"
    try:
        # All at once: no service needs another to be up to start (the gateway and ai-core
        # connect lazily), and the slow starters (numba compilation) overlap.
        for name in names:
            svc._spawn(name)
        svc._wait_ready(names)
        if write_state:
            _write_state(state_file, svc.info())
        yield svc
    finally:
        svc.stop_all()
        if write_state:
            with contextlib.suppress(OSError):
                current = json.loads(state_file.read_text())
                if current.get("launcher_pid") == os.getpid():
                    state_file.unlink()


def plan_services(
    only: str | Iterable[str] | None = None,
    *,
    host: str | None = None,
    ports: Mapping[str, int] | Literal["free"] | None = None,
    port_base: int | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    config: str | os.PathLike[str] | None = None,
    state_dir: str | os.PathLike[str] | None = None,
    api_key: str | None = None,
    ready_timeout: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> ServiceSet:
    """Resolve the layered configuration into a :class:`ServiceSet`, starting nothing.

    Parameters are those of :func:`running_services` (``environ`` replaces ``os.environ``
    for the ``WORKBENCH_*`` overrides). Each child's ``settings`` is, lowest first: the config
    file's table for the service, ``WORKBENCH_<SERVICE>_<KEY>`` variables, ``settings``; then
    ``name``, ``host``, ``port``, ``urls`` and ``services`` are set by the launcher, and the
    gateway gets ``api_key_hashes`` (never the key itself).

    Examples
    --------
    >>> svc = plan_services("llm-stub", port_base=9100, environ={"WORKBENCH_LLM_STUB_TTFT_MS": "5"})
    >>> svc.ports["llm-stub"], svc.children["llm-stub"].settings["ttft_ms"]
    (9103, 5)
    """
    env = os.environ if environ is None else environ
    cfg = load_serve_config(config if config is not None else env.get("WORKBENCH_SERVE_CONFIG"))
    host = host or env.get("WORKBENCH_SERVE_HOST") or str(cfg.get("host", "127.0.0.1"))
    names = _resolve_only(only)
    port_map = _resolve_ports(ports, port_base, cfg, env, host)
    key = api_key or env.get("WORKBENCH_API_KEY") or "wb_" + secrets.token_urlsafe(24)
    timeout = float(ready_timeout or cfg.get("ready_timeout", 60.0))
    sdir = Path(state_dir) if state_dir is not None else default_state_dir()
    base_urls = {n: f"http://{host}:{p}" for n, p in port_map.items()}
    svc = ServiceSet(host=host, api_key=key, ports=port_map, state_dir=sdir, ready_timeout=timeout)
    overrides = settings or {}
    for name in overrides:
        if name not in SERVICES:
            raise ValueError(f"settings: unknown service {name!r}; known: {sorted(SERVICES)}")
    for name in names:
        s: dict[str, Any] = {}
        section = cfg.get(name, {})
        if not isinstance(section, Mapping):
            raise ServiceError(f"serve config: [{name}] must be a table")
        s.update(section)
        s.update(_env_settings(name, env))
        s.update(overrides.get(name, {}))
        s.update(name=name, host=host, port=port_map[name], urls=base_urls, services=names)
        if name in ("gateway", "realtime"):  # both authenticate clients by the same key
            hashes = list(s.get("api_key_hashes", []))
            s["api_key_hashes"] = [hash_api_key(key), *hashes]
            s.pop("api_key", None)
        svc.children[name] = _Child(name=name, port=port_map[name], settings=s)
    return svc


def _write_state(path: Path, info: Mapping[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    # Holds the API key: readable by the owner only. A leftover temp file (from a crash, or
    # planted) would keep its own mode or be a symlink: remove it and create a fresh file.
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(info, fh, indent=2)
    os.replace(tmp, path)


def read_serve_state(state_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Read ``serve.json`` written by a running ``workbench serve``.

    Raises
    ------
    ServiceError
        No services are running (the file is missing).
    """
    path = Path(state_dir or default_state_dir()) / "serve.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ServiceError(f"{path} not found: start the services with `workbench serve`") from None


def serve(
    only: str | Iterable[str] | None = None,
    *,
    host: str | None = None,
    ports: Mapping[str, int] | None = None,
    port_base: int | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    config: str | os.PathLike[str] | None = None,
    state_dir: str | os.PathLike[str] | None = None,
    api_key: str | None = None,
    ready_timeout: float | None = None,
    out: Any = None,
) -> int:
    """Run the services in the foreground until SIGINT/SIGTERM; what ``workbench serve`` does.

    Starts each service as its own process on ``127.0.0.1`` (unless ``host`` says otherwise),
    waits until each is ready, writes ``<state dir>/serve.json`` (``gateway``, ``api_key``,
    one URL per service, ``pids``), then waits. On SIGINT or SIGTERM it stops all services
    (gateway first) and removes ``serve.json``. If a service dies on its own, the others are
    stopped too and the exit code is 1.

    Parameters are those of :func:`running_services`; ``out`` is the stream for the summary
    (stdout by default).

    Returns
    -------
    int
        0 after a signal, 1 if a service died.

    Raises
    ------
    ServiceError
        A port is taken or a service did not start (message says which and why).
    """
    out = out or sys.stdout
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        received.append(signum)
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        with running_services(
            only, host=host, ports=ports, port_base=port_base, settings=settings,
            config=config, state_dir=state_dir, api_key=api_key, ready_timeout=ready_timeout,
        ) as svc:  # fmt: skip
            print(f"workbench serve: {len(svc.urls)} services ready", file=out)
            for name, url in svc.urls.items():
                print(f"  {name:<9} {url}  (pid {svc.pids.get(name)})", file=out)
            print(f"  state: {svc.state_dir / 'serve.json'} (holds the API key)", file=out)
            print("Stop with Ctrl-C or SIGTERM.", file=out, flush=True)
            while not stop.wait(0.5):
                dead = svc.poll()
                if dead:
                    print(f"workbench serve: service exited: {dead}; stopping", file=out)
                    return 1
            print("workbench serve: stopping", file=out, flush=True)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``workbench serve`` options to an argparse parser (see :func:`run_serve`)."""
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"start only these services (repeat or comma-separate); known: "
        f"{', '.join(START_ORDER)}",
    )
    parser.add_argument("--host", help="bind address (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        action="append",
        default=[],
        metavar="NAME=PORT",
        help="port of one service, e.g. --port gateway=9000 (repeatable)",
    )
    parser.add_argument(
        "--port-base",
        type=int,
        help="gateway on this port, the other services on the next ones",
    )
    parser.add_argument("--config", help="serve config file (TOML or JSON)")
    parser.add_argument("--state-dir", help="where serve.json and logs go (default .workbench/)")
    parser.add_argument(
        "--api-key",
        help="gateway API key (default: $WORKBENCH_API_KEY or a random key; a key given here "
        "is visible in ps, the environment variable is not)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SERVICE.KEY=VALUE",
        help="override one service setting, e.g. --set llm-stub.ttft_ms=80 (repeatable)",
    )
    parser.add_argument(
        "--ready-timeout", type=float, help="seconds each service may take to start"
    )


def _parse_pairs(items: Iterable[str], what: str) -> list[tuple[str, str]]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{what}: expected KEY=VALUE, got {item!r}")
        out.append((key.strip(), value.strip()))
    return out


def run_serve(args: argparse.Namespace) -> int:
    """Run :func:`serve` from parsed ``workbench serve`` arguments; returns the exit code.

    Errors (port taken, service failed to start, bad option) are printed to stderr with
    exit code 2.
    """
    try:
        ports = {k: int(v) for k, v in _parse_pairs(args.port or [], "--port")}
        settings: dict[str, dict[str, Any]] = {}
        for key, value in _parse_pairs(args.set or [], "--set"):
            service, dot, name = key.partition(".")
            if not dot or service not in SERVICES:
                raise ValueError(
                    f"--set: expected SERVICE.KEY=VALUE with a known service, got {key!r}"
                )
            settings.setdefault(service, {})[name] = _parse_value(value)
        return serve(
            args.only,
            host=args.host,
            ports=ports or None,
            port_base=args.port_base,
            settings=settings,
            config=args.config,
            state_dir=args.state_dir,
            api_key=args.api_key,
            ready_timeout=args.ready_timeout,
        )
    except (ServiceError, ValueError, TypeError) as exc:
        print(f"workbench serve: error: {exc}", file=sys.stderr)
        return 2
