"""Load schedules: constant users, a step load to the knee, a spike, and the open model.

A :class:`Schedule` is a list of :class:`Phase` objects, each a time window with either a
number of users (closed model) or an arrival rate (open model). It is plain data: the
runner builds it, passes it to Locust as JSON (``--wb-schedule``, a custom argument, so
Locust forwards it to every worker, even on other machines), and the locustfile's single
``LoadTestShape`` and the request listener both read it. Phase boundaries are therefore the
same on the master (which sets the user count) and on the workers (which tag each request
with its phase).

Examples
--------
>>> s = step_schedule([5, 10, 20], step_s=4)
>>> [(p.start_s, p.end_s, p.users) for p in s.phases]
[(0.0, 4.0, 5), (4.0, 8.0, 10), (8.0, 12.0, 20)]
>>> s.phase_at(5.0), s.phase_at(12.5)
(1, None)
>>> Schedule.from_json(s.to_json()) == s
True
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

__all__ = [
    "KINDS",
    "Phase",
    "Schedule",
    "constant_schedule",
    "open_schedule",
    "spike_schedule",
    "step_schedule",
]

KINDS = ("constant", "step", "spike", "open")


@dataclass(frozen=True)
class Phase:
    """One window of a schedule.

    Attributes
    ----------
    start_s, end_s : float
        Seconds from the start of the test.
    users : int
        Concurrent users (closed model), or the size of the pool of users that carries the
        open model's arrivals (open model: the most requests in flight per the whole test).
    rate : float or None
        Arrivals per second (open model only).
    label : str
        Human name (``"20 users"``, ``"spike"``, ``"100 req/s"``).
    """

    start_s: float
    end_s: float
    users: int
    rate: float | None = None
    label: str = ""

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Schedule:
    """An ordered, gap-free list of phases.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    phases : tuple of Phase
    spawn_rate : float
        Users started (or stopped) per second when the user count changes.
    stop_on_slo : bool
        Step load only: stop after the first step that breaks the SLO (see
        :class:`workbench.load.slo.SLO`), since higher steps can only be worse.
    arrivals : {"uniform", "poisson"}
        Open model only: evenly spaced intended send times, or exponential gaps (seeded).
    seed : int
        Seed of the Poisson arrivals.
    slo : dict
        ``max_p99_s`` / ``max_error_ratio`` for ``stop_on_slo``.
    warmup_s : float
        Closed model: seconds at the first phase's users before the phases begin, whose
        requests are not recorded (connections opened, caches and JIT warm). Phase times
        count from the end of the warm-up.
    """

    kind: str
    phases: tuple[Phase, ...]
    spawn_rate: float = 100.0
    stop_on_slo: bool = False
    arrivals: str = "uniform"
    seed: int = 0
    slo: dict = field(default_factory=dict, compare=False)
    warmup_s: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"schedule kind must be one of {KINDS}, got {self.kind!r}")
        if not self.phases:
            raise ValueError("a schedule needs at least one phase")
        t = 0.0
        for p in self.phases:
            if abs(p.start_s - t) > 1e-9 or not p.end_s > p.start_s:
                raise ValueError(f"phases must be contiguous and non-empty, got {self.phases}")
            if p.users < 1:
                raise ValueError(f"phase {p.label!r}: users must be >= 1, got {p.users}")
            if self.kind == "open" and not (p.rate is not None and p.rate > 0):
                raise ValueError(f"open model phase {p.label!r} needs a rate > 0")
            t = p.end_s
        if self.arrivals not in ("uniform", "poisson"):
            raise ValueError(f"arrivals must be 'uniform' or 'poisson', got {self.arrivals!r}")
        if not (self.warmup_s >= 0 and (self.warmup_s == 0 or self.kind != "open")):
            raise ValueError(f"warmup_s must be >= 0 and is for the closed model, got {self}")
        if not self.spawn_rate > 0:
            raise ValueError(f"spawn_rate must be > 0, got {self.spawn_rate}")

    @property
    def duration_s(self) -> float:
        """End of the last phase."""
        return self.phases[-1].end_s

    @property
    def open_model(self) -> bool:
        return self.kind == "open"

    @property
    def max_users(self) -> int:
        return max(p.users for p in self.phases)

    def phase_at(self, elapsed_s: float) -> int | None:
        """Index of the phase holding ``elapsed_s``; ``None`` after the end (or before 0)."""
        if elapsed_s < 0:
            return None
        for i, p in enumerate(self.phases):
            if elapsed_s < p.end_s:
                return i
        return None

    def to_json(self) -> str:
        """Compact JSON (the ``--wb-schedule`` argument)."""
        d = asdict(self)
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Schedule:
        d = json.loads(text)
        d["phases"] = tuple(Phase(**p) for p in d["phases"])
        return cls(**d)


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return value


def constant_schedule(
    users: int, duration_s: float, *, spawn_rate: float | None = None
) -> Schedule:
    """``users`` closed-loop users for ``duration_s`` seconds (started within about a second)."""
    duration_s = _positive("duration_s", duration_s)
    users = int(users)
    rate = spawn_rate if spawn_rate is not None else max(float(users), 1.0)
    return Schedule(
        "constant", (Phase(0.0, duration_s, users, None, f"{users} users"),), spawn_rate=rate
    )


def step_schedule(
    user_steps: Sequence[int],
    step_s: float,
    *,
    stop_on_slo: bool = False,
    spawn_rate: float | None = None,
) -> Schedule:
    """Raise the users step by step, ``step_s`` seconds each: the way to the knee.

    Notes
    -----
    Each step includes its ramp (users are started at ``spawn_rate``, by default all of a
    step's new users within about a second); keep ``step_s`` several times longer than that.
    """
    step_s = _positive("step_s", step_s)
    steps = [int(u) for u in user_steps]
    if not steps:
        raise ValueError("user_steps must not be empty")
    rate = spawn_rate if spawn_rate is not None else float(max(max(steps), 1))
    phases = tuple(
        Phase(i * step_s, (i + 1) * step_s, u, None, f"{u} users") for i, u in enumerate(steps)
    )
    return Schedule("step", phases, spawn_rate=rate, stop_on_slo=stop_on_slo)


def spike_schedule(
    base_users: int,
    spike_users: int,
    duration_s: float,
    *,
    spike_at_s: float | None = None,
    spike_s: float | None = None,
) -> Schedule:
    """A baseline, a sudden spike of users, and the recovery at the baseline again.

    By default the spike starts at a third of ``duration_s`` and lasts a sixth of it; the
    spawn rate is high so the spike arrives within a fraction of a second.
    """
    duration_s = _positive("duration_s", duration_s)
    at = duration_s / 3 if spike_at_s is None else float(spike_at_s)
    length = duration_s / 6 if spike_s is None else float(spike_s)
    if not 0 < at < at + length < duration_s:
        raise ValueError(
            f"spike must lie inside the test: at {at} s for {length} s within {duration_s} s"
        )
    phases = (
        Phase(0.0, at, int(base_users), None, "baseline"),
        Phase(at, at + length, int(spike_users), None, "spike"),
        Phase(at + length, duration_s, int(base_users), None, "recovery"),
    )
    return Schedule("spike", phases, spawn_rate=float(max(10 * spike_users, 100)))


def open_schedule(
    rates: float | Sequence[float],
    step_s: float,
    *,
    max_in_flight: int | None = None,
    arrivals: str = "uniform",
    seed: int = 0,
) -> Schedule:
    """Constant arrival rate(s): ``rates`` requests per second, ``step_s`` seconds each.

    Parameters
    ----------
    rates : float or sequence of float
        One rate (the ``--rate R`` run) or several, offered one after the other.
    step_s : float
        Seconds per rate.
    max_in_flight : int, optional
        Pool of users that send the arrivals; bounds the requests in flight (and the
        generator's memory) when the server stalls. Arrivals that find every user busy wait,
        and their wait counts in their latency. Default: enough for one second of the
        highest rate, at least 20, at most 2000.
    arrivals, seed
        See :class:`Schedule`.
    """
    step_s = _positive("step_s", step_s)
    rs = [float(rates)] if isinstance(rates, int | float) else [float(r) for r in rates]
    if not rs:
        raise ValueError("rates must not be empty")
    for r in rs:
        _positive("rate", r)
    pool = (
        int(max_in_flight)
        if max_in_flight is not None
        else int(min(2000, max(20, math.ceil(max(rs)))))
    )
    phases = tuple(
        Phase(i * step_s, (i + 1) * step_s, pool, r, f"{r:g} req/s") for i, r in enumerate(rs)
    )
    return Schedule("open", phases, spawn_rate=float(max(pool, 100)), arrivals=arrivals, seed=seed)
