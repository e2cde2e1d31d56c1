"""Scenario helpers for the memory notebook: leak runs with and without the detector, and
turning tables into result rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from workbench.sim.memory import PressureDetector, Workload, simulate

__all__ = [
    "detector_comparison",
    "leak_records",
    "measured_records",
    "record_all",
    "requirement_records",
    "seed_records",
    "sensitivity_records",
    "summary_records",
    "table_records",
]


def detector_comparison(
    workload: Workload,
    detector: PressureDetector,
    runtimes: Sequence[str] = ("v8", "go", "rust"),
    *,
    duration_s: float = 3600.0,
    dt_s: float = 0.01,
    seed: int = 0,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[pl.DataFrame, dict[tuple[str, bool], Any]]:
    """Run ``workload`` under each runtime without and with ``detector``.

    Returns
    -------
    (polars.DataFrame, dict)
        A summary table (``runtime, detector`` plus the summary keys) and the results keyed
        by ``(runtime, with_detector)`` for plotting.

    Examples
    --------
    >>> w = Workload(100, 10_000, 20.0, leak_bytes_per_request=500)
    >>> t, _ = detector_comparison(w, PressureDetector(200, window_s=30), ("rust",),
    ...                            duration_s=60)
    >>> t.select("runtime", "detector").rows()
    [('rust', False), ('rust', True)]
    """
    options = options or {}
    results = {}
    rows = []
    for rt in runtimes:
        for det in (None, detector):
            r = simulate(
                workload, rt, duration_s, dt_s, seed, detector=det, **dict(options.get(rt, {}))
            )
            results[(rt, det is not None)] = r
            rows.append({**r.summary(), "runtime": rt, "detector": det is not None})
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return frame.select("runtime", "detector", pl.exclude("runtime", "detector")), results


def table_records(
    table: pl.DataFrame, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Rows of :func:`~workbench.sim.memory_calibration.memory_table` as ``Recorder.record``
    keyword arguments: the simulated current and target columns (``provenance="simulated"``)
    under the claim's case name (``memory/<row>``, metric ``memory``, MB), so that the report
    can set them beside the seed's figures.

    Examples
    --------
    >>> t = pl.DataFrame({"id": ["total"], "target_runtime": ["go+rust"],
    ...                   "sim_current_mb": [1000.0], "sim_target_mb": [500.0]})
    >>> [r["implementation"] for r in table_records(t)]
    ['v8-model', 'go+rust-model']
    """
    out = []
    for row in table.iter_rows(named=True):
        case = f"memory/{row['id']}"
        p = {**dict(params or {}), "column": "simulated mean RSS"}
        out.append(dict(case=case, implementation="v8-model", metric="memory",
                        value=row["sim_current_mb"], unit="MB", provenance="simulated",
                        params=p))  # fmt: skip
        out.append(dict(case=case, implementation=f"{row['target_runtime']}-model",
                        metric="memory", value=row["sim_target_mb"], unit="MB",
                        provenance="simulated", params=p))  # fmt: skip
    return out


def record_all(recorder: Any, rows: Iterable[Mapping[str, Any]]) -> int:
    """``recorder.record(**row)`` for every row, then one flush; returns the row count."""
    n = 0
    for row in rows:
        recorder.record(**row, flush=False)
        n += 1
    recorder.flush()
    return n


def seed_records() -> list[dict[str, Any]]:
    """Table 1's seed figures as record arguments (``provenance="seed"``)."""
    from workbench.sim.memory_calibration import seed_memory_table

    out = []
    for r in seed_memory_table().iter_rows(named=True):
        case = f"memory/{r['id']}"
        out.append(dict(case=case, implementation="typescript", metric="memory",
                        value=r["current_mb"], unit="MB", provenance="seed"))  # fmt: skip
        out.append(dict(case=case, implementation=f"{r['target_runtime']}-target",
                        metric="memory", value=r["target_mb"], unit="MB",
                        provenance="seed"))  # fmt: skip
    return out


_SUMMARY_METRICS = (
    ("peak_rss_mb", "MB"), ("mean_rss_mb", "MB"), ("gc_cpu_fraction", "fraction"),
    ("p99_pause_ms", "ms"),
)  # fmt: skip


def summary_records(summary: pl.DataFrame, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A :func:`~workbench.sim.memory.summary_table` as simulated result rows (pause in s)."""
    out = []
    for r in summary.iter_rows(named=True):
        for metric, unit in _SUMMARY_METRICS:
            value, u, m = r[metric], unit, metric
            if unit == "ms":  # time is always seconds in the store
                value, u, m = value / 1e3, "s", metric.removesuffix("_ms")
            impl = f"{r['runtime']}-model"
            out.append(dict(case=f"memory/sim/{r['service']}", implementation=impl, metric=m,
                            value=value, unit=u, params=dict(params),
                            provenance="simulated"))  # fmt: skip
    return out


def requirement_records(req: pl.DataFrame, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """:func:`~workbench.sim.memory_calibration.target_requirements` as result rows."""
    return [
        dict(
            case=f"memory/{r['id']}",
            implementation=f"{r['target_runtime']}-model",
            metric="required_live_set",
            value=r["required_live_set_mb"],
            unit="MB",
            params=dict(params),
            provenance="simulated",
        )
        for r in req.iter_rows(named=True)
        if r["required_live_set_mb"] is not None
    ]


def sensitivity_records(grid: pl.DataFrame, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """:func:`~workbench.sim.memory_calibration.claim_sensitivity` as result rows."""
    return [
        dict(
            case="memory/total",
            implementation="go+rust-model",
            metric="reduction_pct",
            value=r["reduction_pct"],
            unit="%",
            provenance="simulated",
            params={
                **dict(params),
                "live_set_factor": r["live_set_factor"],
                "leak_bytes_per_request": r["leak_bytes_per_request"],
            },
        )
        for r in grid.iter_rows(named=True)
    ]


def leak_records(table: pl.DataFrame, case: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """:func:`detector_comparison`'s table as result rows (slope, OOM and detection times)."""
    out = []
    for r in table.iter_rows(named=True):
        impl = f"{r['runtime']}-model" + ("+detector" if r["detector"] else "")
        for metric, unit, key in (("rss_slope", "MB/h", "rss_slope_mb_per_h"),
                                  ("peak_rss", "MB", "peak_rss_mb"),
                                  ("time_to_oom", "s", "time_to_oom_s"),
                                  ("leak_detected_at", "s", "leak_detected_at_s")):  # fmt: skip
            if r[key] is not None:
                out.append(dict(case=case, implementation=impl, metric=metric, value=r[key],
                                unit=unit, params=dict(params),
                                provenance="simulated"))  # fmt: skip
    return out


def measured_records(measured: pl.DataFrame) -> list[dict[str, Any]]:
    """:func:`~workbench.sim.memory_measure.measure_service_rss` as measured result rows."""
    return [
        dict(
            case=f"memory/service/{r['service']}",
            implementation="python-service",
            metric="rss",
            value=r["rss_mean_mb"],
            unit="MB",
            n=r["samples"],
            max=r["rss_max_mb"],
            params={"source": r["source"]},
            provenance="measured",
        )
        for r in measured.iter_rows(named=True)
        if r["error"] is None and r["rss_mean_mb"] is not None
    ]
