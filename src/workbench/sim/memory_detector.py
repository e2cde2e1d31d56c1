"""The plan's memory-core as a model: pressure levels, a leak-slope trend detector, actions.

Every ``interval_s`` the detector looks at two signals:

* **pressure**: RSS as a fraction of ``budget_mb`` -> level 1 (warn), 2 (high), 3 (critical);
* **leak trend**: the least-squares slope of the post-collection heap floor (the live bytes
  the last collection found: what ``v8.getHeapStatistics`` after a GC, Go's
  ``/gc/heap/live:bytes`` or a precise allocator counter would show) over the last
  ``window_s``. Sampling after collections keeps the GC sawtooth out of the trend. A slope
  above ``leak_slope_mb_per_h`` raises at least level 1 and records when it was first seen.
  The floor moves only when a collection measures it: in V8 that is a mark-compact, so a leak
  shows up no faster than the old generation is collected (a quiet old generation hides it).

Actions, each at most once per ``cooldown_s``: level >= 2 forces a collection (a full GC in
V8 and Go, an allocator purge in Rust); level 3 shrinks the cache (``cache_shrink_fraction``
of what is left of :attr:`Workload.cache_mb`) and sheds ``shed_fraction`` of arriving
requests while it lasts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from workbench.sim.memory_workload import _check_number

__all__ = ["ACTIONS", "PressureDetector"]

#: Actions the detector can take.
ACTIONS = ("collect", "shrink_cache", "shed")

D_INTERVAL = 0
D_WINDOW = 1
D_SLOPE = 2
D_BUDGET = 3
D_WARN = 4
D_HIGH = 5
D_CRITICAL = 6
D_COOLDOWN = 7
D_SHRINK_FRACTION = 8
D_SHED_FRACTION = 9
D_COLLECT = 10
D_SHRINK = 11
D_SHED = 12
N_DETECTOR_PARAMS = 13


@dataclass(frozen=True)
class PressureDetector:
    """Memory-pressure detector settings (pass as ``simulate(..., detector=...)``).

    Parameters
    ----------
    budget_mb : float
        Memory the service may use (its container limit).
    warn, high, critical : float
        Pressure thresholds as fractions of ``budget_mb``, increasing.
    interval_s : float
        Sampling interval.
    window_s : float
        Length of the leak-trend window; must hold at least 3 samples.
    leak_slope_mb_per_h : float
        Slope of the post-collection floor above which a leak is flagged.
    cooldown_s : float
        Minimum time between two actions of the same kind.
    cache_shrink_fraction, shed_fraction : float
        Share of the remaining cache dropped per shrink; share of requests shed at level 3.
    actions : tuple of str
        Which of :data:`ACTIONS` are enabled (empty: detect and report only).

    Raises
    ------
    ValueError
        Non-positive budget, interval or window; thresholds not increasing in (0, inf);
        fractions outside [0, 1]; unknown action; a window shorter than 3 intervals.

    Examples
    --------
    >>> PressureDetector(budget_mb=512, window_s=60).samples_per_window
    60
    """

    budget_mb: float
    warn: float = 0.70
    high: float = 0.85
    critical: float = 0.95
    interval_s: float = 1.0
    window_s: float = 300.0
    leak_slope_mb_per_h: float = 10.0
    cooldown_s: float = 30.0
    cache_shrink_fraction: float = 0.5
    shed_fraction: float = 0.2
    actions: tuple[str, ...] = ACTIONS

    def __post_init__(self) -> None:
        for name in ("budget_mb", "interval_s", "window_s"):
            object.__setattr__(self, name, _check_number(name, getattr(self, name), strict=True))
        for name in ("warn", "high", "critical", "leak_slope_mb_per_h", "cooldown_s"):
            object.__setattr__(self, name, _check_number(name, getattr(self, name)))
        if not 0 < self.warn < self.high < self.critical:
            raise ValueError(
                f"thresholds must satisfy 0 < warn < high < critical, got "
                f"{self.warn}, {self.high}, {self.critical}"
            )
        for name in ("cache_shrink_fraction", "shed_fraction"):
            value = _check_number(name, getattr(self, name))
            if value > 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
            object.__setattr__(self, name, value)
        if isinstance(self.actions, str):
            raise TypeError("actions must be a tuple of action names, not a str")
        actions = tuple(self.actions)
        unknown = [a for a in actions if a not in ACTIONS]
        if unknown:
            raise ValueError(f"actions: unknown {unknown}; valid: {list(ACTIONS)}")
        object.__setattr__(self, "actions", actions)
        if self.samples_per_window < 3:
            raise ValueError(
                f"window_s ({self.window_s:g}) must hold at least 3 intervals of "
                f"interval_s ({self.interval_s:g})"
            )

    @property
    def samples_per_window(self) -> int:
        """Number of samples in the leak-trend window."""
        return round(self.window_s / self.interval_s)

    def params(self) -> dict[str, Any]:
        d = asdict(self)
        d["actions"] = list(self.actions)
        return d

    def vector(self) -> np.ndarray:
        v = np.zeros(N_DETECTOR_PARAMS)
        v[D_INTERVAL] = self.interval_s
        v[D_WINDOW] = self.window_s
        v[D_SLOPE] = self.leak_slope_mb_per_h / 3600.0
        v[D_BUDGET] = self.budget_mb
        v[D_WARN] = self.warn
        v[D_HIGH] = self.high
        v[D_CRITICAL] = self.critical
        v[D_COOLDOWN] = self.cooldown_s
        v[D_SHRINK_FRACTION] = self.cache_shrink_fraction
        v[D_SHED_FRACTION] = self.shed_fraction
        v[D_COLLECT] = float("collect" in self.actions)
        v[D_SHRINK] = float("shrink_cache" in self.actions)
        v[D_SHED] = float("shed" in self.actions)
        return v
