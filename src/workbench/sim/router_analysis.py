"""Experiments on the router simulator for the ``router_simulation`` notebook.

Load sweeps per policy and their knees, cost against latency, and the plan's "AI Inference"
row (180 ms -> 90 ms) re-derived: how much of an LLM request's latency a faster router
runtime can remove when the provider's latency dominates.

The model of the claim: a request's latency is the router's own processing time
(``overhead``: parse, route, serialise; the part a TypeScript -> Rust rewrite speeds up)
plus the provider's latency (network, queueing, prefill, decode; untouched by the
rewrite), plus any queueing in front of the router when it saturates. Without queueing,
moving from overhead ``o`` to ``o / s`` saves ``o (1 - 1/s)`` of ``p + o``: at most
``o / (p + o)`` however fast the new runtime is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import polars as pl

from workbench.results import Recorder
from workbench.sim.distributions import Dist
from workbench.sim.policies import RoutingPolicy
from workbench.sim.providers import Provider
from workbench.sim.router import simulate
from workbench.sim.workload import Workload

__all__ = [
    "PROVIDER_PRESETS",
    "claim_improvement",
    "inference_rederivation",
    "knee",
    "load_sweep",
    "plot_cost_vs_latency",
    "plot_latency_vs_load",
    "plot_sensitivity",
    "providers_preset",
    "record_frame",
    "required_overhead_s",
    "sensitivity_grid",
    "single_provider",
]


def _fleet() -> list[Provider]:
    # Two hosted APIs and a local Ollama. Latency figures are assumptions in the range
    # public provider dashboards show for short chat completions, not measurements.
    return [
        Provider("api-fast", slots=16, rtt=Dist.det(0.04), ttft=Dist.lognormal(0.25, 0.6),
                 tokens_per_s=Dist.lognormal(90.0, 0.3), error_prob=0.01, rpm=3000,
                 cost_per_1k=0.6),
        Provider("api-cheap", slots=16, rtt=Dist.det(0.06), ttft=Dist.lognormal(0.4, 0.8),
                 tokens_per_s=Dist.lognormal(60.0, 0.3), error_prob=0.02, rpm=3000,
                 cost_per_1k=0.2),
        Provider("ollama", slots=2, rtt=Dist.det(0.001), ttft=Dist.lognormal(0.08, 0.3),
                 tokens_per_s=Dist.det(35.0)),
    ]  # fmt: skip


def _single() -> list[Provider]:
    return [Provider("api", slots=32, rtt=Dist.det(0.04), ttft=Dist.lognormal(0.3, 0.6),
                     tokens_per_s=Dist.lognormal(80.0, 0.3), cost_per_1k=0.5)]  # fmt: skip


#: Named provider fleets the notebook can select by a (papermill-friendly) string.
PROVIDER_PRESETS = {"fleet": _fleet, "single": _single}


def providers_preset(name: str) -> list[Provider]:
    """A named fleet of :data:`PROVIDER_PRESETS` (fresh objects).

    Examples
    --------
    >>> [p.name for p in providers_preset("fleet")]
    ['api-fast', 'api-cheap', 'ollama']
    """
    if name not in PROVIDER_PRESETS:
        raise ValueError(f"providers must be one of {sorted(PROVIDER_PRESETS)}, got {name!r}")
    return PROVIDER_PRESETS[name]()


def _workload(rate: float, n: int, completion_tokens: float) -> Workload:
    return Workload.poisson(
        rate, n,
        prompt_tokens=Dist.lognormal(400.0, 1.0),
        completion_tokens=Dist.lognormal(completion_tokens, 1.0) if completion_tokens > 0
        else Dist.det(0.0),
    )  # fmt: skip


def load_sweep(
    providers: Sequence[Provider],
    policies: Sequence[str | RoutingPolicy],
    rates_rps: Sequence[float],
    n_requests: int = 20_000,
    seed: int = 0,
    *,
    overhead_s: float = 0.0,
    router_workers: int = 1,
    completion_tokens: float = 40.0,
    warmup_fraction: float = 0.1,
) -> pl.DataFrame:
    """Latency, throughput, errors and cost per policy and offered load.

    Every (policy, rate) pair sees the same seed, so policies are compared on the same
    arrivals and token counts (common random numbers).

    Returns
    -------
    polars.DataFrame
        Columns ``policy, rate_rps`` and the keys of :meth:`SimResult.summary` that matter
        for the plots (latencies in seconds).

    Examples
    --------
    >>> f = load_sweep(providers_preset("single"), ["round_robin"], [5.0], n_requests=500)
    >>> f.select("policy", "rate_rps").row(0)
    ('round_robin', 5.0)
    """
    if not rates_rps or any(not (r > 0 and math.isfinite(r)) for r in rates_rps):
        raise ValueError(f"rates_rps must be positive numbers, got {list(rates_rps)}")
    if not policies:
        raise ValueError("policies must not be empty")
    keep = ("mean_latency_s", "p50_latency_s", "p95_latency_s", "p99_latency_s",
            "throughput_rps", "error_rate", "cost_per_request", "mean_attempts")  # fmt: skip
    rows = []
    for pol in policies:
        policy = RoutingPolicy(pol) if isinstance(pol, str) else pol
        for rate in rates_rps:
            w = _workload(float(rate), n_requests, completion_tokens)
            arrivals = w.generate(seed)
            warm = float(arrivals.arrival_s[int(warmup_fraction * n_requests)])
            res = simulate(
                providers, arrivals, policy, seed, overhead_s=overhead_s,
                router_workers=router_workers, warmup_s=warm,
            )  # fmt: skip
            s = res.summary()
            util = max(s[f"utilisation_{p.name}"] for p in providers)
            rows.append({"policy": policy.name, "rate_rps": float(rate),
                         **{k: s[k] for k in keep}, "max_utilisation": util})  # fmt: skip
    return pl.DataFrame(rows)


def knee(frame: pl.DataFrame, metric: str = "p99_latency_s", factor: float = 2.0) -> pl.DataFrame:
    """Per policy, the offered load at which ``metric`` first exceeds ``factor`` times its
    value at the lowest load (linear interpolation between sweep points; null if never).

    Examples
    --------
    >>> f = pl.DataFrame({"policy": ["a"] * 3, "rate_rps": [1.0, 2.0, 3.0],
    ...                   "p99_latency_s": [1.0, 1.5, 2.5]})
    >>> knee(f)["knee_rps"].to_list()
    [2.5]
    """
    if factor <= 1:
        raise ValueError(f"factor must be > 1, got {factor}")
    if metric not in frame.columns:
        raise ValueError(f"metric {metric!r} is not a column of the sweep")
    rows = []
    for (policy,), g in frame.sort("rate_rps").group_by("policy", maintain_order=True):
        x = g["rate_rps"].to_list()
        y = g[metric].to_list()
        limit = factor * y[0]
        at = None
        for i in range(1, len(x)):
            if y[i] > limit:
                y0, y1 = y[i - 1], y[i]
                at = x[i - 1] + (x[i] - x[i - 1]) * (limit - y0) / (y1 - y0)
                break
        rows.append({"policy": policy, "knee_rps": at, "base_" + metric: y[0]})
    return pl.DataFrame(rows, schema_overrides={"knee_rps": pl.Float64})


def claim_improvement(provider_latency_s: float, overhead_s: float, speedup: float) -> float:
    """Latency improvement (fraction) from speeding the router up ``speedup`` times,
    without queueing: ``o (1 - 1/s) / (p + o)``.

    Examples
    --------
    >>> round(claim_improvement(0.175, 0.005, 10.0), 4)  # 5 ms of 180 ms, 10x faster
    0.025
    """
    p, o, s = float(provider_latency_s), float(overhead_s), float(speedup)
    if p < 0 or o < 0 or p + o <= 0 or s < 1:
        raise ValueError("need provider_latency_s >= 0, overhead_s >= 0 (not both 0), speedup >= 1")
    return o * (1.0 - 1.0 / s) / (p + o)


def required_overhead_s(baseline_s: float, target_s: float, speedup: float = math.inf) -> float:
    """Router overhead the baseline must contain for a ``speedup``-times faster runtime to
    bring ``baseline_s`` down to ``target_s``: ``(baseline - target) / (1 - 1/s)``.

    Examples
    --------
    >>> required_overhead_s(0.180, 0.090)  # even an infinitely fast router needs 90 ms
    0.09
    >>> round(required_overhead_s(0.180, 0.090, speedup=10.0), 4)
    0.1
    """
    if not 0 < target_s < baseline_s:
        raise ValueError("need 0 < target_s < baseline_s")
    if speedup <= 1:
        raise ValueError(f"speedup must be > 1, got {speedup}")
    keep = 0.0 if math.isinf(speedup) else 1.0 / speedup
    return (baseline_s - target_s) / (1.0 - keep)


def single_provider(mean_latency_s: float, slots: int = 64, cv: float = 0.5) -> Provider:
    """One provider whose latency is lognormal with this mean (no token dependence)."""
    return Provider("provider", slots=slots, ttft=Dist.lognormal(mean_latency_s, cv))


def _mean_latency(provider: Provider, rate: float, n: int, seed: int, overhead: float,
                  workers: int) -> float:  # fmt: skip
    w = Workload.poisson(rate, n)
    arrivals = w.generate(seed)
    warm = float(arrivals.arrival_s[n // 10])
    res = simulate([provider], arrivals, "least_outstanding", seed, overhead_s=overhead,
                   router_workers=workers, warmup_s=warm)  # fmt: skip
    return res.summary()["mean_latency_s"]


def sensitivity_grid(
    provider_latencies_s: Sequence[float],
    overheads_s: Sequence[float],
    speedup: float,
    rate_rps: float,
    n_requests: int = 10_000,
    seed: int = 0,
    router_workers: int = 1,
) -> pl.DataFrame:
    """Simulated latency improvement of a ``speedup``-times faster router, over a grid of
    provider latency x baseline router overhead, at one offered load.

    The router is a ``router_workers``-server queue (1 = a single event loop), so near its
    saturation (``rate * overhead -> workers``) queueing adds to the baseline and the
    improvement exceeds the no-queueing bound of :func:`claim_improvement`.

    Returns
    -------
    polars.DataFrame
        ``provider_latency_s, overhead_s, baseline_s, migrated_s, improvement_pct,
        closed_form_pct, router_utilisation``.
    """
    if speedup < 1:
        raise ValueError(f"speedup must be >= 1, got {speedup}")
    rows = []
    for p in provider_latencies_s:
        prov = single_provider(p)
        for o in overheads_s:
            rho = rate_rps * o / router_workers
            if rho >= 0.98:  # the baseline router cannot keep up: no steady state to report
                rows.append(dict(provider_latency_s=p, overhead_s=o, baseline_s=None,
                                 migrated_s=None, improvement_pct=None,
                                 closed_form_pct=100 * claim_improvement(p, o, speedup),
                                 router_utilisation=rho))  # fmt: skip
                continue
            base = _mean_latency(prov, rate_rps, n_requests, seed, o, router_workers)
            new = _mean_latency(prov, rate_rps, n_requests, seed, o / speedup, router_workers)
            rows.append(dict(provider_latency_s=p, overhead_s=o, baseline_s=base,
                             migrated_s=new, improvement_pct=100 * (1 - new / base),
                             closed_form_pct=100 * claim_improvement(p, o, speedup),
                             router_utilisation=rho))  # fmt: skip
    floats = {"baseline_s": pl.Float64, "migrated_s": pl.Float64, "improvement_pct": pl.Float64}
    return pl.DataFrame(rows, schema_overrides=floats)


def inference_rederivation(
    baseline_s: float,
    target_s: float,
    overhead_s: float,
    speedup: float,
    rate_rps: float,
    n_requests: int = 20_000,
    seed: int = 0,
    router_workers: int = 1,
) -> pl.DataFrame:
    """The "AI Inference" row under stated assumptions.

    The provider's mean latency is set so that the simulated TypeScript baseline at low
    load matches ``baseline_s`` (``provider = baseline - overhead``); the migrated router
    keeps the provider and divides the overhead by ``speedup``.

    Returns
    -------
    polars.DataFrame
        One row per figure: ``figure, value_s, improvement_pct, source``.
    """
    p = baseline_s - overhead_s
    if p <= 0:
        raise ValueError("overhead_s must be below baseline_s")
    prov = single_provider(p)
    base = _mean_latency(prov, rate_rps, n_requests, seed, overhead_s, router_workers)
    new = _mean_latency(prov, rate_rps, n_requests, seed, overhead_s / speedup, router_workers)
    return pl.DataFrame(
        [
            {"figure": "plan: current (TypeScript)", "value_s": baseline_s,
             "improvement_pct": None, "source": "seed"},
            {"figure": "plan: Rust target", "value_s": target_s,
             "improvement_pct": 100 * (1 - target_s / baseline_s), "source": "seed"},
            {"figure": "simulated: TypeScript router", "value_s": base,
             "improvement_pct": None, "source": "simulated"},
            {"figure": "simulated: Rust router", "value_s": new,
             "improvement_pct": 100 * (1 - new / base), "source": "simulated"},
            {"figure": "overhead needed for the plan's target", "value_s":
             required_overhead_s(baseline_s, target_s, speedup), "improvement_pct": None,
             "source": "closed form"},
        ],
        schema_overrides={"improvement_pct": pl.Float64},
    )  # fmt: skip


def record_frame(
    rec: Recorder,
    frame: pl.DataFrame,
    case: str | Sequence[str],
    implementation: str | Sequence[str],
    metrics: dict[str, str],
    params: dict[str, Any] | None = None,
    provenance: str = "simulated",
) -> int:
    """Record columns of a frame: for each row, one result per ``metrics`` column -> unit.

    ``case`` and ``implementation`` are either fixed strings or format templates filled
    from the row (``"router/{policy}/{rate_rps:g}rps"``). Null values are skipped.
    Returns the number of rows recorded.
    """
    count = 0
    for row in frame.iter_rows(named=True):
        c = case.format(**row) if isinstance(case, str) else case
        impl = implementation.format(**row) if isinstance(implementation, str) else implementation
        for col, unit in metrics.items():
            value = row[col]
            if value is None or (isinstance(value, float) and not math.isfinite(value)):
                continue
            rec.record(c, impl, col, value, unit, params={**(params or {}), **row},
                       provenance=provenance, flush=False)  # fmt: skip
            count += 1
    rec.flush()
    return count


def plot_latency_vs_load(frame: pl.DataFrame, metric: str = "p99_latency_s", ax=None):
    """One line per policy: ``metric`` (ms) against offered load."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 4))[1]
    for (policy,), g in frame.sort("rate_rps").group_by("policy", maintain_order=True):
        ax.plot(g["rate_rps"], g[metric] * 1000, marker="o", label=policy)
    ax.set_xlabel("offered load (requests/s)")
    ax.set_ylabel(f"{metric.removesuffix('_s').replace('_', ' ')} (ms)")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def plot_cost_vs_latency(frame: pl.DataFrame, ax=None):
    """Cost per request against mean latency, one marker series per policy."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 4))[1]
    for (policy,), g in frame.group_by("policy", maintain_order=True):
        ax.scatter(g["mean_latency_s"] * 1000, g["cost_per_request"], label=policy)
    ax.set_xlabel("mean latency (ms)")
    ax.set_ylabel("cost per request")
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def plot_sensitivity(frame: pl.DataFrame, ax=None, target_pct: float | None = 50.0):
    """Improvement % against baseline router overhead, one line per provider latency."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 4))[1]
    for (p,), g in frame.sort("overhead_s").group_by("provider_latency_s", maintain_order=True):
        line = ax.plot(g["overhead_s"] * 1000, g["improvement_pct"], marker="o",
                       label=f"provider {p * 1000:g} ms (simulated)")[0]  # fmt: skip
        ax.plot(g["overhead_s"] * 1000, g["closed_form_pct"], ls="--", color=line.get_color())
    if target_pct is not None:
        ax.axhline(target_pct, color="k", lw=1, ls=":", label=f"plan: {target_pct:g}%")
    ax.set_xlabel("TypeScript router overhead per request (ms)")
    ax.set_ylabel("latency improvement (%)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax
