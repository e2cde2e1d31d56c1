"""Matplotlib figures for the report, returned as inline SVG text."""

from __future__ import annotations

import io
import re

import matplotlib

matplotlib.use("Agg")  # the report is built headless, in CI too

import matplotlib.pyplot as plt

from workbench.claims import ClaimTable

__all__ = ["claim_table_chart", "figure_svg", "trend_svg"]

_METADATA = re.compile(r"<metadata>.*?</metadata>", re.DOTALL)
_COLOURS = {"current": "#8c8c8c", "go": "#00add8", "rust": "#b7410e", "target": "#4c72b0"}


def figure_svg(fig) -> str:
    """Serialise a figure to SVG text (fonts as paths, so it renders the same everywhere)."""
    buf = io.StringIO()
    with plt.rc_context({"svg.fonttype": "path"}):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    # inline SVG in HTML needs neither the RDF metadata block nor its namespace URLs
    return _METADATA.sub("", svg)


def claim_table_chart(table: ClaimTable) -> str:
    """Grouped bars: each row's current figure beside its targets, as the plan states them."""
    rows = [r for r in table.rows if not r.sum_of and not r.aggregate_of]
    cols = list(table.columns)
    units = {r.unit for r in rows}
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    width = 0.8 / len(cols)
    for j, col in enumerate(cols):
        xs = [i + (j - (len(cols) - 1) / 2) * width for i in range(len(rows))]
        ys = [r.values.get(col) or 0.0 for r in rows]
        ax.bar(xs, ys, width, label=table.columns[col], color=_COLOURS.get(col))
    ax.set_xticks(range(len(rows)), [r.label for r in rows], fontsize=8)
    ax.set_ylabel(units.pop() if len(units) == 1 else "value (unit per row)")
    if len(units) > 1 or any(r.better == "higher" for r in rows):
        ax.set_yscale("log")
    ax.set_title(f"{table.title} (seed figures)", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return figure_svg(fig)


def trend_svg(values: list[float]) -> str:
    """A sparkline of one figure across runs (oldest left), the latest point marked."""
    fig, ax = plt.subplots(figsize=(1.8, 0.45))
    xs = range(len(values))
    ax.plot(xs, values, color="#4c72b0", linewidth=1.2)
    ax.plot([len(values) - 1], [values[-1]], "o", color="#b3261e", markersize=3)
    ax.set_axis_off()
    return figure_svg(fig)
