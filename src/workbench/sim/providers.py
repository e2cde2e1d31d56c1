"""LLM provider models for the router simulator.

A :class:`Provider` is a remote API or a local Ollama server as the router sees it:
concurrency slots, a latency made of network round trip + time to first token +
completion tokens / tokens per second (each a :class:`~workbench.sim.distributions.Dist`),
error and timeout probabilities, rate limits answered with 429, and a price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from workbench.sim.distributions import Dist

__all__ = ["Provider"]


def _prob(x: float, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float) or not 0 <= x <= 1:
        raise ValueError(f"{name} must be a probability in [0, 1], got {x!r}")
    return float(x)


def _nonneg(x: float, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x) or x < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {x!r}")
    return float(x)


@dataclass(frozen=True)
class Provider:
    """One LLM provider.

    Parameters
    ----------
    name : str
        Unique label (shows up in the per-request records).
    slots : int
        Requests the router sends to it concurrently; more wait in its FIFO queue.
    rtt, ttft, tokens_per_s : Dist
        Network round trip, time to first token (server queueing and prefill), and the
        decode speed. An attempt that succeeds takes ``rtt + ttft + completion_tokens /
        tokens_per_s``; an error answers after ``rtt + ttft``; a 429 after ``rtt``.
    error_prob : float
        Probability that an accepted attempt fails (5xx).
    timeout_prob : float
        Probability that an accepted attempt never answers; it ends at the policy's
        ``attempt_timeout_s`` (which must then be finite).
    rpm, tpm : float
        Requests and tokens (prompt + completion) accepted per rate window (one minute by
        default; ``rate_window_s`` of :func:`~workbench.sim.router.simulate`); 0 = no limit.
        Attempts beyond the limit are answered with 429.
    cost_per_1k : float
        Price per 1,000 tokens (prompt + completion) of a successful attempt.
    weight : float
        Weight for the ``weighted_random`` policy.
    prior_latency_s : float, optional
        Where the latency EWMA starts; default: the mean latency of the model.
    outages : sequence of (start_s, end_s)
        Incidents: every attempt sent in ``[start_s, end_s)`` fails with an error.

    Examples
    --------
    >>> p = Provider("ollama", slots=2, ttft=Dist.exp(0.05), tokens_per_s=Dist.det(40.0))
    >>> round(p.mean_latency_s(completion_tokens=100), 3)
    2.55
    """

    name: str
    slots: int = 1
    rtt: Dist = field(default_factory=lambda: Dist.det(0.0))
    ttft: Dist = field(default_factory=lambda: Dist.det(0.0))
    tokens_per_s: Dist = field(default_factory=lambda: Dist.det(50.0))
    error_prob: float = 0.0
    timeout_prob: float = 0.0
    rpm: float = 0.0
    tpm: float = 0.0
    cost_per_1k: float = 0.0
    weight: float = 1.0
    prior_latency_s: float | None = None
    outages: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        if isinstance(self.slots, bool) or not isinstance(self.slots, int) or self.slots < 1:
            raise ValueError(f"{self.name}: slots must be an int >= 1, got {self.slots!r}")
        for fname in ("rtt", "ttft", "tokens_per_s"):
            value = getattr(self, fname)
            if not isinstance(value, Dist):
                raise TypeError(f"{self.name}: {fname} must be a Dist, got {type(value).__name__}")
        tps = self.tokens_per_s
        if tps.mean <= 0 or (tps.kind == "empirical" and min(tps.samples) <= 0):
            raise ValueError(f"{self.name}: tokens_per_s must be > 0")
        if tps.kind == "exp":
            # 1/X of an exponential has infinite mean: decode times would be unbounded
            raise ValueError(f"{self.name}: tokens_per_s cannot be exponential (1/X has no mean)")
        p_err = _prob(self.error_prob, f"{self.name}: error_prob")
        p_to = _prob(self.timeout_prob, f"{self.name}: timeout_prob")
        if p_err + p_to > 1:
            raise ValueError(f"{self.name}: error_prob + timeout_prob must be <= 1")
        for fname in ("rpm", "tpm", "cost_per_1k", "weight"):
            _nonneg(getattr(self, fname), f"{self.name}: {fname}")
        if self.prior_latency_s is not None:
            _nonneg(self.prior_latency_s, f"{self.name}: prior_latency_s")
        try:
            spans = tuple((float(a), float(b)) for a, b in self.outages)
        except (TypeError, ValueError):
            raise ValueError(f"{self.name}: outages must be (start_s, end_s) pairs") from None
        for a, b in spans:
            if not (math.isfinite(a) and math.isfinite(b) and 0 <= a < b):
                raise ValueError(f"{self.name}: outage ({a}, {b}) must have 0 <= start < end")
        object.__setattr__(self, "outages", spans)

    def mean_latency_s(self, completion_tokens: float = 0.0) -> float:
        """Mean latency of a successful attempt with this many completion tokens (no queueing).

        Uses ``1 / mean(tokens_per_s)`` for the decode rate, exact for a deterministic rate.
        """
        return self.rtt.mean + self.ttft.mean + completion_tokens / self.tokens_per_s.mean
