"""Locust entry point of ``workbench load``: one shape, full-resolution latency, open model.

Run through ``workbench load`` (or :func:`workbench.load.run_load_test`), which builds the
arguments below. By hand, against services started with ``workbench serve``::

    locust -f loadtests/locustfile.py --headless -H http://127.0.0.1:8700 \\
        --wb-schedule "$(python -c 'from workbench.load.shapes import constant_schedule as c;
                                   print(c(20, 10).to_json())')" --wb-scenario mixed

Custom arguments (Locust forwards them from the master to every worker, also on other
machines): ``--wb-schedule`` (JSON :class:`workbench.load.shapes.Schedule`),
``--wb-scenario``, ``--wb-weights``, ``--wb-think-s``, ``--wb-procs`` (generator processes
sharing an open-model rate), ``--wb-extras`` (other user modules to mix in), ``--wb-out``
(folder for the HDR histograms; ignored where it does not exist) and ``--wb-api-key``
(default ``$WORKBENCH_API_KEY``, else ``serve.json``).

What each process does:

* local runner and workers record every request into a
  :class:`workbench.load.latency.LatencyBook` keyed by (phase, endpoint);
* workers send the book to the master as compressed deltas with every stats report, and
  also write their whole book to ``<wb-out>/worker-<index>.json`` at exit (so a report lost
  at shutdown cannot drop requests from a local run);
* the master (or local runner) drives :class:`WorkbenchShape`, prints a ``WBPROGRESS`` JSON
  line every second, and writes ``<wb-out>/master.json`` at exit.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
from gateway_users import GatewayUser, OpenGatewayUser, configure
from locust import LoadTestShape, User, events
from locust.runners import MasterRunner, WorkerRunner

from workbench.load.latency import LatencyBook
from workbench.load.openmodel import ArrivalClock
from workbench.load.scenarios import EXTRA_KEYS, SCENARIOS, weights_for
from workbench.load.shapes import Schedule
from workbench.load.slo import DEFAULT_KNEE_SLO, SLO

__all__ = ["GatewayUser", "OpenGatewayUser", "WorkbenchShape"]

# --------------------------------------------------------------------------- other users

#: Scenario key -> user classes found in the optional modules written alongside this one.
EXTRA_CLASSES: dict[str, list[type[User]]] = {}


def _load_extra(key: str, module_name: str) -> None:
    try:
        module = __import__(module_name)
    except Exception as exc:
        if not isinstance(exc, ModuleNotFoundError) or exc.name != module_name:
            print(f"workbench load: {module_name} not used: {exc!r}", file=sys.stderr)
        return
    found = [
        v
        for v in vars(module).values()
        if isinstance(v, type)
        and issubclass(v, User)
        and not getattr(v, "abstract", False)
        and v.__module__ == module.__name__
    ]
    EXTRA_CLASSES[key] = found
    # Locust only offers classes it finds in the locustfile's globals.
    for cls in found:
        globals()[cls.__name__] = cls


_load_extra("agents", "users_datatier")
_load_extra("realtime", "users_realtime")

# --------------------------------------------------------------------------- state

#: Event-loop lag samples (seconds): how late a 50 ms sleep woke up. A generator that is short
#: of CPU (busy, or starved by other processes) shows it here before it shows in CPU %.
LAG: list[float] = []
LAG_SENT: list[float] = []
_LAG_TICK_S = 0.05
#: Endpoint name of open-model arrivals that were never sent before the test stopped.
UNSENT = "unsent"
BOOK = LatencyBook()
#: Workers: everything already sent to the master, kept for the exit file.
SENT = LatencyBook()


@dataclass
class _State:
    schedule: Schedule | None = None
    t0: float | None = None
    clock: ArrivalClock | None = None
    open_lead_s: float = 0.0
    issued: dict[str, int] = field(default_factory=dict)
    stopped_early: str | None = None
    stopping_at: float | None = None
    lag_greenlet: Any = None
    last_phase: int | None = None
    warmup_requests: int = 0
    timeline: list[dict[str, Any]] = field(default_factory=list)


STATE = _State()


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    g = parser.add_argument_group("workbench")
    g.add_argument("--wb-schedule", default="", help="JSON schedule (workbench.load.shapes)")
    g.add_argument("--wb-scenario", default="mixed", help=f"one of {sorted(SCENARIOS)}")
    g.add_argument("--wb-weights", default="", help="NAME=WEIGHT,... overriding the scenario")
    g.add_argument("--wb-think-s", type=float, default=0.0, help="closed-model think time")
    g.add_argument("--wb-procs", type=int, default=1, help="generator processes")
    g.add_argument("--wb-extras", default="", help="comma list of: " + ",".join(EXTRA_KEYS))
    g.add_argument("--wb-out", default="", help="folder for the latency histograms")
    # On the parser itself: only it knows ``is_secret`` (masked if ever shown in a web UI).
    parser.add_argument(
        "--wb-api-key",
        default=os.environ.get("WORKBENCH_API_KEY", ""),
        is_secret=True,
        help="gateway API key (default $WORKBENCH_API_KEY, else serve.json)",
    )


def _options(environment: Any) -> Any:
    return environment.parsed_options


def _api_key(opts: Any) -> str:
    if getattr(opts, "wb_api_key", ""):
        return opts.wb_api_key
    try:
        from workbench.services.launcher import read_serve_state

        return str(read_serve_state().get("api_key") or "")
    except Exception:
        return ""


def _weights(opts: Any) -> dict[str, float]:
    name = getattr(opts, "wb_scenario", "mixed") or "mixed"
    return weights_for(name, getattr(opts, "wb_weights", "") or None)


def _extras(opts: Any, weights: dict[str, float]) -> list[type[User]]:
    wanted = [k for k in (getattr(opts, "wb_extras", "") or "").split(",") if k]
    out = []
    for key in wanted:
        w = weights.get(key, 0.0)
        for cls in EXTRA_CLASSES.get(key, []):
            if w > 0:
                cls.weight = max(1, int(round(w)))
                out.append(cls)
    return out


def _schedule(environment: Any) -> Schedule:
    text = getattr(_options(environment), "wb_schedule", "")
    if not text:
        raise ValueError("--wb-schedule is required (workbench load builds it)")
    return Schedule.from_json(text)


# --------------------------------------------------------------------------- events


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        runner.environment.events.worker_report.add_listener(_on_worker_report)
    else:
        environment.events.request.add_listener(_on_request)
    if isinstance(runner, WorkerRunner):
        environment.events.report_to_master.add_listener(_on_report_to_master)
    if not isinstance(runner, WorkerRunner):
        gevent.spawn(_progress, environment)


@events.test_start.add_listener
def _on_test_start(environment: Any, **_: Any) -> None:
    opts = _options(environment)
    STATE.schedule = sched = _schedule(environment)
    STATE.t0 = time.time()
    weights = _weights(opts)
    clock = None
    if sched.open_model and not isinstance(environment.runner, MasterRunner):
        procs = max(1, int(getattr(opts, "wb_procs", 1) or 1))
        index = (
            int(environment.runner.worker_index) % procs
            if isinstance(environment.runner, WorkerRunner)
            else 0
        )
        clock = ArrivalClock(sched, index, procs)
        # Arrivals begin once the pool has had time to spawn, so spawning is not counted
        # as queueing; the shape keeps the pool for this lead plus the schedule.
        STATE.open_lead_s = _open_lead(sched)
        clock.start(STATE.t0 + STATE.open_lead_s)
    STATE.clock = clock
    if not isinstance(environment.runner, MasterRunner) and STATE.lag_greenlet is None:
        STATE.lag_greenlet = gevent.spawn(_lag_monitor)
    configure(weights, _api_key(opts), float(getattr(opts, "wb_think_s", 0.0) or 0.0), clock)


def _open_lead(sched: Schedule) -> float:
    return 0.5 + sched.max_users / sched.spawn_rate


def _on_request(
    request_type: str,
    name: str,
    response_time: float,
    response_length: int,
    exception: BaseException | None = None,
    context: dict[str, Any] | None = None,
    start_time: float | None = None,
    **_: Any,
) -> None:
    if name.startswith("_"):
        return
    service = max(float(response_time or 0.0), 0.0) / 1000.0
    end = time.time()
    start = float(start_time) if start_time is not None else end - service
    intended = (context or {}).get("wb_intended")
    sched = STATE.schedule
    if intended is not None and STATE.clock is not None:
        latency = (start + service) - float(intended)
        phase = STATE.clock.phase_of(float(intended))
    else:
        latency = service
        phase = None
        if sched is not None and STATE.t0 is not None:
            if start - STATE.t0 < sched.warmup_s:
                STATE.warmup_requests += 1
                return
            phase = sched.phase_at(start - STATE.t0 - sched.warmup_s)
    if phase is None:
        # Requests finishing during the stop grace belong to the last phase.
        phase = len(sched.phases) - 1 if sched is not None else 0
    BOOK.record(
        phase,
        name,
        max(latency, service),
        service,
        failed=exception is not None,
        start=start,
        end=start + service,
    )


def _lag_monitor() -> None:
    while True:
        t = time.perf_counter()
        gevent.sleep(_LAG_TICK_S)
        LAG.append(max(0.0, time.perf_counter() - t - _LAG_TICK_S))


@events.test_stopping.add_listener
def _on_test_stopping(environment: Any, **_: Any) -> None:
    STATE.stopping_at = time.time()
    if STATE.lag_greenlet is not None:
        STATE.lag_greenlet.kill(block=False)
        STATE.lag_greenlet = None


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_: Any) -> None:
    # Open model: arrivals the schedule demanded before the stop that no free user ever took
    # (every user was waiting on the server). They were never answered; leaving them out
    # would be coordinated omission again, so they count as failed requests whose latency
    # is at least the time they had waited when the test stopped.
    clock = STATE.clock
    if clock is None or not clock.started:
        return
    stop = STATE.stopping_at or time.time()
    while True:
        intended = clock.next()
        if intended is None or intended >= stop:
            break
        phase = clock.phase_of(intended)
        BOOK.record(
            phase if phase is not None else 0,
            UNSENT,
            stop - intended,
            stop - intended,
            failed=True,
            start=intended,
            end=stop,
        )


def _on_report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    delta = BOOK.take_delta()
    SENT.merge(delta)
    data["wb_book"] = delta
    data["wb_lag"] = list(LAG)
    LAG_SENT.extend(LAG)
    LAG.clear()
    data["wb_issued"] = STATE.clock.issued if STATE.clock is not None else 0


def _on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    BOOK.merge(data.get("wb_book") or [])
    LAG.extend(data.get("wb_lag") or [])
    if "wb_issued" in data:
        STATE.issued[client_id] = int(data["wb_issued"])


def _progress(environment: Any) -> None:
    # One JSON line a second on stdout; the parent turns it into a progress line.
    while True:
        gevent.sleep(1.0)
        runner = environment.runner
        if runner is None or STATE.t0 is None:
            continue
        total = runner.stats.total
        p99 = total.get_current_response_time_percentile(0.99)
        line = {
            "elapsed": round(time.time() - STATE.t0, 1),
            "users": runner.user_count,
            "requests": total.num_requests,
            "failures": total.num_failures,
            "rps": round(total.current_rps, 1),
            "p99_ms": p99,
            "cpu": round(getattr(runner, "current_cpu_usage", 0.0), 1),
        }
        print("WBPROGRESS " + json.dumps(line), flush=True)


@events.quitting.add_listener
def _on_quitting(environment: Any, **_: Any) -> None:
    opts = _options(environment)
    out = Path(getattr(opts, "wb_out", "") or "")
    if not str(out) or not out.is_dir():
        return
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        SENT.merge(BOOK.take_delta())
        payload = {
            "role": "worker",
            "index": int(runner.worker_index),
            "pid": os.getpid(),
            "book": SENT.to_payload(),
            "lag": LAG_SENT + LAG,
            "issued": STATE.clock.issued if STATE.clock is not None else 0,
        }
        name = f"worker-{int(runner.worker_index)}.json"
    else:
        issued = (
            sum(STATE.issued.values())
            if isinstance(runner, MasterRunner)
            else (STATE.clock.issued if STATE.clock is not None else 0)
        )
        payload = {
            "role": "master" if isinstance(runner, MasterRunner) else "local",
            "pid": os.getpid(),
            "workers": runner.worker_count if isinstance(runner, MasterRunner) else 0,
            "book": BOOK.to_payload(),
            "lag": LAG,
            "issued": issued,
            "t0": STATE.t0,
            "open_lead_s": STATE.open_lead_s,
            "timeline": STATE.timeline,
            "stopped_early": STATE.stopped_early,
            "last_phase": STATE.last_phase,
            "warmup_requests": STATE.warmup_requests,
            "cpu_warning": bool(getattr(runner, "cpu_warning_emitted", False))
            or bool(getattr(runner, "worker_cpu_warning_emitted", False)),
        }
        name = "master.json"
    tmp = out / f".{name}.tmp"
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, out / name)


# --------------------------------------------------------------------------- shape


class WorkbenchShape(LoadTestShape):
    """Follows ``--wb-schedule``: users per phase (closed model) or the open model's pool.

    For a step load with ``stop_on_slo`` it ends the test after the first step whose p99 or
    error ratio (Locust's aggregated statistics, good enough to decide) breaks the SLO.
    """

    def __init__(self) -> None:
        super().__init__()
        self._phase: int | None = None
        self._mark: tuple[int, int, dict[int, int]] | None = None

    def _sched(self) -> Schedule:
        if STATE.schedule is None:
            STATE.schedule = _schedule(self.runner.environment)
        return STATE.schedule

    def _classes(self, sched: Schedule) -> list[type[User]]:
        if sched.open_model:
            return [OpenGatewayUser]
        opts = _options(self.runner.environment)
        return [GatewayUser, *_extras(opts, _weights(opts))]

    def _window_breaks_slo(self, sched: Schedule) -> str | None:
        total = self.runner.stats.total
        if self._mark is None:
            return None
        n0, f0, rt0 = self._mark
        n, f = total.num_requests - n0, total.num_failures - f0
        if n <= 0:
            return None
        diff = {k: v - rt0.get(k, 0) for k, v in total.response_times.items()}
        target, seen, p99_ms = 0.99 * n, 0, 0
        for k in sorted(diff):
            seen += diff[k]
            if seen >= target:
                p99_ms = k
                break
        slo = SLO(**sched.slo) if sched.slo else SLO()
        d = DEFAULT_KNEE_SLO
        slo = SLO(
            max_p99_s=d.max_p99_s if slo.max_p99_s is None else slo.max_p99_s,
            max_error_ratio=d.max_error_ratio
            if slo.max_error_ratio is None
            else slo.max_error_ratio,
        )
        bad = SLO(max_p99_s=slo.max_p99_s, max_error_ratio=slo.max_error_ratio).check(
            p99_s=p99_ms / 1000.0, error_ratio=f / n
        )
        return "; ".join(v.message for v in bad) or None

    def tick(self) -> tuple[int, float] | tuple[int, float, list[type[User]]] | None:
        sched = self._sched()
        t = self.get_run_time()
        classes = self._classes(sched)
        if sched.open_model:
            if t > _open_lead(sched) + sched.duration_s:
                return None
            return sched.max_users, sched.spawn_rate, classes
        if t < sched.warmup_s:
            return sched.phases[0].users, sched.spawn_rate, classes
        idx = sched.phase_at(t - sched.warmup_s)
        if idx is None:
            return None
        if idx != self._phase:
            if self._phase is not None and sched.stop_on_slo:
                why = self._window_breaks_slo(sched)
                if why:
                    STATE.stopped_early = f"step {self._phase} broke the SLO: {why}"
                    STATE.last_phase = self._phase
                    return None
            total = self.runner.stats.total
            self._mark = (total.num_requests, total.num_failures, dict(total.response_times))
            self._phase = idx
            STATE.timeline.append({"phase": idx, "start": time.time()})
        p = sched.phases[idx]
        return p.users, sched.spawn_rate, classes
