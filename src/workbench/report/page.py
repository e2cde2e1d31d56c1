"""Build ``reports/<run-id>/index.html`` from the run's metadata and results."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jinja2
import polars as pl

from workbench.claims import audit, load_claims
from workbench.report.plots import claim_table_chart
from workbench.results import read_run

__all__ = ["build_report", "format_value"]

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("workbench.report", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
)


def format_value(value: float | None, unit: str) -> str:
    """A figure for people: seconds shown in ms/us, large counts with separators.

    Examples
    --------
    >>> format_value(0.0123, "s")
    '12.3 ms'
    >>> format_value(2500, "req/s")
    '2,500 req/s'
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit == "s":
        for scale, name in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")):
            if abs(value) >= scale or name == "ns":
                return f"{value / scale:.3g} {name}"
    if abs(value) >= 1000:
        return f"{value:,.0f} {unit}"
    return f"{value:.4g} {unit}"


def _claim_tables(claims) -> list[dict[str, Any]]:
    tables = []
    for table in claims.tables.values():
        rows = []
        for row in table.rows:
            cells = []
            for col in table.columns:
                v = row.values.get(col)
                text = (
                    "—"
                    if v is None
                    else f"{v:,.0f}{'+' if row.at_least and col != 'current' else ''}"
                )
                cells.append(text)
            rows.append(
                {
                    "label": row.label,
                    "unit": row.unit,
                    "cells": cells,
                    "improvement": str(row.improvement) if row.improvement else "",
                    "claim_id": row.claim_id,
                }
            )
        tables.append(
            {
                "title": table.title,
                "columns": list(table.columns.values()),
                "rows": rows,
                "chart": claim_table_chart(table),
            }
        )
    return tables


def _results_table(frame: pl.DataFrame) -> list[dict[str, Any]]:
    rows = []
    evidence = frame.filter(pl.col("provenance") != "seed").sort(["notebook", "case", "metric"])
    for r in evidence.iter_rows(named=True):
        spread = ""
        if r["n"] and r["n"] > 1 and r["min"] is not None and r["max"] is not None:
            spread = f"{format_value(r['min'], r['unit'])} – {format_value(r['max'], r['unit'])}"
        rows.append(
            {
                "notebook": r["notebook"],
                "case": r["case"],
                "implementation": r["implementation"],
                "metric": r["metric"],
                "value": format_value(r["value"], r["unit"]),
                "n": r["n"],
                "spread": spread,
                "provenance": r["provenance"],
                "params": r["params"] or "",
            }
        )
    return rows


def build_report(run_dir: str | Path) -> Path:
    """Write ``<run_dir>/index.html``: run metadata, the claim tables and their audit, each
    executed notebook linked, and every measured or simulated figure of the run.

    Returns the path of the page. The page has no external assets: it opens offline.
    """
    run_dir = Path(run_dir)
    meta_path = run_dir / "run.json"
    meta: dict[str, Any] = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    meta.setdefault("run_id", run_dir.name)
    frame = read_run(run_dir)
    claims = load_claims()
    findings = audit(claims, include_ok=True)
    page = _ENV.get_template("index.html.j2").render(
        meta=meta,
        tables=_claim_tables(claims),
        findings=findings,
        counts={s: sum(f.severity == s for f in findings) for s in ("inconsistent", "note", "ok")},
        notebooks=meta.get("notebooks", []),
        results=_results_table(frame),
        n_results=frame.height,
        machine=meta.get("machine", {}),
        versions=meta.get("versions", {}),
        json=json,
    )
    out = run_dir / "index.html"
    tmp = out.with_suffix(".html.tmp")
    tmp.write_text(page)
    tmp.replace(out)
    return out
