"""The plan's memory table as simulations: calibrated service workloads, targets, sensitivity.

Table 1 of the plan gives each component's memory today (TypeScript on Node/V8) and after the
migration (Go or Rust). :data:`SERVICE_WORKLOADS` holds one workload per component whose
*simulated V8 mean RSS* reproduces the "current (TS)" column within 5 %: the rates, request
sizes and lifetimes are stated assumptions, and ``live_set_mb`` was then solved for with
:func:`calibrate_live_set` (600 simulated seconds, seed 0) and rounded.

With those workloads in hand the questions the plan skips become computable:

* :func:`memory_table` -- the same workloads under the target runtime, beside the seed;
* :func:`target_requirements` -- what live set each target needs (and what fraction of
  today's that is), for a given ``GOGC`` or allocator fragmentation;
* :func:`gogc_requirements` -- for one service, the live set each ``GOGC`` allows;
* :func:`claim_sensitivity` -- the "63 % less memory" headline as a function of how much
  the live set shrinks in the new languages and of a leak.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from workbench.sim.memory import simulate
from workbench.sim.memory_workload import Workload, _check_number

__all__ = [
    "SERVICE_WORKLOADS",
    "ServiceModel",
    "calibrate_live_set",
    "claim_sensitivity",
    "gogc_requirements",
    "memory_table",
    "seed_memory_table",
    "services",
    "target_requirements",
]

# Quoted from the plan's Table 1 (used only when workbench.claims cannot be loaded).
_SEED_TABLE1 = {
    "api_gateway": ("API Gateway", 150.0, "go", 75.0),
    "database_layer": ("Database Layer", 200.0, "go", 100.0),
    "ai_processing": ("AI Processing", 400.0, "rust", 120.0),
    "graphrag": ("GraphRAG", 300.0, "rust", 90.0),
}
_SEED_TOTAL = {"current": 1050.0, "go": 175.0, "rust": 210.0, "improvement_pct": 63.0}


@dataclass(frozen=True)
class ServiceModel:
    """One component of Table 1: its TypeScript workload and the plan's figures."""

    id: str
    label: str
    workload: Workload
    target_runtime: str
    seed_current_mb: float
    seed_target_mb: float


def seed_memory_table() -> pl.DataFrame:
    """Table 1 as data: ``id, label, current_mb, target_runtime, target_mb``.

    Read from :mod:`workbench.claims` when available, else the figures quoted from the plan.

    Examples
    --------
    >>> seed_memory_table()["current_mb"].sum()
    1050.0
    """
    rows = []
    try:
        from workbench.claims import load_claims

        table = load_claims().tables["memory"]
        for rid in _SEED_TABLE1:
            r = table.row(rid)
            (rt, target), *_ = r.targets.items()
            rows.append((rid, r.label, float(r.current), rt, float(target)))
    except Exception:  # claims not available or shaped differently: quote the plan
        rows = [(rid, lab, cur, rt, tgt) for rid, (lab, cur, rt, tgt) in _SEED_TABLE1.items()]
    return pl.DataFrame(
        rows, schema=["id", "label", "current_mb", "target_runtime", "target_mb"], orient="row"
    )


#: Calibrated TypeScript workloads, one per Table 1 component (see the module docstring).
SERVICE_WORKLOADS: dict[str, Workload] = {
    "api_gateway": Workload(
        rate_rps=500, alloc_bytes_per_request=64_000, live_set_mb=38.0,
        request_duration_s=0.045, survival_fraction=0.01, survivor_lifetime_s=60.0,
        cache_mb=10.0, name="api_gateway",
    ),
    "database_layer": Workload(
        rate_rps=500, alloc_bytes_per_request=48_000, live_set_mb=65.0,
        request_duration_s=0.05, survival_fraction=0.02, survivor_lifetime_s=60.0,
        cache_mb=20.0, name="database_layer",
    ),
    "ai_processing": Workload(
        rate_rps=20, alloc_bytes_per_request=2_000_000, live_set_mb=187.0,
        request_duration_s=0.18, survival_fraction=0.01, survivor_lifetime_s=120.0,
        cache_mb=50.0, cpu_s_per_request=0.02, name="ai_processing",
    ),
    "graphrag": Workload(
        rate_rps=50, alloc_bytes_per_request=512_000, live_set_mb=136.0,
        request_duration_s=0.12, survival_fraction=0.02, survivor_lifetime_s=60.0,
        cache_mb=40.0, cpu_s_per_request=0.01, name="graphrag",
    ),
}  # fmt: skip


def services() -> dict[str, ServiceModel]:
    """The four Table 1 components with their calibrated workloads and seed figures."""
    seed = {r["id"]: r for r in seed_memory_table().iter_rows(named=True)}
    return {
        sid: ServiceModel(
            id=sid,
            label=seed[sid]["label"],
            workload=w,
            target_runtime=seed[sid]["target_runtime"],
            seed_current_mb=seed[sid]["current_mb"],
            seed_target_mb=seed[sid]["target_mb"],
        )
        for sid, w in SERVICE_WORKLOADS.items()
    }


def _metric(workload: Workload, runtime: str, metric: str, sim: Mapping[str, Any]) -> float:
    return float(simulate(workload, runtime, **sim).summary()[metric])


def calibrate_live_set(
    workload: Workload,
    runtime: str,
    target_mb: float,
    *,
    metric: str = "mean_rss_mb",
    duration_s: float = 600.0,
    dt_s: float = 0.01,
    seed: int = 0,
    tol_mb: float = 0.05,
    **runtime_options: Any,
) -> float:
    """The live set (MB) for which ``runtime`` reaches ``target_mb`` of ``metric``.

    Bisection over ``live_set_mb`` (RSS grows with the live set in every model), each probe
    a full :func:`~workbench.sim.memory.simulate` run with the other parameters unchanged.

    Parameters
    ----------
    workload : Workload
        Everything but the live set is kept.
    runtime : str
        ``"v8"``, ``"go"`` or ``"rust"``.
    target_mb : float
        Wanted value of ``metric``.
    metric : str
        A summary key in MB: ``"mean_rss_mb"`` or ``"peak_rss_mb"``.
    tol_mb : float
        Stop when the bracket on the live set is narrower than this.

    Returns
    -------
    float
        The live set in MB (within ``tol_mb``).

    Raises
    ------
    ValueError
        ``target_mb`` is not reachable: even an empty live set uses more (the runtime's
        baseline and the in-flight requests alone exceed it). The message says how much.

    Examples
    --------
    >>> w = Workload(100, 10_000, 10.0)
    >>> live = calibrate_live_set(w, "rust", 40.0, duration_s=30, fragmentation=0.0)
    >>> abs(live - (40.0 - 3.0 - w.in_flight_mb - w.survivors_mb)) < 0.5
    True
    """
    target_mb = _check_number("target_mb", target_mb, strict=True)
    if metric not in ("mean_rss_mb", "peak_rss_mb", "mean_heap_mb", "peak_heap_mb"):
        raise ValueError(f"metric must be an RSS or heap summary key in MB, got {metric!r}")
    sim = {"duration_s": duration_s, "dt_s": dt_s, "seed": seed, **runtime_options}
    floor = _metric(workload.replace(live_set_mb=0.0, cache_mb=0.0), runtime, metric, sim)
    if floor > target_mb:
        raise ValueError(
            f"target_mb ({target_mb:g}) is unreachable for {runtime}: with an empty live set "
            f"{metric} is already {floor:.1f} MB"
        )
    lo, hi = 0.0, max(1.0, target_mb)
    while _metric(workload.replace(live_set_mb=hi, cache_mb=0.0), runtime, metric, sim) < target_mb:
        lo, hi = hi, 2.0 * hi
    while hi - lo > tol_mb:
        mid = 0.5 * (lo + hi)
        value = _metric(workload.replace(live_set_mb=mid, cache_mb=0.0), runtime, metric, sim)
        if value < target_mb:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def memory_table(
    *,
    runtime_options: Mapping[str, Mapping[str, Any]] | None = None,
    live_set_factor: float = 1.0,
    leak_bytes_per_request: float = 0.0,
    duration_s: float = 600.0,
    dt_s: float = 0.01,
    seed: int = 0,
    metric: str = "mean_rss_mb",
) -> pl.DataFrame:
    """Table 1 with simulated columns beside the seed's.

    Each component's calibrated workload runs under V8 (``sim_current_mb``) and under its
    target runtime (``sim_target_mb``), with ``live_set_factor`` applied to the target
    runtime only (how much smaller the same data is in Go/Rust: 1 = not at all).

    Returns
    -------
    polars.DataFrame
        ``id, label, target_runtime, seed_current_mb, sim_current_mb, seed_target_mb,
        sim_target_mb, seed_improvement_pct, sim_improvement_pct`` and a ``total`` row.

    Examples
    --------
    >>> t = memory_table(duration_s=60)
    >>> t.filter(t["id"] == "total")["seed_current_mb"].item()
    1050.0
    """
    opts = {k: dict(v) for k, v in (runtime_options or {}).items()}
    rows = []
    for sid, svc in services().items():
        w = svc.workload.replace(leak_bytes_per_request=leak_bytes_per_request)
        cur = simulate(w, "v8", duration_s, dt_s, seed, **opts.get("v8", {}))
        tgt_opts = {"live_set_factor": live_set_factor, **opts.get(svc.target_runtime, {})}
        tgt = simulate(w, svc.target_runtime, duration_s, dt_s, seed, **tgt_opts)
        rows.append(
            {
                "id": sid,
                "label": svc.label,
                "target_runtime": svc.target_runtime,
                "seed_current_mb": svc.seed_current_mb,
                "sim_current_mb": cur.summary()[metric],
                "seed_target_mb": svc.seed_target_mb,
                "sim_target_mb": tgt.summary()[metric],
            }
        )
    frame = pl.DataFrame(rows)
    total = frame.select(pl.col("^seed_.*_mb$", "^sim_.*_mb$").sum()).with_columns(
        pl.lit("total").alias("id"),
        pl.lit("Total").alias("label"),
        pl.lit("go+rust").alias("target_runtime"),
    )
    frame = pl.concat([frame, total.select(frame.columns)])
    return frame.with_columns(
        (100 * (1 - pl.col("seed_target_mb") / pl.col("seed_current_mb"))).alias(
            "seed_improvement_pct"
        ),
        (100 * (1 - pl.col("sim_target_mb") / pl.col("sim_current_mb"))).alias(
            "sim_improvement_pct"
        ),
    )


def target_requirements(
    *,
    gogc: float | str = 100,
    fragmentation: float = 0.15,
    duration_s: float = 300.0,
    dt_s: float = 0.01,
    seed: int = 0,
    metric: str = "mean_rss_mb",
) -> pl.DataFrame:
    """What live set each component's Go or Rust target requires.

    Returns
    -------
    polars.DataFrame
        ``id, target_runtime, seed_target_mb, ts_live_set_mb, required_live_set_mb,
        required_live_set_factor`` (required / today's live set; below 1 means the new
        implementation must hold the same data in less memory, or hold less of it).
        ``required_live_set_mb`` is null when the target is below the runtime's floor.
    """
    rows = []
    for sid, svc in services().items():
        opts: dict[str, Any] = (
            {"gogc": gogc} if svc.target_runtime == "go" else {"fragmentation": fragmentation}
        )
        try:
            live = calibrate_live_set(
                svc.workload, svc.target_runtime, svc.seed_target_mb, metric=metric,
                duration_s=duration_s, dt_s=dt_s, seed=seed, **opts,
            )  # fmt: skip
        except ValueError:
            live = None
        rows.append(
            {
                "id": sid,
                "target_runtime": svc.target_runtime,
                "seed_target_mb": svc.seed_target_mb,
                "ts_live_set_mb": svc.workload.live_set_mb,
                "required_live_set_mb": live,
                "required_live_set_factor": None
                if live is None
                else live / svc.workload.live_set_mb,
            }
        )
    return pl.DataFrame(rows, infer_schema_length=None)


def gogc_requirements(
    service: str = "api_gateway",
    gogc_values: Sequence[float] = (25, 50, 100, 200),
    *,
    target_mb: float | None = None,
    duration_s: float = 300.0,
    dt_s: float = 0.01,
    seed: int = 0,
    metric: str = "mean_rss_mb",
) -> pl.DataFrame:
    """For one Go component: the live set each ``GOGC`` allows under its target, and the GC
    CPU it then costs.

    Returns
    -------
    polars.DataFrame
        ``gogc, target_mb, required_live_set_mb, gc_cpu_fraction, peak_rss_mb``.
    """
    svcs = services()
    if service not in svcs:
        raise ValueError(f"service must be one of {sorted(svcs)}, got {service!r}")
    svc = svcs[service]
    target = svc.seed_target_mb if target_mb is None else float(target_mb)
    rows = []
    for g in gogc_values:
        try:
            live = calibrate_live_set(
                svc.workload, "go", target, metric=metric, duration_s=duration_s, dt_s=dt_s,
                seed=seed, gogc=g,
            )  # fmt: skip
        except ValueError:
            rows.append({"gogc": float(g), "target_mb": target, "required_live_set_mb": None,
                         "gc_cpu_fraction": None, "peak_rss_mb": None})  # fmt: skip
            continue
        s = simulate(
            svc.workload.replace(live_set_mb=live, cache_mb=0.0), "go", duration_s, dt_s, seed,
            gogc=g,
        ).summary()  # fmt: skip
        rows.append({"gogc": float(g), "target_mb": target, "required_live_set_mb": live,
                     "gc_cpu_fraction": s["gc_cpu_fraction"],
                     "peak_rss_mb": s["peak_rss_mb"]})  # fmt: skip
    return pl.DataFrame(rows, infer_schema_length=None)


def claim_sensitivity(
    live_set_factors: Iterable[float] = (0.25, 0.5, 0.75, 1.0),
    leak_bytes_per_request: Iterable[float] = (0.0, 100.0, 1000.0),
    *,
    duration_s: float = 600.0,
    dt_s: float = 0.01,
    seed: int = 0,
    metric: str = "mean_rss_mb",
) -> pl.DataFrame:
    """The "63 % less memory" headline as a function of live-set shrink and leak rate.

    For every pair (factor, leak) all four components run under V8 and under their target
    runtime (the factor applied to the target only; the leak to both), and the total
    reduction is computed as the plan does: ``1 - (Go + Rust) / current``.

    Returns
    -------
    polars.DataFrame
        ``live_set_factor, leak_bytes_per_request, current_total_mb, target_total_mb,
        reduction_pct, claim_pct, claim_holds``.

    Notes
    -----
    Cost: ``2 x 4 x len(factors) x len(leaks)`` simulations of ``duration_s / dt_s`` steps;
    the V8 runs do not depend on the factor and are done once per leak rate.
    """
    factors = [float(f) for f in live_set_factors]
    leaks = [float(x) for x in leak_bytes_per_request]
    if not factors or not leaks:
        raise ValueError("live_set_factors and leak_bytes_per_request must not be empty")
    for f in factors:
        _check_number("live_set_factors", f)
    for x in leaks:
        _check_number("leak_bytes_per_request", x)
    svcs = services()
    rows = []
    for leak in leaks:
        current = 0.0
        for svc in svcs.values():
            w = svc.workload.replace(leak_bytes_per_request=leak)
            current += simulate(w, "v8", duration_s, dt_s, seed).summary()[metric]
        for f in factors:
            target = 0.0
            for svc in svcs.values():
                w = svc.workload.replace(leak_bytes_per_request=leak)
                s = simulate(w, svc.target_runtime, duration_s, dt_s, seed, live_set_factor=f)
                target += s.summary()[metric]
            reduction = 100.0 * (1.0 - target / current)
            rows.append({
                "live_set_factor": f, "leak_bytes_per_request": leak,
                "current_total_mb": current, "target_total_mb": target,
                "reduction_pct": reduction, "claim_pct": _SEED_TOTAL["improvement_pct"],
                "claim_holds": reduction >= _SEED_TOTAL["improvement_pct"] - 0.5,
            })  # fmt: skip
    return pl.DataFrame(rows)
