"""The open model: intended send times at a fixed arrival rate, free of coordinated omission.

In Locust's usual closed loop a user sends its next request only after the previous one
returned. When the server stalls, the users stall with it, fewer requests are sent, and the
few slow ones are all that the statistics see: the queue that real clients (who keep
arriving) would have built is never measured. That is *coordinated omission*.

The open model fixes the send times in advance. :class:`ArrivalClock` hands out intended
send times ``t0 + k / rate`` (or with exponential gaps); a pool of users takes them in order,
sleeps until each one, sends, and the latency is measured **from the intended time**, not
from the moment a free user got round to sending. A stall of ``d`` seconds at rate ``r``
thus shows up as ``r·d`` requests whose latency grows up to ``d`` - as clients would see it
(the correction wrk2 and HdrHistogram's ``record_corrected_value`` make).

The clock is plain Python (no gevent): one instance per Locust process, shared by that
process's users (greenlets switch only at I/O, so no lock is needed). With ``processes``
generators each runs ``1 / processes`` of the rate, offset so that the merged arrivals
interleave evenly.

Examples
--------
>>> from workbench.load.shapes import open_schedule
>>> clock = ArrivalClock(open_schedule(10.0, step_s=1.0))
>>> clock.start(100.0)
>>> [round(clock.next(), 2) for _ in range(3)]
[100.0, 100.1, 100.2]
>>> n = sum(1 for _ in iter(clock.next, None))
>>> n, clock.issued
(7, 10)
"""

from __future__ import annotations

import random

from workbench.load.shapes import Schedule

__all__ = ["ArrivalClock"]


class ArrivalClock:
    """Intended send times for one generator process.

    Parameters
    ----------
    schedule : Schedule
        An open-model schedule (each phase has a ``rate``).
    process_index, processes : int
        This generator's index and the number of generators sharing the rate.

    Attributes
    ----------
    issued : int
        Intended send times handed out so far (requests the schedule demanded).
    """

    def __init__(self, schedule: Schedule, process_index: int = 0, processes: int = 1) -> None:
        if not schedule.open_model:
            raise ValueError("ArrivalClock needs an open-model schedule")
        if processes < 1 or not 0 <= process_index < processes:
            raise ValueError(f"bad process index {process_index} of {processes}")
        self.schedule = schedule
        self.processes = int(processes)
        self.process_index = int(process_index)
        self._rng = random.Random(schedule.seed * 1_000_003 + process_index)
        self.t0: float | None = None
        self._next_rel = 0.0
        self._phase = 0
        self._k = 0
        self._offset = 0.0
        self.issued = 0

    def start(self, t0: float) -> None:
        """Fix the schedule's time zero (wall clock seconds, ``time.time()``)."""
        self.t0 = float(t0)
        self._phase = 0
        self._k = 0
        # Stagger the generators so their merged arrivals interleave instead of colliding.
        self._offset = self.process_index / self.processes
        if self.schedule.arrivals == "poisson":
            self._next_rel = self._rng.expovariate(self._local_rate(0))

    @property
    def started(self) -> bool:
        return self.t0 is not None

    def _local_rate(self, phase: int) -> float:
        return float(self.schedule.phases[phase].rate) / self.processes

    def _candidate(self) -> float | None:
        phases = self.schedule.phases
        while self._phase < len(phases):
            p = phases[self._phase]
            if self.schedule.arrivals == "poisson":
                rel = max(self._next_rel, p.start_s)
            else:
                # k-th arrival of the phase computed from its start, not by summing gaps, so
                # rounding never adds or drops an arrival at a boundary.
                rel = p.start_s + (self._k + self._offset) / self._local_rate(self._phase)
            if rel < p.end_s:
                return rel
            self._phase += 1
            self._k = 0
        return None

    def next(self) -> float | None:
        """The next intended send time (wall clock), or ``None`` once the schedule is over."""
        if self.t0 is None:
            raise RuntimeError("ArrivalClock.next() before start()")
        rel = self._candidate()
        if rel is None:
            return None
        self._k += 1
        if self.schedule.arrivals == "poisson":
            self._next_rel = rel + self._rng.expovariate(self._local_rate(self._phase))
        self.issued += 1
        return self.t0 + rel

    def phase_of(self, intended: float) -> int | None:
        """Phase index of an intended send time."""
        if self.t0 is None:
            return None
        return self.schedule.phase_at(intended - self.t0)
