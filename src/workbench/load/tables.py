"""Tables for the load-test notebook: curves, service memory, the plan's table 3, API routing.

Each function takes :class:`~workbench.load.runner.LoadResult` objects and the plan's claims
and returns a polars DataFrame, so that the notebook only calls and displays. The plan's Go/Rust
columns hold ``"not measured here"`` unless a result for such an implementation is given.

Examples
--------
>>> from workbench.claims import load_claims
>>> t = throughput_table(load_claims(), step=None, rss_total_mb=None)
>>> t["figure"].to_list()
['concurrent connections', 'requests per second', 'memory efficiency']
>>> t["measured (Go/Rust)"].unique().to_list()
['not measured here']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from workbench.claims import Claims
from workbench.load.runner import LoadResult
from workbench.load.scenarios import ROUTING_ENDPOINT

__all__ = [
    "NOT_MEASURED",
    "curves_frame",
    "routing_table",
    "rss_frame",
    "throughput_table",
]

NOT_MEASURED = "not measured here"
#: Reference service -> the plan's memory row it corresponds to (table 1).
SERVICE_MEMORY_ROW = {
    "gateway": "api_gateway",
    "datatier": "database_layer",
    "ai-core": "ai_processing",
    "graphrag": "graphrag",
}


def _fmt(x: float | None, unit: str = "", digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:,.{digits}f}{unit}"


def curves_frame(results: Sequence[LoadResult]) -> pl.DataFrame:
    """One row per phase of every result: model, users, offered and achieved req/s, latency
    percentiles (ms) and errors - the data of the throughput/latency plots."""
    rows = []
    for r in results:
        model = "open" if r.schedule.open_model else "closed"
        for ph in r.phases:
            rows.append(
                {
                    "model": model,
                    "implementation": r.implementation,
                    "scenario": r.scenario,
                    "phase": ph["label"],
                    "users": ph["users"],
                    "offered_rps": ph["offered_rps"],
                    "rps": ph["rps"],
                    "p50_ms": ph["p50"] * 1e3,
                    "p95_ms": ph["p95"] * 1e3,
                    "p99_ms": ph["p99"] * 1e3,
                    "p99.9_ms": ph["p99.9"] * 1e3,
                    "service_p99_ms": ph["service_p99"] * 1e3,
                    "error_ratio": ph["error_ratio"],
                    "generator_saturated": bool(r.generator.get("saturated")),
                }
            )
    return pl.DataFrame(rows)


def rss_frame(result: LoadResult, claims: Claims) -> pl.DataFrame:
    """Each local service's RSS before and at its peak during ``result``, beside the
    plan's table 1 figure for the component it stands for."""
    rows = []
    mem = claims.tables["memory"]
    for svc, peak in sorted(result.services_rss.items()):
        row_id = SERVICE_MEMORY_ROW.get(svc)
        plan = mem.row(row_id) if row_id else None
        start = result.services_rss_start.get(svc)
        rows.append(
            {
                "service": svc,
                "rss_before_mb": None if start is None else start / 2**20,
                "rss_peak_mb": peak / 2**20,
                "plan_row": plan.label if plan else "-",
                "plan_current_mb": plan.current if plan else None,
                "plan_target_mb": plan.target if plan else None,
            }
        )
    return pl.DataFrame(rows)


def throughput_table(
    claims: Claims,
    step: LoadResult | None,
    rss_total_mb: float | None,
    *,
    alternative: LoadResult | None = None,
) -> pl.DataFrame:
    """The plan's table 3 with measured figures beside it.

    Parameters
    ----------
    claims : Claims
    step : LoadResult, optional
        The step load of the reference services (its knee gives the sustained users and
        req/s within the SLO).
    rss_total_mb : float, optional
        Peak RSS of all reference services together during the load.
    alternative : LoadResult, optional
        The same step load against another implementation (a Go/Rust gateway given by
        host); without it that column reads :data:`NOT_MEASURED`.
    """
    t = claims.tables["throughput"]

    def knee_of(r: LoadResult | None) -> dict[str, Any] | None:
        return None if r is None else r.knee

    k = knee_of(step)
    ka = knee_of(alternative)

    def at_top(r: LoadResult | None, kk: dict[str, Any] | None) -> str:
        # The knee on the highest step tried is only a lower bound: the real one is further.
        return ">= " if r is not None and kk and kk["index"] == r.phases[-1]["index"] else ""

    top, top_a = at_top(step, k), at_top(alternative, ka)
    measured = {
        "concurrent_connections": (
            f"{top}{k['users']} users (knee, closed loop)" if k else "no step met the SLO"
        )
        if step is not None
        else "-",
        "requests_per_second": f"{top}{_fmt(k['rps'])} req/s (knee)" if k else "-",
        "memory_efficiency": f"{_fmt(rss_total_mb, ' MB', 0)} (peak RSS, all services)"
        if rss_total_mb is not None
        else "-",
    }
    alt = {
        "concurrent_connections": f"{top_a}{ka['users']} users (knee)" if ka else NOT_MEASURED,
        "requests_per_second": f"{top_a}{_fmt(ka['rps'])} req/s (knee)" if ka else NOT_MEASURED,
        "memory_efficiency": NOT_MEASURED,
    }
    rows = []
    for row in t.rows:
        rows.append(
            {
                "figure": row.label,
                "plan current": _fmt(row.current, f" {row.unit}", 0),
                "plan target": _fmt(row.target, f" {row.unit}", 0) + ("+" if row.at_least else ""),
                "measured (python reference)": measured.get(row.id, "-"),
                "measured (Go/Rust)": alt.get(row.id, NOT_MEASURED),
            }
        )
    return pl.DataFrame(rows)


def routing_table(
    claims: Claims,
    routing: LoadResult | None,
    *,
    alternative: LoadResult | None = None,
) -> pl.DataFrame:
    """Table 2's "API Routing" row (45 ms -> 15 ms) with the measured routing latency.

    The measured figure is the ``routing`` endpoint (``GET /v1/graph/info`` through the
    gateway: authentication, rate limit, one proxy hop, a trivial backend answer): mean,
    p50 and p99 over the run, at the run's user count.
    """
    row = claims.tables["response_time"].row("api_routing")

    def figs(r: LoadResult | None) -> str:
        if r is None:
            return NOT_MEASURED
        e: Mapping[str, Any] | None = next(
            (x for x in r.endpoints if x["name"] == ROUTING_ENDPOINT), None
        )
        if e is None:
            return NOT_MEASURED
        return (
            f"mean {e['mean'] * 1e3:.1f} ms, p50 {e['p50'] * 1e3:.1f} ms, "
            f"p99 {e['p99'] * 1e3:.1f} ms at {r.schedule.max_users} users"
        )

    return pl.DataFrame(
        [
            {
                "service type": row.label,
                "plan current (TS)": _fmt(row.current, " ms", 0),
                "plan Go target": _fmt(row.values.get("go"), " ms", 0),
                "measured (python reference)": figs(routing) if routing else "-",
                "measured (Go/Rust)": figs(alternative) if alternative else NOT_MEASURED,
            }
        ]
    )
