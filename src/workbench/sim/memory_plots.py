"""Plots for the memory notebook (matplotlib; each returns the Axes it drew on)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

__all__ = ["plot_rss", "plot_sensitivity", "plot_table1"]

_COLORS = {"v8": "tab:orange", "go": "tab:blue", "rust": "tab:brown"}


def _axes(ax: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7, 3.5))
    return ax


def plot_rss(results: Mapping[Any, Any], ax: Any = None, title: str = "", peak: bool = True):
    """RSS over time, one line per result (keys are used as labels).

    With ``peak`` the line is the per-interval peak (``rss_peak_mb``), which keeps the GC
    sawtooth visible in a thinned trace.
    """
    ax = _axes(ax)
    for key, r in results.items():
        label = key if isinstance(key, str) else " ".join(map(str, key))
        rt = r.runtime
        col = "rss_peak_mb" if peak else "rss_mb"
        t = r.trace["t_s"].to_numpy()
        scale, unit = (3600.0, "h") if t[-1] > 7200 else (60.0, "min") if t[-1] > 600 else (1, "s")
        ax.plot(t / scale, r.trace[col].to_numpy(), label=label, color=_COLORS.get(rt), lw=0.9)
        ax.set_xlabel(f"simulated time ({unit})")
    ax.set_ylabel("RSS (MB)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def plot_table1(table: pl.DataFrame, ax: Any = None):
    """Table 1: seed vs simulated, current and target, per component (grouped bars)."""
    import numpy as np

    ax = _axes(ax)
    rows = table.filter(pl.col("id") != "total")
    x = np.arange(rows.height)
    cols = [("seed_current_mb", "seed current (TS)", "tab:orange", 0.35),
            ("sim_current_mb", "simulated V8", "tab:orange", 1.0),
            ("seed_target_mb", "seed target", "tab:blue", 0.35),
            ("sim_target_mb", "simulated target runtime", "tab:blue", 1.0)]  # fmt: skip
    width = 0.2
    for k, (col, label, color, alpha) in enumerate(cols):
        ax.bar(x + (k - 1.5) * width, rows[col].to_numpy(), width, label=label, color=color,
               alpha=alpha)  # fmt: skip
    ax.set_xticks(x, rows["label"].to_list())
    ax.set_ylabel("mean RSS (MB)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return ax


def plot_sensitivity(grid: pl.DataFrame, ax: Any = None):
    """Total memory reduction vs live-set factor, one line per leak rate, claim as a line."""
    ax = _axes(ax)
    for (leak,), g in grid.sort("live_set_factor").group_by(
        "leak_bytes_per_request", maintain_order=True
    ):
        ax.plot(g["live_set_factor"], g["reduction_pct"], marker="o",
                label=f"leak {leak:g} B/request")  # fmt: skip
    claim = float(grid["claim_pct"][0])
    ax.axhline(claim, color="k", ls="--", lw=1, label=f"claimed {claim:g}%")
    ax.set_xlabel("live set in Go/Rust relative to TypeScript")
    ax.set_ylabel("total memory reduction (%)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax
