"""Build ``reports/<run-id>/index.html`` from the run's metadata and results.

The front page answers "which of the plan's claims hold, by how much, and how sure are we?":
every claim with its seed figure, the run's measured and simulated evidence with provenance,
and a verdict by the rules of :mod:`workbench.evidence`; then the audit of the plan's own
numbers, the history of each figure across runs and the comparison with a baseline run.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import jinja2
import polars as pl

from workbench.claims import Claims, audit, load_claims
from workbench.compare import KEY, baseline_for, compare_runs
from workbench.errors import WorkbenchError
from workbench.evidence import VERDICTS, Verdict, evaluate
from workbench.report.plots import claim_table_chart, trend_svg
from workbench.results import list_runs, read_history, read_run

__all__ = ["build_report", "format_value"]

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("workbench.report", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
)
_MAX_TRENDS = 24


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


def _verdict_view(v: Verdict) -> dict[str, Any]:
    if v.measured is None:
        measured = "—"
    elif v.rule.kind == "improvement":
        unit = "x" if v.claimed_text.endswith("x") else "%"
        measured = f"{v.measured:.1f}{unit}"
    elif v.unit == "bytes":
        measured = f"{v.measured / 2**20:,.0f} MB"
    else:
        measured = format_value(v.measured, v.unit).strip()
    return {
        "verdict": v.verdict, "slug": v.verdict.replace(" ", "-"), "what": v.rule.what,
        "claimed": v.claimed_text, "measured": measured, "provenance": v.provenance,
        "case": v.case, "explanation": v.explanation, "n": v.n,
        "params": json.dumps(dict(v.params), sort_keys=True) if v.params else "",
    }  # fmt: skip


def _claim_tables(claims: Claims, verdicts: list[Verdict]) -> list[dict[str, Any]]:
    by_claim: dict[str, list[Verdict]] = {}
    for v in verdicts:
        if v.rule.claim_id:
            by_claim.setdefault(v.rule.claim_id, []).append(v)
    tables = []
    for table in claims.tables.values():
        rows = []
        for row in table.rows:
            cells = []
            for col in table.columns:
                v = row.values.get(col)
                plus = "+" if row.at_least and col != "current" else ""
                cells.append("—" if v is None else f"{v:,.0f}{plus}")
            evidence = [_verdict_view(v) for v in by_claim.get(row.claim_id, [])]
            rows.append({
                "label": row.label, "unit": row.unit, "cells": cells,
                "improvement": str(row.improvement) if row.improvement else "",
                "claim_id": row.claim_id, "evidence": evidence,
            })  # fmt: skip
        tables.append({
            "title": table.title, "columns": list(table.columns.values()), "rows": rows,
            "chart": claim_table_chart(table),
        })  # fmt: skip
    return tables


def _verdict_counts(verdicts: list[Verdict], tables: list[dict[str, Any]]) -> dict[str, int]:
    """Verdicts by kind; a table row no rule measures counts as not measurable here."""
    counts = {k: sum(v.verdict == k for v in verdicts) for k in VERDICTS}
    counts["not measurable here"] += sum(not r["evidence"] for t in tables for r in t["rows"])
    return counts


def _results_table(frame: pl.DataFrame) -> list[dict[str, Any]]:
    rows = []
    evidence = frame.filter(pl.col("provenance") != "seed").sort(["notebook", "case", "metric"])
    for r in evidence.iter_rows(named=True):
        spread = ""
        if r["n"] and r["n"] > 1 and r["min"] is not None and r["max"] is not None:
            spread = f"{format_value(r['min'], r['unit'])} – {format_value(r['max'], r['unit'])}"
        rows.append({
            "notebook": r["notebook"], "case": r["case"], "implementation": r["implementation"],
            "metric": r["metric"], "value": format_value(r["value"], r["unit"]), "n": r["n"],
            "spread": spread, "provenance": r["provenance"], "params": r["params"] or "",
        })  # fmt: skip
    return rows


def _history(run_id: str, frame: pl.DataFrame, root: Path) -> list[dict[str, Any]]:
    """Trend of this run's repeated figures across every run up to it (same machine or not:
    the machine is printed beside each run in run.json)."""
    runs = [r for r in list_runs(root) if r <= run_id]
    if len(runs) < 2:
        return []
    history = read_history(root).filter(pl.col("run_id").is_in(runs))
    mine = frame.filter((pl.col("provenance") != "seed") & (pl.col("n") >= 3))
    out = []
    for r in mine.head(_MAX_TRENDS).iter_rows(named=True):
        match = history.filter(*(pl.col(k) == r[k] for k in KEY)).sort("run_id")
        if match.height < 2:
            continue
        values = match["value"].to_list()
        out.append({
            "case": r["case"], "implementation": r["implementation"], "metric": r["metric"],
            "runs": match.height, "latest": format_value(r["value"], r["unit"]),
            "first": format_value(values[0], r["unit"]), "svg": trend_svg(values),
        })  # fmt: skip
    return out


def _baseline(run_id: str, root: Path) -> dict[str, Any] | None:
    try:
        base = baseline_for(run_id, root)
    except WorkbenchError:
        return None
    if base is None:
        return None
    cmp = compare_runs(base, run_id, root=root)
    flagged = cmp.filter(pl.col("flag").is_in(["regression", "improvement"]))
    return {
        "run": base, "shared": cmp.height,
        "counts": dict(Counter(cmp["flag"].to_list())),
        "floor": f"{cmp['floor_pct'][0]:.0f}%" if cmp.height and cmp["floor_pct"][0] else "",
        "flagged": [
            {"flag": r["flag"], "case": r["case"], "implementation": r["implementation"],
             "metric": r["metric"], "worse_pct": f"{r['worse_pct']:+.1f}%",
             "ci": f"{r['low']:.3f} – {r['high']:.3f}", "p": f"{r['p_value']:.2g}"}
            for r in flagged.sort("worse_pct", descending=True).iter_rows(named=True)
        ],
    }  # fmt: skip


def _load_reports(run_dir: Path) -> list[str]:
    load = run_dir / "load"
    if not load.is_dir():
        return []
    return sorted(str(p.relative_to(run_dir)) for p in load.rglob("*.html"))


def build_report(run_dir: str | Path) -> Path:
    """Write ``<run_dir>/index.html``: the claims with evidence and verdicts, the audit of the
    plan's own numbers, each executed notebook linked, history and baseline comparison, and
    every measured or simulated figure of the run.

    Returns the path of the page. The page has no external assets: it opens offline.
    """
    run_dir = Path(run_dir).resolve()
    root = run_dir.parent
    meta_path = run_dir / "run.json"
    meta: dict[str, Any] = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    meta.setdefault("run_id", run_dir.name)
    frame = read_run(run_dir)
    claims = load_claims()
    findings = audit(claims, include_ok=True)
    verdicts = evaluate(claims, frame)
    tables = _claim_tables(claims, verdicts)
    page = _ENV.get_template("index.html.j2").render(
        meta=meta,
        tables=tables,
        other_verdicts=[_verdict_view(v) for v in verdicts if not v.rule.claim_id],
        verdict_counts=_verdict_counts(verdicts, tables),
        findings=findings,
        counts={s: sum(f.severity == s for f in findings) for s in ("inconsistent", "note", "ok")},
        notebooks=meta.get("notebooks", []),
        results=_results_table(frame),
        n_results=frame.height,
        history=_history(run_dir.name, frame, root),
        baseline=_baseline(run_dir.name, root),
        load_reports=_load_reports(run_dir),
        saturated=frame.filter(
            (pl.col("metric") == "generator_cpu_saturated") & (pl.col("value") >= 1)
        )["case"].to_list(),
        machine=meta.get("machine", {}),
        versions=meta.get("versions", {}),
        json=json,
    )
    out = run_dir / "index.html"
    tmp = out.with_suffix(".html.tmp")
    tmp.write_text(page)
    tmp.replace(out)
    return out
