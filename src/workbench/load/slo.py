"""Service-level objectives for a load test, their checks, and the knee of a step load.

Examples
--------
>>> slo = SLO(max_p99_s=0.2, max_error_ratio=0.01, min_rps=100)
>>> [v.check for v in slo.check(p99_s=0.35, error_ratio=0.0, rps=150)]
['p99']
>>> knee([{"phase": 0, "rps": 90, "p99": 0.05, "error_ratio": 0},
...       {"phase": 1, "rps": 170, "p99": 0.12, "error_ratio": 0},
...       {"phase": 2, "rps": 180, "p99": 0.90, "error_ratio": 0}], SLO(max_p99_s=0.2))["phase"]
1
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["DEFAULT_KNEE_SLO", "SLO", "Violation", "knee"]


@dataclass(frozen=True)
class Violation:
    """One failed check: which, the measured value, the limit, and a sentence."""

    check: str
    measured: float
    limit: float
    message: str


@dataclass(frozen=True)
class SLO:
    """Limits a run must meet; ``None`` skips a check.

    Parameters
    ----------
    max_p99_s : float, optional
        Highest acceptable 99th percentile latency (seconds), over all requests.
    max_error_ratio : float, optional
        Highest acceptable share of failed requests (0.001 is the plan's "< 0.1 %" KPI).
    min_rps : float, optional
        Lowest acceptable throughput (requests per second over the run).
    """

    max_p99_s: float | None = None
    max_error_ratio: float | None = None
    min_rps: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_p99_s", "max_error_ratio", "min_rps"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(float(v)) and float(v) >= 0):
                raise ValueError(f"SLO {name} must be a number >= 0, got {v!r}")

    def to_dict(self) -> dict[str, float | None]:
        return asdict(self)

    @property
    def empty(self) -> bool:
        return self.max_p99_s is None and self.max_error_ratio is None and self.min_rps is None

    def check(
        self, *, p99_s: float, error_ratio: float, rps: float | None = None
    ) -> list[Violation]:
        """The checks that fail for these figures (empty list: the SLO holds).

        A NaN figure (no requests at all) fails every check that applies to it.
        """
        out: list[Violation] = []

        def bad(x: float, limit: float, above: bool) -> bool:
            return not math.isfinite(x) or (x > limit if above else x < limit)

        if self.max_p99_s is not None and bad(p99_s, self.max_p99_s, True):
            out.append(
                Violation(
                    "p99",
                    p99_s,
                    self.max_p99_s,
                    f"p99 {p99_s * 1e3:.1f} ms > limit {self.max_p99_s * 1e3:g} ms",
                )
            )
        if self.max_error_ratio is not None and bad(error_ratio, self.max_error_ratio, True):
            out.append(
                Violation(
                    "error_ratio",
                    error_ratio,
                    self.max_error_ratio,
                    f"error ratio {error_ratio:.4%} > limit {self.max_error_ratio:.4%}",
                )
            )
        if self.min_rps is not None and rps is not None and bad(rps, self.min_rps, False):
            out.append(
                Violation(
                    "rps", rps, self.min_rps, f"throughput {rps:.1f} req/s < limit {self.min_rps:g}"
                )
            )
        return out


#: The SLO that defines the knee when none is given: p99 within 500 ms, under 1 % errors.
DEFAULT_KNEE_SLO = SLO(max_p99_s=0.5, max_error_ratio=0.01)


def knee(phases: Sequence[Mapping[str, Any]], slo: SLO | None = None) -> dict[str, Any] | None:
    """The highest sustained throughput within the SLO among the phases of a step load.

    Parameters
    ----------
    phases : sequence of mapping
        One mapping per step with ``rps``, ``p99`` (seconds) and ``error_ratio``.
    slo : SLO, optional
        Only its p99 and error-ratio limits apply (a minimum throughput says nothing about
        one step); a limit it leaves out is taken from :data:`DEFAULT_KNEE_SLO`.

    Returns
    -------
    dict or None
        The chosen step's mapping, or ``None`` when no step met the SLO.
    """
    slo = slo or SLO()
    d = DEFAULT_KNEE_SLO
    # A limit left out falls back to the default: a knee with 20 % errors is no knee.
    step_slo = SLO(
        max_p99_s=slo.max_p99_s if slo.max_p99_s is not None else d.max_p99_s,
        max_error_ratio=slo.max_error_ratio
        if slo.max_error_ratio is not None
        else d.max_error_ratio,
    )
    ok = [
        p
        for p in phases
        if math.isfinite(float(p.get("rps", math.nan)))
        and not step_slo.check(p99_s=float(p["p99"]), error_ratio=float(p["error_ratio"]))
    ]
    if not ok:
        return None
    return dict(max(ok, key=lambda p: float(p["rps"])))
