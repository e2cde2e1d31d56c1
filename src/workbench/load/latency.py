"""Full-resolution latency: per-endpoint, per-phase HDR histograms that merge across processes.

Locust keeps response times in rounded buckets (two significant digits above 100 ms) and
reports whole milliseconds; the tail of a load test deserves better. A :class:`LatencyBook`
holds, for every ``(phase, endpoint)``, two HDR histograms with three significant digits
from 1 µs to one hour:

``latency``
    The time the user waited: from the *intended* send time in the open model (so a stalled
    server cannot hide its queue by slowing the generator down: no coordinated omission), from
    the actual send time in the closed model.
``service``
    From the actual send time to the response, in both models.

The book is plain Python over the ``hdrhistogram`` package (no Locust, no gevent), so the same
class records inside the Locust processes, travels from workers to the master as compressed
deltas (:meth:`LatencyBook.take_delta` / :meth:`LatencyBook.merge`), is written to JSON and is
read back by :mod:`workbench.load.runner` for the results.

Examples
--------
>>> book = LatencyBook()
>>> for ms in range(1, 101):
...     book.record(0, "health", ms / 1000, ms / 1000, failed=False, start=0.0, end=1.0)
>>> s = book.summary(0, "health")
>>> s["requests"], round(s["p50"], 4), round(s["p99"], 4)
(100, 0.05, 0.099)
>>> other = LatencyBook.from_json(book.to_json())
>>> other.summary(0, "health")["requests"]
100
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

__all__ = [
    "HIGHEST_US",
    "LOWEST_US",
    "PERCENTILES",
    "SIGNIFICANT_DIGITS",
    "LatencyBook",
    "new_histogram",
    "percentile_key",
    "summarize_histogram",
]

#: Histogram range in microseconds: 1 µs to one hour (anything slower is clamped to it).
LOWEST_US = 1
HIGHEST_US = 3_600_000_000
#: Three significant digits: a 1 % error bound is far finer than Locust's rounding.
SIGNIFICANT_DIGITS = 3
#: Percentiles stored for every endpoint and phase.
PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0, 99.9)


def new_histogram() -> HdrHistogram:
    """An empty histogram over the workbench's range (microseconds)."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def percentile_key(p: float) -> str:
    """Column name of a percentile: ``50.0 -> "p50"``, ``99.9 -> "p99.9"``."""
    return "p" + (f"{p:g}")


def _to_us(seconds: float) -> int:
    us = int(round(seconds * 1e6))
    return min(max(us, LOWEST_US), HIGHEST_US)


def summarize_histogram(h: HdrHistogram) -> dict[str, float]:
    """Count, mean, min, max and :data:`PERCENTILES` of ``h``, in seconds (NaN when empty)."""
    n = int(h.get_total_count())
    out: dict[str, float] = {"count": float(n)}
    if n == 0:
        for k in ("mean", "min", "max", *map(percentile_key, PERCENTILES)):
            out[k] = math.nan
        return out
    out["mean"] = h.get_mean_value() / 1e6
    out["min"] = h.get_min_value() / 1e6
    out["max"] = h.get_max_value() / 1e6
    for p in PERCENTILES:
        out[percentile_key(p)] = h.get_value_at_percentile(p) / 1e6
    return out


@dataclass
class _Entry:
    requests: int = 0
    failures: int = 0
    first_start: float = math.inf
    last_end: float = -math.inf
    latency: HdrHistogram = field(default_factory=new_histogram)
    service: HdrHistogram = field(default_factory=new_histogram)

    def merge_counts(self, requests: int, failures: int, first: float, last: float) -> None:
        self.requests += int(requests)
        self.failures += int(failures)
        self.first_start = min(self.first_start, float(first))
        self.last_end = max(self.last_end, float(last))


class LatencyBook:
    """HDR histograms and counts keyed by ``(phase, endpoint name)``; mergeable.

    Notes
    -----
    Recording costs a few microseconds (two ``record_value`` calls); a delta for the master
    is a few hundred bytes per key, compressed. Times are seconds in the API, microseconds
    inside the histograms. Failed requests are recorded in the histograms too: a timeout is
    part of the tail the user saw.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[int, str], _Entry] = {}

    # ----------------------------------------------------------------- recording

    def _entry(self, phase: int, name: str) -> _Entry:
        key = (int(phase), str(name))
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        return entry

    def record(
        self,
        phase: int,
        name: str,
        latency_s: float,
        service_s: float,
        *,
        failed: bool,
        start: float,
        end: float,
    ) -> None:
        """Add one request: the user-seen latency, the service time, and its wall-clock span."""
        e = self._entry(phase, name)
        e.requests += 1
        e.failures += bool(failed)
        e.first_start = min(e.first_start, start)
        e.last_end = max(e.last_end, end)
        e.latency.record_value(_to_us(latency_s))
        e.service.record_value(_to_us(service_s))

    # ----------------------------------------------------------------- merging

    def to_payload(self, *, reset: bool = False) -> list[dict[str, Any]]:
        """The book as JSON-able rows (histograms base64-encoded); optionally empty it."""
        rows = []
        for (phase, name), e in self._entries.items():
            if e.requests == 0:
                continue
            rows.append(
                {
                    "phase": phase,
                    "name": name,
                    "requests": e.requests,
                    "failures": e.failures,
                    "first_start": e.first_start,
                    "last_end": e.last_end,
                    "latency": e.latency.encode().decode("ascii"),
                    "service": e.service.encode().decode("ascii"),
                }
            )
        if reset:
            self._entries.clear()
        return rows

    def take_delta(self) -> list[dict[str, Any]]:
        """What was recorded since the last call, and forget it (a worker's report)."""
        return self.to_payload(reset=True)

    def merge(self, payload: Iterable[Mapping[str, Any]]) -> None:
        """Add rows produced by :meth:`to_payload` (another process's book or delta)."""
        for row in payload:
            e = self._entry(int(row["phase"]), str(row["name"]))
            e.merge_counts(row["requests"], row["failures"], row["first_start"], row["last_end"])
            e.latency.decode_and_add(row["latency"])
            e.service.decode_and_add(row["service"])

    def merge_book(self, other: LatencyBook) -> None:
        """Add another book (e.g. one read from a worker's file)."""
        self.merge(other.to_payload())

    def to_json(self) -> str:
        """JSON text of :meth:`to_payload` (what the Locust processes write at exit)."""
        return json.dumps(self.to_payload())

    @classmethod
    def from_json(cls, text: str) -> LatencyBook:
        """Inverse of :meth:`to_json`."""
        book = cls()
        book.merge(json.loads(text))
        return book

    # ----------------------------------------------------------------- reading

    @property
    def keys(self) -> list[tuple[int, str]]:
        """``(phase, name)`` pairs with data, sorted."""
        return sorted(k for k, e in self._entries.items() if e.requests)

    @property
    def phases(self) -> list[int]:
        """Phases with data, sorted."""
        return sorted({p for p, _ in self.keys})

    @property
    def names(self) -> list[str]:
        """Endpoint names with data, sorted."""
        return sorted({n for _, n in self.keys})

    def total_requests(self) -> int:
        """Requests over every phase and endpoint."""
        return sum(e.requests for e in self._entries.values())

    def _select(self, phase: int | None, name: str | None) -> list[_Entry]:
        return [
            e
            for (p, n), e in self._entries.items()
            if (phase is None or p == phase) and (name is None or n == name)
        ]

    def summary(
        self, phase: int | None = None, name: str | None = None, *, which: str = "latency"
    ) -> dict[str, float]:
        """Merged figures over the selected phase(s) and endpoint(s).

        Parameters
        ----------
        phase, name : optional
            Restrict to one phase / one endpoint; ``None`` merges all.
        which : {"latency", "service"}
            User-seen latency (from the intended send time) or service time.

        Returns
        -------
        dict
            ``requests``, ``failures``, ``error_ratio``, ``first_start``, ``last_end``,
            ``span_s`` and the :func:`summarize_histogram` figures (seconds).
        """
        if which not in ("latency", "service"):
            raise ValueError(f"which must be 'latency' or 'service', got {which!r}")
        entries = self._select(phase, name)
        h = new_histogram()
        requests = failures = 0
        first, last = math.inf, -math.inf
        for e in entries:
            h.add(getattr(e, which))
            requests += e.requests
            failures += e.failures
            first, last = min(first, e.first_start), max(last, e.last_end)
        out: dict[str, float] = {
            "requests": requests,
            "failures": failures,
            "error_ratio": failures / requests if requests else math.nan,
            "first_start": first,
            "last_end": last,
            "span_s": (last - first) if requests else math.nan,
        }
        out.update(summarize_histogram(h))
        return out
