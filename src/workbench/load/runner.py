"""Run a Locust load test headless, in its own processes, and turn it into results.

:func:`run_load_test` is the Python API behind ``workbench load`` and the ``load_test``
notebook. It

1. finds the target: an explicit ``host`` (a non-loopback one only when given explicitly), else
   the gateway of a running ``workbench serve`` (``serve.json``, if it answers ``/health``),
   else services it starts itself on free loopback ports and stops afterwards;
2. runs Locust (``loadtests/locustfile.py``) as a subprocess - one local runner, or a master and
   ``workers`` worker processes - because Locust's gevent monkey patching must never enter the
   caller's process (a notebook kernel, the CLI);
3. watches the generator's CPU and the services' memory with psutil while it runs, prints a
   progress line, and kills everything that is still running after the schedule plus a grace;
4. reads the HDR histograms the Locust processes wrote, summarises them per phase and per
   endpoint, finds the knee of a step load, checks the SLO, and records it all in the result
   store under ``reports/<run-id>/`` with Locust's CSV and HTML report in ``load/``.

Nothing here imports Locust.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import httpx
import psutil

from workbench.config import project_root, state_dir
from workbench.errors import RunError, ServiceError
from workbench.load.latency import PERCENTILES, LatencyBook, percentile_key
from workbench.load.scenarios import ROUTING_ENDPOINT, weights_for
from workbench.load.shapes import (
    Schedule,
    constant_schedule,
    open_schedule,
    spike_schedule,
    step_schedule,
)
from workbench.load.slo import SLO, Violation, knee
from workbench.results import Recorder, merge_run, new_run_id, run_dir_for

__all__ = [
    "CLAIM_ROWS",
    "DEFAULT_SERVICE_SETTINGS",
    "LAG_LIMIT_S",
    "SATURATION_PCT",
    "LoadResult",
    "Target",
    "is_loopback",
    "locustfile_path",
    "parse_duration",
    "resolve_target",
    "run_load_test",
]

#: A generator process above this share of one core is saturated (Locust warns at 90 % too).
SATURATION_PCT = 90.0
#: ... or when its event loop wakes up this late at the 99th percentile: it could not send
#: or time requests when it meant to (short of CPU, whether busy or starved by others).
LAG_LIMIT_S = 0.05
#: Settings for services the load test starts itself: the gateway's per-key rate limit is
#: lifted so that a load test measures the gateway, not the limiter it was told to enforce.
DEFAULT_SERVICE_SETTINGS: dict[str, dict[str, Any]] = {
    "gateway": {"rate_limit": {"rate_per_s": 1e9, "burst": 1_000_000_000}},
}
_GRACE_S = 45.0  # startup, worker connection, stop timeout: the kill deadline's margin
#: The plan's claim rows a closed-model test can record.
CLAIM_ROWS = ("requests_per_second", "concurrent_connections", "api_routing")
#: Endpoint name the locustfile gives open-model arrivals that were never sent.
UNSENT = "unsent"
_STOP_TIMEOUT_S = 5  # in-flight requests get this long to finish when the test stops


def parse_duration(text: str | float | int) -> float:
    """Seconds from ``"10s"``, ``"2m"``, ``"1h30m"``, ``"1.5"`` (seconds) or a number.

    Examples
    --------
    >>> parse_duration("10s"), parse_duration("1m30s"), parse_duration(2.5)
    (10.0, 90.0, 2.5)
    """
    if isinstance(text, int | float):
        value = float(text)
    else:
        s = str(text).strip().lower()
        if re.fullmatch(r"\d+(\.\d+)?", s):
            value = float(s)
        else:
            parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", s)
            if not parts or "".join(a + b for a, b in parts) != s:
                raise ValueError(f"duration {text!r}: expected e.g. 10s, 2m, 1h30m or seconds")
            unit = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
            value = sum(float(a) * unit[b] for a, b in parts)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"duration must be positive, got {text!r}")
    return value


def is_loopback(url: str) -> bool:
    """Whether ``url``'s host is a loopback address (``127.0.0.0/8``, ``::1``, ``localhost``).

    Names are resolved; a name is loopback only if every address it resolves to is.

    Examples
    --------
    >>> is_loopback("http://127.0.0.1:8700"), is_loopback("http://10.0.0.5")
    (True, False)
    """
    host = urlsplit(url if "://" in url else f"http://{url}").hostname or ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addrs = {info[4][0] for info in infos}
    return bool(addrs) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs)


def locustfile_path() -> Path:
    """``loadtests/locustfile.py`` of the checkout."""
    return project_root() / "loadtests" / "locustfile.py"


# --------------------------------------------------------------------------- target


@dataclass
class Target:
    """What the load test runs against.

    Attributes
    ----------
    host : str
        Gateway base URL.
    api_key : str
    started : bool
        True when the services were started for this test (and are stopped after it).
    service_pids : dict
        ``{service: pid}`` of local services (for their RSS); empty for a remote host.
    services : list of str
        Services known to be running (decides which optional users join the mix).
    state_dir : Path or None
        Where that set's ``serve.json`` lives (passed to the Locust processes).
    """

    host: str
    api_key: str
    started: bool = False
    service_pids: dict[str, int] = field(default_factory=dict)
    services: list[str] = field(default_factory=list)
    state_dir: Path | None = None


def _health_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            return client.get(url.rstrip("/") + "/health").status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def resolve_target(
    host: str | None = None,
    *,
    api_key: str | None = None,
    services: Sequence[str] | None = None,
    service_settings: Mapping[str, Mapping[str, Any]] | None = None,
    use_running: bool = True,
    out: TextIO | None = None,
) -> Iterator[Target]:
    """Find or start the gateway to load; stop what was started on exit.

    Parameters
    ----------
    host : str, optional
        Explicit gateway URL. May be any host: giving it is the explicit consent a
        non-loopback target needs.
    api_key : str, optional
        Key for an explicit host (default ``$WORKBENCH_API_KEY``, else ``serve.json``'s).
    services : sequence of str, optional
        Services to start when none are running (default: every available one).
    service_settings : mapping, optional
        Settings for started services, over :data:`DEFAULT_SERVICE_SETTINGS`.
    use_running : bool
        Use a running ``workbench serve`` when it answers (default True).

    Raises
    ------
    ServiceError
        The implicit target is not loopback, or the services cannot be started.
    """
    out = out or sys.stderr
    if host:
        if not is_loopback(host):
            print(f"workbench load: explicit non-loopback target {host}", file=out)
        key = api_key or os.environ.get("WORKBENCH_API_KEY") or ""
        pids: dict[str, int] = {}
        names: list[str] = []
        with contextlib.suppress(ServiceError, ValueError, OSError):
            st = _read_state()
            if str(st.get("gateway", "")).rstrip("/") == host.rstrip("/"):
                key = key or str(st.get("api_key") or "")
                pids = {k: int(v) for k, v in (st.get("pids") or {}).items()}
                names = [n for n in pids]
        yield Target(host.rstrip("/"), key, service_pids=pids, services=names)
        return
    if use_running:
        try:
            st = _read_state()
        except (ServiceError, ValueError, OSError):
            st = {}
        gw = str(st.get("gateway") or "")
        # Refuse before anything is sent: not even a health check goes to another host.
        if gw and not is_loopback(gw):
            raise ServiceError(
                f"serve.json points at {gw}, which is not loopback; a load test goes to "
                "another host only when it is given explicitly with --host"
            )
        if gw and _health_ok(gw):
            pids = {k: int(v) for k, v in (st.get("pids") or {}).items()}
            print(f"workbench load: using running services at {gw}", file=out)
            yield Target(
                gw.rstrip("/"),
                api_key or str(st.get("api_key") or ""),
                service_pids=pids,
                services=list(pids),
                state_dir=state_dir(),
            )
            return
    from workbench.services.launcher import running_services

    settings: dict[str, dict[str, Any]] = {k: dict(v) for k, v in DEFAULT_SERVICE_SETTINGS.items()}
    for name, s in (service_settings or {}).items():
        settings.setdefault(name, {}).update(s)
    with tempfile.TemporaryDirectory(prefix="wb-load-serve-") as tmp:
        print("workbench load: starting services on free loopback ports ...", file=out, flush=True)
        only = list(services) if services else None
        if only is not None and "gateway" not in only:
            only.append("gateway")
        from workbench.services.launcher import available_services

        present = set(available_services())
        settings = {k: v for k, v in settings.items() if k in present}
        with running_services(
            only,
            host="127.0.0.1",
            ports="free",
            state_dir=tmp,
            settings=settings,
            api_key=api_key,
            ready_timeout=180,
        ) as svc:
            yield Target(
                svc.gateway,
                svc.api_key,
                started=True,
                service_pids=dict(svc.pids),
                services=list(svc.urls),
                state_dir=Path(tmp),
            )


def _read_state() -> dict[str, Any]:
    from workbench.services.launcher import read_serve_state

    return read_serve_state()


# --------------------------------------------------------------------------- monitoring


class _Monitor:
    """Samples the generator processes' CPU and the services' RSS once a second."""

    def __init__(self, generators: Mapping[str, int], services: Mapping[str, int]) -> None:
        self.cpu: dict[str, list[float]] = {k: [] for k in generators}
        self.rss: dict[str, int] = {}
        self.rss_start: dict[str, int] = {}
        self.host_cpu: list[float] = []
        self._gen = {k: self._proc(p) for k, p in generators.items()}
        self._svc = {k: self._proc(p) for k, p in services.items()}
        for name, proc in self._svc.items():
            with contextlib.suppress(psutil.Error, AttributeError):
                self.rss_start[name] = proc.memory_info().rss  # type: ignore[union-attr]
        psutil.cpu_percent(None)
        for proc in self._gen.values():
            with contextlib.suppress(psutil.Error, AttributeError):
                proc.cpu_percent(None)  # type: ignore[union-attr]

    @staticmethod
    def _proc(pid: int) -> psutil.Process | None:
        try:
            return psutil.Process(pid)
        except psutil.Error:
            return None

    def sample(self) -> None:
        self.host_cpu.append(psutil.cpu_percent(None))
        for name, proc in self._gen.items():
            if proc is None:
                continue
            with contextlib.suppress(psutil.Error):
                self.cpu[name].append(proc.cpu_percent(None))
        for name, proc in self._svc.items():
            if proc is None:
                continue
            with contextlib.suppress(psutil.Error):
                self.rss[name] = max(self.rss.get(name, 0), proc.memory_info().rss)

    def summary(self, skip: int = 2) -> dict[str, Any]:
        # The first seconds are startup (imports, spawning), not load generation.
        per = {}
        for name, xs in self.cpu.items():
            body = xs[skip:] if len(xs) > skip + 1 else xs
            per[name] = {
                "mean_pct": float(sum(body) / len(body)) if body else math.nan,
                "max_pct": float(max(body)) if body else math.nan,
            }
        gens = {k: v for k, v in per.items() if k != "master"} or per
        busiest = max(
            (v["mean_pct"] for v in gens.values() if math.isfinite(v["mean_pct"])), default=math.nan
        )
        host = self.host_cpu[skip:] if len(self.host_cpu) > skip + 1 else self.host_cpu
        return {
            "processes": per,
            "busiest_mean_pct": busiest,
            "host_cpu_mean_pct": float(sum(host) / len(host)) if host else math.nan,
            "logical_cores": os.cpu_count() or 1,
        }


# --------------------------------------------------------------------------- result


@dataclass
class LoadResult:
    """What a load test measured.

    Attributes
    ----------
    run_id, run_dir, out_dir
        The run, its folder, and ``<run_dir>/load[/<label>]`` with Locust's CSV and HTML.
    scenario, schedule, host, implementation, workers
        What ran against what.
    book : LatencyBook
        Every request's latency, by phase and endpoint.
    phases : list of dict
        Per phase: ``index``, ``label``, ``users``, ``offered_rps`` (open model), ``requests``,
        ``failures``, ``error_ratio``, ``rps``, ``mean``, ``p50`` ... ``p99.9`` (user-seen
        latency, seconds) and ``service_p50``, ``service_p99`` (from the actual send).
    endpoints : list of dict
        The same figures per endpoint over the whole run.
    total : dict
        The same over everything.
    knee : dict or None
        Step load: the phase with the highest throughput within the SLO.
    slo, violations
        The SLO checked and what failed (empty: passed).
    generator : dict
        CPU of the Locust processes and of the host; ``saturated`` says whether the load
        generator, not the server, may have been the bottleneck.
    services_rss : dict
        Peak RSS (bytes) per local service process during the test.
    """

    run_id: str
    run_dir: Path
    out_dir: Path
    scenario: str
    schedule: Schedule
    host: str
    implementation: str
    workers: int
    book: LatencyBook
    phases: list[dict[str, Any]]
    endpoints: list[dict[str, Any]]
    total: dict[str, Any]
    knee: dict[str, Any] | None
    slo: SLO
    violations: list[Violation]
    generator: dict[str, Any]
    services_rss: dict[str, int]
    services_rss_start: dict[str, int]
    locust_exit_code: int
    locust_requests: int | None
    unfinished: int
    stopped_early: str | None
    wall_s: float

    @property
    def ok(self) -> bool:
        """The SLO held."""
        return not self.violations

    @property
    def exit_code(self) -> int:
        """0 when the SLO held, 1 otherwise."""
        return 0 if self.ok else 1

    def phases_frame(self):
        """:attr:`phases` as a polars DataFrame."""
        import polars as pl

        return pl.DataFrame(self.phases)

    def endpoints_frame(self):
        """:attr:`endpoints` as a polars DataFrame."""
        import polars as pl

        return pl.DataFrame(self.endpoints)

    def summary_line(self) -> str:
        t = self.total
        sat = " GENERATOR CPU SATURATED" if self.generator.get("saturated") else ""
        return (
            f"{t['requests']} requests, {t['failures']} failed ({t['error_ratio']:.3%}), "
            f"{t['rps']:.1f} req/s, p50 {t['p50'] * 1e3:.1f} ms, p99 {t['p99'] * 1e3:.1f} ms, "
            f"p99.9 {t['p99.9'] * 1e3:.1f} ms{sat}"
        )


def _figures(book: LatencyBook, phase: int | None, name: str | None) -> dict[str, Any]:
    s = book.summary(phase, name)
    svc = book.summary(phase, name, which="service")
    unsent = 0
    if UNSENT in book.names and name in (None, UNSENT):
        unsent = int(book.summary(phase, UNSENT)["requests"])
    span = s["span_s"]
    sent = int(s["requests"]) - unsent
    out: dict[str, Any] = {
        "requests": int(s["requests"]),
        "failures": int(s["failures"]),
        "error_ratio": s["error_ratio"],
        # Throughput counts what was answered; never-sent open-model arrivals only add to
        # the latency and the failures.
        "rps": sent / span if span and span > 0 else math.nan,
        "unsent": unsent,
        "mean": s["mean"],
        "max": s["max"],
    }
    for p in PERCENTILES:
        out[percentile_key(p)] = s[percentile_key(p)]
    out["service_p50"] = svc["p50"]
    out["service_p99"] = svc["p99"]
    return out


def _analyse(
    book: LatencyBook, schedule: Schedule, last_phase: int | None = None
) -> tuple[list, list, dict]:
    phases = []
    for i, p in enumerate(schedule.phases):
        if i not in book.phases:
            continue
        if last_phase is not None and i > last_phase:
            # Stopped on the SLO: the next step only began; its few requests stay in the
            # totals but make no step of their own.
            continue
        row = {"index": i, "label": p.label, "users": p.users, "offered_rps": p.rate}
        row.update(_figures(book, i, None))
        if schedule.kind != "open":
            # Rate over the phase's window, not the span of its requests: a step's ramp and
            # its stragglers belong to it.
            row["rps"] = (row["requests"] - row["unsent"]) / p.duration_s
        phases.append(row)
    endpoints = []
    for name in book.names:
        row = {"name": name}
        row.update(_figures(book, None, name))
        endpoints.append(row)
    total = _figures(book, None, None)
    return phases, endpoints, total


# --------------------------------------------------------------------------- running


def _schedule_for(
    users: int | Sequence[int] | None,
    rate: float | Sequence[float] | None,
    duration_s: float,
    shape: str,
    spike_users: int | None,
    max_in_flight: int | None,
    arrivals: str,
    stop_on_slo: bool,
    slo: SLO,
    warmup_s: float = 0.0,
) -> Schedule:
    if rate is not None:
        if users is not None and max_in_flight is None:
            max_in_flight = int(users) if isinstance(users, int) else max(users)
        rates = [float(rate)] if isinstance(rate, int | float) else [float(r) for r in rate]
        sched = open_schedule(
            rates, duration_s / len(rates), max_in_flight=max_in_flight, arrivals=arrivals
        )
    elif users is None:
        raise ValueError("give users (closed model) or rate (open model)")
    elif shape == "step" or not isinstance(users, int):
        steps = [int(users)] if isinstance(users, int) else [int(u) for u in users]
        if len(steps) == 1:  # "--shape step --users 40": doubling steps up to 40
            top, steps = steps[0], []
            u = top
            while u >= 1 and len(steps) < 5:
                steps.insert(0, u)
                u //= 2
        sched = step_schedule(steps, duration_s / len(steps), stop_on_slo=stop_on_slo)
    elif shape == "spike":
        sched = spike_schedule(int(users), int(spike_users or 5 * int(users)), duration_s)
    elif shape == "constant":
        sched = constant_schedule(int(users), duration_s)
    else:
        raise ValueError(f"shape must be constant, step or spike, got {shape!r}")
    if warmup_s and sched.open_model:
        raise ValueError("warmup_s is for the closed model (the open model has its own lead)")
    return dataclasses.replace(
        sched,
        slo={"max_p99_s": slo.max_p99_s, "max_error_ratio": slo.max_error_ratio},
        warmup_s=float(warmup_s),
    )


def _progress_printer(stream: TextIO, total_s: float, enabled: bool):
    last = [0.0]
    tty = enabled and hasattr(stream, "isatty") and stream.isatty()

    def show(line: dict[str, Any]) -> None:
        if not enabled:
            return
        now = time.monotonic()
        p99 = line.get("p99_ms")
        text = (
            f"[load] {line.get('elapsed', 0):5.1f}/{total_s:.0f} s  users {line.get('users')}  "
            f"req {line.get('requests')}  fail {line.get('failures')}  "
            f"{line.get('rps', 0):.0f} req/s  p99 {p99 if p99 is not None else '-'} ms"
        )
        if tty:
            stream.write("\r" + text + "   ")
            stream.flush()
        elif now - last[0] >= 5.0:
            stream.write(text + "\n")
            stream.flush()
            last[0] = now

    def end() -> None:
        if tty:
            stream.write("\n")
            stream.flush()

    return show, end


def _pump(proc: subprocess.Popen[str], log: TextIO, show) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("WBPROGRESS "):
            with contextlib.suppress(ValueError):
                show(json.loads(line[len("WBPROGRESS ") :]))
            continue
        log.write(line)
    log.flush()


def _stop(procs: Sequence[subprocess.Popen[str]], timeout: float = 10.0) -> None:
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _read_books(out_dir: Path, workers: int) -> tuple[LatencyBook, dict[str, Any], str]:
    master_path = out_dir / "master.json"
    if not master_path.is_file():
        raise RunError(f"Locust wrote no results ({master_path} missing); see {out_dir}/locust.log")
    master = json.loads(master_path.read_text())
    book = LatencyBook()
    source = "master"
    files = sorted(out_dir.glob("worker-*.json"))
    if workers and len(files) == workers:
        # Local workers' own files hold everything they recorded, including a final report
        # that may have reached the master too late.
        issued = 0
        lag: list[float] = []
        for f in files:
            w = json.loads(f.read_text())
            book.merge(w["book"])
            issued += int(w.get("issued") or 0)
            lag += w.get("lag") or []
        master["issued"] = max(int(master.get("issued") or 0), issued)
        master["lag"] = lag
        source = "workers"
    else:
        book.merge(master["book"])
    return book, master, source


def _locust_total(out_dir: Path) -> int | None:
    path = out_dir / "locust_stats.csv"
    if not path.is_file():
        return None
    import csv

    with path.open() as fh:
        for row in csv.DictReader(fh):
            if row.get("Name") == "Aggregated":
                return int(row["Request Count"])
    return None


def run_load_test(
    scenario: str = "mixed",
    users: int | Sequence[int] | None = None,
    rate: float | Sequence[float] | None = None,
    duration_s: float | str = 10.0,
    *,
    host: str | None = None,
    api_key: str | None = None,
    workers: int = 0,
    remote_workers: int = 0,
    master_bind: str = "127.0.0.1",
    master_port: int | None = None,
    shape: str = "constant",
    spike_users: int | None = None,
    slo: SLO | None = None,
    stop_on_slo: bool = False,
    weights: Mapping[str, float] | None = None,
    think_s: float = 0.0,
    warmup_s: float = 0.0,
    max_in_flight: int | None = None,
    arrivals: str = "uniform",
    run_dir: str | Path | None = None,
    label: str | None = None,
    suite: str | None = None,
    notebook: str = "load",
    implementation: str | None = None,
    services: Sequence[str] | None = None,
    service_settings: Mapping[str, Mapping[str, Any]] | None = None,
    use_running: bool = True,
    target: Target | None = None,
    record: bool = True,
    claims: Sequence[str] | None = None,
    progress: bool = True,
    out: TextIO | None = None,
) -> LoadResult:
    """Run one headless Locust load test and record what it measured.

    Parameters
    ----------
    scenario : str
        Endpoint mix from ``loadtests/gateway_users.py`` (``mixed``, ``gateway``, ``health``,
        ``routing``, ``chat``, ``graph``, ``vectors``, ``compute``).
    users : int or sequence of int, optional
        Closed model: concurrent users; a sequence is a step load. With ``rate``: the most
        requests in flight (the open model's pool).
    rate : float or sequence of float, optional
        Open model: arrivals per second; a sequence offers each rate in turn.
    duration_s : float or str
        Whole test length (``"10s"``, ``"2m"``); split evenly over steps or rates. Required:
        a load test always stops by itself.
    host : str, optional
        Gateway URL; default: a running ``workbench serve`` on loopback, else services started
        here on free loopback ports (and stopped after).
    workers : int
        0: one Locust process. N >= 1: Locust's distributed mode, a master and N workers.
    remote_workers : int
        Workers started by hand on other machines (``locust -f loadtests/locustfile.py
        --worker --master-host <this machine>``); the master waits up to 60 s for all of them.
        They load ``host`` as given, so it must be an address they can reach.
    master_bind, master_port : optional
        Interface and port the master listens on (default loopback and a free port; remote
        workers need an interface they can reach, e.g. ``0.0.0.0``, and a known port).
    shape : {"constant", "step", "spike"}
        Closed-model load shape (``users`` as a list implies ``"step"``).
    slo : SLO, optional
        Checked over the whole run. For a step load it defines the knee instead, and the run
        passes when a knee exists and carries ``slo.min_rps``.
    stop_on_slo : bool
        Step load: stop after the first step that breaks the SLO.
    weights : mapping, optional
        Per-endpoint weights overriding the scenario's.
    think_s : float
        Closed model: pause between a user's requests.
    warmup_s : float
        Closed model: seconds of load before ``duration_s`` whose requests are not recorded.
    run_dir : path, optional
        Record into this run (a notebook's ``run_dir``); default: a new run ``<id>-load``.
    label : str, optional
        Names the results part file and the ``load/<label>`` folder (several tests per run).
    implementation : str, optional
        Label of the system under test in the results (default ``python-gateway`` for the
        workbench's own services, ``external`` for an explicit host).
    service_settings : mapping, optional
        Settings for services started here (over :data:`DEFAULT_SERVICE_SETTINGS`).
    target : Target, optional
        A target from :func:`resolve_target` to reuse across several tests (a notebook
        starts the services once); overrides ``host``.
    record : bool
        Write results (default True).
    claims : sequence of str, optional
        Which of the plan's claim rows this test records: ``"requests_per_second"``,
        ``"concurrent_connections"``, ``"api_routing"`` (default: every one that applies;
        closed-model runs only; a step load records its knee).
    progress : bool
        Print a progress line (to ``out``, stderr by default).

    Returns
    -------
    LoadResult

    Raises
    ------
    ValueError
        Bad parameters.
    ServiceError
        No target could be found or started, or the implicit target is not loopback.
    RunError
        Locust failed to run or to write its results.

    Examples
    --------
    >>> from workbench.load import run_load_test, SLO          # doctest: +SKIP
    >>> r = run_load_test("mixed", users=20, duration_s="10s",
    ...                   slo=SLO(max_p99_s=0.5))              # doctest: +SKIP
    >>> r.total["rps"], r.total["p99"], r.ok                   # doctest: +SKIP
    """
    out = out or sys.stderr
    duration = parse_duration(duration_s)
    if int(workers) < 0 or int(remote_workers) < 0:
        raise ValueError(f"workers must be >= 0, got {workers} and {remote_workers}")
    workers = int(workers)
    remote_workers = int(remote_workers)
    if remote_workers and host is None and target is None:
        raise ValueError(
            "remote workers load the host they are given: pass host= (an address they can reach)"
        )
    slo = slo or SLO()
    sched = _schedule_for(
        users, rate, duration, shape, spike_users, max_in_flight, arrivals, stop_on_slo, slo,
        warmup_s,
    )  # fmt: skip
    mix = weights_for(scenario, weights)
    think_s = float(think_s)
    if think_s < 0:
        raise ValueError(f"think_s must be >= 0, got {think_s}")
    locustfile = locustfile_path()
    if not locustfile.is_file():
        raise RunError(f"{locustfile} not found: run from a workbench checkout")

    if run_dir is None:
        run_id = new_run_id("load")
        rdir = run_dir_for(run_id)
    else:
        rdir = Path(run_dir)
        run_id = rdir.name
    odir = rdir / "load" / label if label else rdir / "load"
    odir.mkdir(parents=True, exist_ok=True)
    for stale in (*odir.glob("worker-*.json"), odir / "master.json"):
        stale.unlink(missing_ok=True)

    t_wall = time.monotonic()
    with contextlib.ExitStack() as stack:
        if target is None:
            target = stack.enter_context(
                resolve_target(
                    host,
                    api_key=api_key,
                    services=services,
                    service_settings=service_settings,
                    use_running=use_running,
                    out=out,
                )
            )
            own = host is None
        else:
            own = target.started or (host is None and is_loopback(target.host))
        impl = implementation or ("python-gateway" if own else "external")
        extras = [k for k, svc in (("agents", "datatier"), ("realtime", "realtime"))
                  if mix.get(k, 0) > 0 and svc in target.services]  # fmt: skip
        run = _launch(
            locustfile, target, sched, scenario, weights, think_s, workers, extras, odir,
            progress, out, remote_workers, master_bind, master_port,
        )  # fmt: skip
    book, master, source = _read_books(odir, workers)
    phases, endpoints, total = _analyse(book, sched, master.get("last_phase"))
    gen = run["monitor"].summary()
    gen["cpu_warning_logged"] = bool(master.get("cpu_warning")) or run["cpu_warning_logged"]
    lag = sorted(float(x) for x in master.get("lag") or [])
    gen["loop_lag_p99_s"] = lag[min(len(lag) - 1, int(0.99 * len(lag)))] if lag else math.nan
    gen["loop_lag_max_s"] = lag[-1] if lag else math.nan
    gen["saturated"] = bool(
        gen["cpu_warning_logged"]
        or (math.isfinite(gen["busiest_mean_pct"]) and gen["busiest_mean_pct"] >= SATURATION_PCT)
        or (math.isfinite(gen["loop_lag_p99_s"]) and gen["loop_lag_p99_s"] >= LAG_LIMIT_S)
    )
    knee_row = knee(phases, slo) if sched.kind == "step" else None
    if sched.kind == "step":
        # A step load is meant to go past the limits; what must hold is that some step met
        # the SLO (the knee) and carried the minimum throughput.
        if knee_row is None:
            violations = [Violation("knee", math.nan, math.nan, "no step met the SLO")]
        else:
            violations = SLO(min_rps=slo.min_rps).check(
                p99_s=knee_row["p99"], error_ratio=knee_row["error_ratio"], rps=knee_row["rps"]
            )
    else:
        violations = slo.check(
            p99_s=total["p99"], error_ratio=total["error_ratio"], rps=total["rps"]
        )
    if total["requests"] == 0:
        violations.append(Violation("requests", 0.0, 1.0, "no request completed"))
    unfinished = int(total.get("unsent", 0))
    result = LoadResult(
        run_id=run_id,
        run_dir=rdir,
        out_dir=odir,
        scenario=scenario,
        schedule=sched,
        host=target.host,
        implementation=impl,
        workers=workers + remote_workers,
        book=book,
        phases=phases,
        endpoints=endpoints,
        total=total,
        knee=knee_row,
        slo=slo,
        violations=violations,
        generator=gen,
        services_rss=dict(run["monitor"].rss),
        services_rss_start=dict(run["monitor"].rss_start),
        locust_exit_code=run["exit_code"],
        locust_requests=_locust_total(odir),
        unfinished=unfinished,
        stopped_early=master.get("stopped_early"),
        wall_s=time.monotonic() - t_wall,
    )
    (odir / "summary.json").write_text(json.dumps(_summary_json(result, source), indent=2))
    if record:
        _record(result, suite=suite, notebook=notebook, label=label, claims=claims)
    return result


def _launch(
    locustfile: Path,
    target: Target,
    sched: Schedule,
    scenario: str,
    weights: Mapping[str, float] | None,
    think_s: float,
    workers: int,
    extras: Sequence[str],
    odir: Path,
    progress: bool,
    out: TextIO,
    remote_workers: int = 0,
    master_bind: str = "127.0.0.1",
    master_port: int | None = None,
) -> dict[str, Any]:
    from workbench.services.launcher import free_port, pdeathsig_preexec

    env = dict(os.environ)
    env["WORKBENCH_API_KEY"] = target.api_key
    env["PYTHONUNBUFFERED"] = "1"
    if target.state_dir is not None:
        # The data-tier and realtime users find their URLs in this set's serve.json.
        env["WORKBENCH_STATE_DIR"] = str(target.state_dir)
    wb_args = [
        "--wb-schedule", sched.to_json(),
        "--wb-scenario", scenario,
        "--wb-think-s", repr(think_s),
        "--wb-procs", str(max(1, workers + remote_workers)),
        "--wb-out", str(odir),
    ]  # fmt: skip
    if weights:
        wb_args += ["--wb-weights", ",".join(f"{k}={v:g}" for k, v in weights.items())]
    if extras:
        wb_args += ["--wb-extras", ",".join(extras)]
    base = [sys.executable, "-m", "locust", "-f", str(locustfile)]
    master_cmd = [
        *base, "--headless", "-H", target.host,
        "--csv", str(odir / "locust"), "--html", str(odir / "report.html"),
        "--only-summary", "--stop-timeout", str(_STOP_TIMEOUT_S),
        "--exit-code-on-error", "0", "--loglevel", "INFO", *wb_args,
    ]  # fmt: skip
    worker_cmds: list[list[str]] = []
    if workers or remote_workers:
        port = master_port or free_port()
        if master_bind not in ("127.0.0.1", "localhost", "::1"):
            print(f"workbench load: master listening on {master_bind}:{port}", file=out)
        master_cmd += [
            "--master", "--master-bind-host", master_bind, "--master-bind-port", str(port),
            "--expect-workers", str(workers + remote_workers),
            "--expect-workers-max-wait", "60",
        ]  # fmt: skip
        worker_cmds = [
            [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port),
             "--loglevel", "INFO"]
            for _ in range(workers)
        ]  # fmt: skip
    show, end = _progress_printer(out, sched.warmup_s + sched.duration_s, progress)
    procs: list[subprocess.Popen[str]] = []
    threads: list[threading.Thread] = []
    logs: list[TextIO] = []
    deadline_s = (
        sched.warmup_s + sched.duration_s + _GRACE_S + (1.0 + sched.max_users / sched.spawn_rate)
    )
    if remote_workers:
        deadline_s += 60.0  # the master's wait for the remote workers
    try:
        for i, cmd in enumerate([master_cmd, *worker_cmds]):
            name = "locust.log" if i == 0 else f"locust-worker-{i}.log"
            log = (odir / name).open("w")
            logs.append(log)
            p = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                env=env,
                cwd=str(locustfile.parent),
                # Own session: a terminal's Ctrl-C reaches only us, and we stop Locust in
                # order; the death signal stops it even if we are killed outright.
                start_new_session=True,
                preexec_fn=pdeathsig_preexec(),
            )
            procs.append(p)
            t = threading.Thread(target=_pump, args=(p, log, show if i == 0 else (lambda _: None)))
            t.daemon = True
            t.start()
            threads.append(t)
        gens = {"master" if workers or remote_workers else "local": procs[0].pid}
        gens.update({f"worker-{i + 1}": p.pid for i, p in enumerate(procs[1:])})
        monitor = _Monitor(gens, target.service_pids)
        start = time.monotonic()
        while procs[0].poll() is None:
            time.sleep(1.0)
            monitor.sample()
            if time.monotonic() - start > deadline_s:
                print(
                    f"\nworkbench load: Locust still running {deadline_s:.0f} s after start; "
                    "stopping it",
                    file=out,
                )
                break
    finally:
        # Workers quit when the master tells them; anything left is stopped here.
        _stop(procs[:1], timeout=15.0)
        _stop(procs[1:], timeout=15.0)
        for t in threads:
            t.join(timeout=5.0)
        for log in logs:
            log.close()
        end()
    text = "".join(
        (odir / n).read_text(errors="replace")
        for n in ["locust.log", *(f"locust-worker-{i}.log" for i in range(1, workers + 1))]
        if (odir / n).is_file()
    )
    code = procs[0].returncode
    if code not in (0, None) and not (odir / "master.json").is_file():
        raise RunError(
            f"Locust exited with code {code}; see {odir / 'locust.log'}:\n{text[-2000:]}"
        )
    return {
        "monitor": monitor,
        "exit_code": int(code if code is not None else -1),
        "cpu_warning_logged": "CPU usage above" in text,
    }


def _summary_json(r: LoadResult, source: str) -> dict[str, Any]:
    def clean(x: Any) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x

    return clean(
        {
            "run_id": r.run_id,
            "scenario": r.scenario,
            "host": r.host,
            "implementation": r.implementation,
            "workers": r.workers,
            "schedule": json.loads(r.schedule.to_json()),
            "total": r.total,
            "phases": r.phases,
            "endpoints": r.endpoints,
            "knee": r.knee,
            "slo": r.slo.to_dict(),
            "violations": [v.message for v in r.violations],
            "generator": r.generator,
            "services_rss": r.services_rss,
            "locust_requests": r.locust_requests,
            "unfinished": r.unfinished,
            "stopped_early": r.stopped_early,
            "latency_source": source,
        }
    )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def _record(
    r: LoadResult,
    *,
    suite: str | None,
    notebook: str,
    label: str | None,
    claims: Sequence[str] | None = None,
) -> None:
    want = set(CLAIM_ROWS if claims is None else claims)
    unknown = want - set(CLAIM_ROWS)
    if unknown:
        raise ValueError(f"claims: unknown {sorted(unknown)}; known: {CLAIM_ROWS}")
    rec = Recorder(
        r.run_dir,
        suite=suite or ("load" if notebook == "load" else None),
        notebook=notebook,
        label=_slug(f"load-{label}" if label else "load"),
    )
    sched = r.schedule
    model = "open" if sched.open_model else "closed"
    base = {
        "scenario": r.scenario,
        "model": model,
        "shape": sched.kind,
        "users": sched.max_users,
        "rates": [p.rate for p in sched.phases] if sched.open_model else None,
        "duration_s": sched.duration_s,
        "warmup_s": sched.warmup_s,
        "workers": r.workers,
        "host": r.host,
        "generator_saturated": bool(r.generator.get("saturated")),
        "label": label,
    }
    impl = r.implementation
    prefix = f"load/{r.scenario}" + ("/open" if sched.open_model else "")

    def put(case: str, metric: str, value: float, unit: str, n: int = 1, **params: Any) -> None:
        if value is None or not math.isfinite(float(value)):
            return
        rec.record(case, impl, metric, float(value), unit, n=max(1, int(n)),
                   params={**base, **params}, flush=False)  # fmt: skip

    def figures(case: str, f: Mapping[str, Any], **params: Any) -> None:
        n = f["requests"]
        for p in PERCENTILES:
            put(case, f"latency_{percentile_key(p)}", f[percentile_key(p)], "s", n, **params)
        put(case, "latency_mean", f["mean"], "s", n, **params)
        put(case, "latency_max", f["max"], "s", n, **params)
        put(case, "service_time_p99", f["service_p99"], "s", n, **params)
        put(case, "rps", f["rps"], "req/s", n, **params)
        put(case, "requests", n, "requests", n, **params)
        put(case, "error_ratio", f["error_ratio"], "ratio", n, **params)

    for e in r.endpoints:
        figures(f"{prefix}/{_slug(e['name'])}", e)
    figures(f"{prefix}/all", r.total)
    if len(sched.phases) > 1:
        for ph in r.phases:
            figures(f"{prefix}/{sched.kind}/{_slug(ph['label'])}", ph, phase=ph["index"],
                    phase_users=ph["users"], offered_rps=ph["offered_rps"])  # fmt: skip
    # The plan's claim ids, from closed-model runs (an open model's throughput is whatever
    # rate was offered, not what the system can do).
    if not sched.open_model:
        best = r.knee if sched.kind == "step" else None
        rps_want = "requests_per_second" in want
        users_want = "concurrent_connections" in want
        if sched.kind == "step" and best is not None:
            if rps_want:
                put("throughput/requests_per_second", "rps", best["rps"], "req/s",
                    best["requests"], at_users=best["users"], knee=True)  # fmt: skip
            if users_want:
                put("throughput/concurrent_connections", "users", best["users"], "users",
                    knee=True, slo=r.slo.to_dict())  # fmt: skip
        elif sched.kind == "constant":
            if rps_want:
                put("throughput/requests_per_second", "rps", r.total["rps"], "req/s",
                    r.total["requests"])  # fmt: skip
            if users_want and r.ok:
                put("throughput/concurrent_connections", "users", sched.max_users, "users",
                    slo=r.slo.to_dict())  # fmt: skip
        routing = next((e for e in r.endpoints if e["name"] == ROUTING_ENDPOINT), None)
        if routing is not None and sched.kind == "constant" and "api_routing" in want:
            for metric, key in (("latency_p50", "p50"), ("latency_p99", "p99"),
                                ("latency_mean", "mean")):  # fmt: skip
                put("response_time/api_routing", metric, routing[key], "s", routing["requests"],
                    endpoint="GET /v1/graph/info via gateway")  # fmt: skip
    gcase = f"{prefix}/generator"
    put(gcase, "generator_cpu_saturated", 1.0 if r.generator.get("saturated") else 0.0, "bool")
    put(gcase, "generator_cpu_pct", r.generator.get("busiest_mean_pct", math.nan), "%")
    put(gcase, "generator_loop_lag_p99", r.generator.get("loop_lag_p99_s", math.nan), "s")
    put(gcase, "host_cpu_pct", r.generator.get("host_cpu_mean_pct", math.nan), "%")
    if sched.open_model:
        put(f"{prefix}/all", "unfinished_requests", float(r.unfinished), "requests")
    for svc, rss in r.services_rss.items():
        who = f"python-{svc}" if impl == "python-gateway" else impl
        rec.record(f"{prefix}/rss/{svc}", who, "rss_peak", float(rss), "bytes",
                   params={**base, "rss_start": r.services_rss_start.get(svc)},
                   flush=False)  # fmt: skip
    rec.flush()
    merge_run(r.run_dir)
