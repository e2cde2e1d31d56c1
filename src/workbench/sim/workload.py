"""Request workloads for the router simulator: Poisson, bursty (MMPP), diurnal, trace replay.

A :class:`Workload` describes the arrival process and token-count distributions;
:meth:`Workload.generate` turns it into concrete :class:`Arrivals` for one seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from numba import njit

from workbench.config import FASTMATH, NUMBA_CACHE
from workbench.sim.distributions import Dist, encode, sample
from workbench.sim.rng import exponential, new_ctx, uniform

__all__ = ["WORKLOAD_KINDS", "Arrivals", "Workload", "stream_seed"]

WORKLOAD_KINDS = ("poisson", "bursty", "diurnal", "replay")


def stream_seed(seed: int, stream: int) -> int:
    """An independent 64-bit seed for one random stream of a run (numpy ``SeedSequence``)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    return int(np.random.SeedSequence([int(seed), stream]).generate_state(1, np.uint64)[0])


def _as_1d(value: Any, name: str) -> np.ndarray:
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a 1-D array of numbers, got {type(value).__name__}")
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and (arr.dtype == np.bool_ or arr.dtype.kind not in "iuf"):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr


def _as_tokens(value: Any, name: str) -> np.ndarray:
    arr = _as_1d(value, name)
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    whole = arr.dtype.kind != "f" or (np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))
    if not whole:
        raise ValueError(f"{name} must hold whole, finite token counts")
    if arr.min() < 0:
        raise ValueError(f"{name} must be >= 0, got {arr.min()!r}")
    if arr.max() > 2**53:
        raise ValueError(f"{name} must be <= 2**53, got {arr.max()!r}")
    return np.ascontiguousarray(arr, dtype=np.int64)


@dataclass(frozen=True)
class Arrivals:
    """Concrete requests: arrival times (sorted, seconds) and token counts.

    The arrays may be given as any 1-D array-likes (lists included): ``arrival_s`` is stored
    as float64, the token counts as int64 (float counts must be whole numbers), ``model`` as
    a 1-D array of the same length.

    Raises
    ------
    TypeError
        Non-numeric times or token counts.
    ValueError
        Arrays that are not 1-D or differ in length, no requests, unsorted, negative or
        non-finite times, negative or fractional token counts.
    """

    arrival_s: np.ndarray
    prompt_tokens: np.ndarray
    completion_tokens: np.ndarray
    model: np.ndarray | None = None

    def __post_init__(self) -> None:
        # frozen: store the checked, converted arrays through object.__setattr__
        arrival = np.ascontiguousarray(_as_1d(self.arrival_s, "arrival_s"), dtype=np.float64)
        object.__setattr__(self, "arrival_s", arrival)
        for name in ("prompt_tokens", "completion_tokens"):
            object.__setattr__(self, name, _as_tokens(getattr(self, name), name))
        if self.model is not None:
            if isinstance(self.model, (str, bytes)):
                raise TypeError(f"model must be a 1-D array, got {type(self.model).__name__}")
            model = np.asarray(self.model)
            if model.shape != arrival.shape:
                raise ValueError(
                    f"model must be one-dimensional like arrival_s {arrival.shape}, "
                    f"got shape {model.shape}"
                )
            object.__setattr__(self, "model", model)
        n = self.arrival_s.shape[0]
        if self.prompt_tokens.shape != (n,) or self.completion_tokens.shape != (n,):
            raise ValueError("arrival_s, prompt_tokens and completion_tokens must have one length")
        if n == 0:
            raise ValueError("a workload needs at least one request")
        if not _finite_and_sorted(self.arrival_s):
            raise ValueError("arrival_s must be finite and sorted")
        if self.arrival_s[0] < 0:
            raise ValueError("arrival_s must be >= 0")

    def __len__(self) -> int:
        return int(self.arrival_s.shape[0])


@njit(cache=NUMBA_CACHE)
def _finite_and_sorted(t):
    # one pass and no temporaries: np.isfinite, np.diff and the comparison allocate three
    # arrays of n, which cost as much as generating the arrivals
    prev = -np.inf
    for x in t:
        if not math.isfinite(x) or x < prev:
            return False
        prev = x
    return True


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _poisson_kernel(t, rate, ctx):
    now = 0.0
    for i in range(t.shape[0]):
        now += exponential(ctx, 1.0 / rate)
        t[i] = now


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _mmpp_kernel(t, rate_quiet, rate_burst, mean_gap, mean_burst, ctx):
    # Two-state Markov-modulated Poisson process starting quiet. Exponential sojourns make
    # it memoryless, so a pending arrival past the state change is simply redrawn.
    n = t.shape[0]
    now = 0.0
    bursting = False
    switch = exponential(ctx, mean_gap)
    i = 0
    while i < n:
        rate = rate_burst if bursting else rate_quiet
        nxt = now + exponential(ctx, 1.0 / rate) if rate > 0.0 else np.inf
        if nxt < switch:
            now = nxt
            t[i] = now
            i += 1
        else:
            now = switch
            bursting = not bursting
            switch = now + exponential(ctx, mean_burst if bursting else mean_gap)


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _diurnal_kernel(t, mean_rate, amplitude, period, ctx):
    # Lewis–Shedler thinning of rate(t) = mean * (1 + amplitude * sin(2 pi t / period)).
    n = t.shape[0]
    peak = mean_rate * (1.0 + amplitude)
    now = 0.0
    i = 0
    while i < n:
        now += exponential(ctx, 1.0 / peak)
        rate = mean_rate * (1.0 + amplitude * math.sin(2.0 * math.pi * now / period))
        if uniform(ctx) * peak < rate:
            t[i] = now
            i += 1


@njit(cache=NUMBA_CACHE, fastmath=FASTMATH)
def _tokens_kernel(out, kind, p, values, row, ctx):
    for i in range(out.shape[0]):
        out[i] = int(round(sample(kind, p, values, row, ctx)))


def _pos(x: float, name: str, allow_zero: bool = False) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number, got {x!r}")
    if x < 0 or (x == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {x!r}")
    return float(x)


@dataclass(frozen=True)
class Workload:
    """An arrival process with token-count distributions. Build with the class methods.

    Examples
    --------
    >>> w = Workload.poisson(10.0, 1000, completion_tokens=Dist.lognormal(200, cv=1.0))
    >>> a = w.generate(seed=1)
    >>> len(a), bool(abs(a.arrival_s[-1] / 1000 - 0.1) < 0.02)
    (1000, True)
    """

    kind: str
    n_requests: int
    rate_rps: float = 1.0
    burst_rate_rps: float = 0.0
    mean_burst_s: float = 1.0
    mean_gap_s: float = 1.0
    amplitude: float = 0.0
    period_s: float = 86400.0
    prompt_tokens: Dist = field(default_factory=lambda: Dist.det(0.0))
    completion_tokens: Dist = field(default_factory=lambda: Dist.det(0.0))
    trace: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in WORKLOAD_KINDS:
            raise ValueError(f"kind must be one of {WORKLOAD_KINDS}, got {self.kind!r}")
        n = self.n_requests
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"n_requests must be an int >= 1, got {n!r}")
        for name in ("prompt_tokens", "completion_tokens"):
            if not isinstance(getattr(self, name), Dist):
                raise TypeError(f"{name} must be a Dist")
        if self.kind == "replay":
            return
        _pos(self.rate_rps, "rate_rps", allow_zero=self.kind == "bursty")
        if self.kind == "bursty":
            _pos(self.burst_rate_rps, "burst_rate_rps")
            _pos(self.mean_burst_s, "mean_burst_s")
            _pos(self.mean_gap_s, "mean_gap_s")
        if self.kind == "diurnal":
            if not 0 <= self.amplitude <= 1:
                raise ValueError(f"amplitude must be in [0, 1], got {self.amplitude!r}")
            _pos(self.period_s, "period_s")

    @classmethod
    def poisson(
        cls,
        rate_rps: float,
        n_requests: int,
        prompt_tokens: Dist | None = None,
        completion_tokens: Dist | None = None,
    ) -> Workload:
        """Poisson arrivals at ``rate_rps``."""
        return cls(
            "poisson", n_requests, rate_rps=rate_rps, **_tok(prompt_tokens, completion_tokens)
        )

    @classmethod
    def bursty(
        cls,
        rate_rps: float,
        burst_rate_rps: float,
        mean_burst_s: float,
        mean_gap_s: float,
        n_requests: int,
        prompt_tokens: Dist | None = None,
        completion_tokens: Dist | None = None,
    ) -> Workload:
        """On/off bursts (a two-state MMPP): ``rate_rps`` between bursts, ``burst_rate_rps``
        during them; burst and gap lengths are exponential with the given means."""
        return cls(
            "bursty", n_requests, rate_rps=rate_rps, burst_rate_rps=burst_rate_rps,
            mean_burst_s=mean_burst_s, mean_gap_s=mean_gap_s,
            **_tok(prompt_tokens, completion_tokens),
        )  # fmt: skip

    @classmethod
    def diurnal(
        cls,
        mean_rate_rps: float,
        n_requests: int,
        amplitude: float = 0.5,
        period_s: float = 86400.0,
        prompt_tokens: Dist | None = None,
        completion_tokens: Dist | None = None,
    ) -> Workload:
        """Rate ``mean * (1 + amplitude * sin(2 pi t / period))`` (a day by default)."""
        return cls(
            "diurnal", n_requests, rate_rps=mean_rate_rps, amplitude=amplitude,
            period_s=period_s, **_tok(prompt_tokens, completion_tokens),
        )  # fmt: skip

    @classmethod
    def replay(cls, trace: str | Path | pl.DataFrame, n_requests: int | None = None) -> Workload:
        """Replay a trace: CSV or parquet file (or DataFrame) with columns ``arrival_s``,
        ``prompt_tokens``, ``completion_tokens`` and optionally ``model``.

        Arrivals are shifted so the first is at 0 and sorted; ``n_requests`` keeps the first n.
        """
        frame = _read_trace(trace)
        n = frame.height if n_requests is None else n_requests
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= frame.height:
            raise ValueError(f"n_requests must be in [1, {frame.height}], got {n_requests!r}")
        return cls("replay", n, trace=frame.head(n))

    @property
    def mean_rate_rps(self) -> float:
        """Long-run arrival rate (for replay: requests over the trace's span)."""
        if self.kind == "bursty":
            q, b = self.mean_gap_s, self.mean_burst_s
            return (self.rate_rps * q + self.burst_rate_rps * b) / (q + b)
        if self.kind == "replay":
            t = self.trace["arrival_s"]
            span = float(t.max() - t.min())
            return self.n_requests / span if span > 0 else math.inf
        return self.rate_rps

    def generate(self, seed: int = 0) -> Arrivals:
        """Draw the arrivals and token counts (deterministic for a given seed)."""
        if self.kind == "replay":
            f = self.trace
            t = f["arrival_s"].to_numpy().astype(np.float64)
            model = f["model"].to_numpy() if "model" in f.columns else None
            return Arrivals(
                t - t[0],
                f["prompt_tokens"].to_numpy().astype(np.int64),
                f["completion_tokens"].to_numpy().astype(np.int64),
                model,
            )
        ctx = new_ctx(stream_seed(seed, 1))
        n = int(self.n_requests)
        # The three columns are rows of one allocation (times as a float64 view of the first
        # row): from 4 MB numpy asks for transparent huge pages, so filling them faults a few
        # 2 MB pages rather than thousands of 4 kB ones (the records do the same, see
        # workbench.sim.router.simulate).
        cols = np.empty((3, n), dtype=np.int64)
        t = cols[0].view(np.float64)
        if self.kind == "poisson":
            _poisson_kernel(t, self.rate_rps, ctx)
        elif self.kind == "bursty":
            _mmpp_kernel(
                t, self.rate_rps, self.burst_rate_rps, self.mean_gap_s, self.mean_burst_s, ctx
            )
        else:
            _diurnal_kernel(t, self.rate_rps, self.amplitude, self.period_s, ctx)
        table = encode([self.prompt_tokens, self.completion_tokens])
        tok_ctx = new_ctx(stream_seed(seed, 4))
        for row, d in enumerate((self.prompt_tokens, self.completion_tokens)):
            if d.kind == "det":
                cols[1 + row] = round(d.mean)
            else:
                _tokens_kernel(cols[1 + row], table.kind, table.p, table.values, row, tok_ctx)
        return Arrivals(t, cols[1], cols[2])


def _tok(prompt: Dist | None, completion: Dist | None) -> dict[str, Dist]:
    out = {}
    if prompt is not None:
        out["prompt_tokens"] = prompt
    if completion is not None:
        out["completion_tokens"] = completion
    return out


def _read_trace(trace: str | Path | pl.DataFrame) -> pl.DataFrame:
    if isinstance(trace, pl.DataFrame):
        frame = trace
    else:
        path = Path(trace)
        if not path.is_file():
            raise ValueError(f"trace file not found: {path}")
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path)
        elif path.suffix == ".csv":
            frame = pl.read_csv(path)
        else:
            raise ValueError(f"trace must be a .csv or .parquet file, got {path.name}")
    missing = {"arrival_s", "prompt_tokens", "completion_tokens"} - set(frame.columns)
    if missing:
        raise ValueError(f"trace is missing column(s) {sorted(missing)}")
    if frame.height == 0:
        raise ValueError("trace has no rows")
    frame = frame.sort("arrival_s", maintain_order=True)
    for col in ("arrival_s", "prompt_tokens", "completion_tokens"):
        values = frame[col].cast(pl.Float64, strict=False)
        if values.null_count() or not np.all(np.isfinite(values.to_numpy())):
            raise ValueError(f"trace column {col} must be numeric, finite, without nulls")
        if (values < 0).any():
            raise ValueError(f"trace column {col} must be >= 0")
    return frame
