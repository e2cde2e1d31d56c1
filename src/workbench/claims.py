"""The migration plan's claims as data, their consistency audit, and seed result rows.

``data/claims.yaml`` holds every number of the plan (tables 1-3, per-service targets,
phase metrics, KPIs, headline outcomes) exactly as the plan printed them. This module
loads it into typed objects (:func:`load_claims`), recomputes every derived figure and
compares the figures that describe the same quantity (:func:`audit`), and turns the
tables into ``provenance="seed"`` result rows (:func:`seed_rows`).

The audit decides nothing about which number is right; it shows each disagreement with the
numbers involved and how large it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from workbench.config import data_dir
from workbench.errors import ClaimsError

__all__ = [
    "ClaimRow",
    "ClaimTable",
    "Claims",
    "Finding",
    "Improvement",
    "audit",
    "findings_frame",
    "load_claims",
    "resolve",
    "seed_rows",
    "table_frame",
]

# Stated percentages are printed as whole numbers: a recomputed figure within half a point
# (plus float slack) is the same figure rounded.
_PCT_TOLERANCE = 0.5 + 1e-9
# Two exact figures for one quantity agree when within 1% (rounding of printed figures).
_REL_TOLERANCE = 0.01
_TARGET_COLUMNS = ("go", "rust", "target")
_SECONDS_PER = {"ms": 1e-3, "s": 1.0}


@dataclass(frozen=True)
class Improvement:
    """An improvement as the plan states it: ``value`` of ``kind``.

    ``pct_less``: (current - target) / current x 100; ``pct_more``: (target - current) /
    current x 100; ``factor``: target / current.
    """

    value: float
    kind: str

    def compute(self, current: float, target: float) -> float:
        """The improvement of this kind from ``current`` to ``target``."""
        if self.kind == "pct_less":
            return (current - target) / current * 100.0
        if self.kind == "pct_more":
            return (target - current) / current * 100.0
        if self.kind == "factor":
            return target / current
        raise ClaimsError(f"unknown improvement kind {self.kind!r}")

    def agrees(self, computed: float) -> bool:
        if self.kind == "factor":
            return abs(computed - self.value) <= _REL_TOLERANCE * abs(self.value)
        return abs(computed - self.value) <= _PCT_TOLERANCE

    def __str__(self) -> str:
        if self.kind == "factor":
            return f"{self.value:g}x"
        sign = "+" if self.kind == "pct_more" else "-"
        return f"{sign}{self.value:g}%"


@dataclass(frozen=True)
class ClaimRow:
    """One row of a projection table; ``values`` maps column key -> number (None for "—")."""

    table: str
    id: str
    label: str
    unit: str
    better: str
    values: Mapping[str, float | None]
    improvement: Improvement | None = None
    at_least: bool = False
    sum_of: tuple[str, ...] = ()
    aggregate_of: tuple[str, ...] = ()

    @property
    def claim_id(self) -> str:
        """``<table>/<row>``, the name this claim has in results and reports."""
        return f"{self.table}/{self.id}"

    @property
    def current(self) -> float | None:
        return self.values.get("current")

    @property
    def targets(self) -> dict[str, float]:
        """The target columns that have a number."""
        return {k: v for k, v in self.values.items() if k in _TARGET_COLUMNS and v is not None}

    @property
    def target(self) -> float | None:
        """The single target, or the sum of the Go and Rust targets on a total row."""
        t = self.targets
        return sum(t.values()) if t else None


@dataclass(frozen=True)
class ClaimTable:
    """One of the plan's projection tables."""

    id: str
    title: str
    columns: Mapping[str, str]
    rows: tuple[ClaimRow, ...]

    def row(self, row_id: str) -> ClaimRow:
        for r in self.rows:
            if r.id == row_id:
                return r
        raise KeyError(f"table {self.id!r} has no row {row_id!r}")


@dataclass(frozen=True)
class Claims:
    """Everything the plan claims. Built by :func:`load_claims`."""

    plan: Mapping[str, Any]
    context: Mapping[str, Mapping[str, Any]]
    services: Mapping[str, Mapping[str, Any]]
    tables: Mapping[str, ClaimTable]
    phases: tuple[Mapping[str, Any], ...]
    kpis: Mapping[str, Mapping[str, Any]]
    headlines: Mapping[str, Mapping[str, Any]]
    same_quantity: tuple[Mapping[str, Any], ...]
    source: str = ""
    #: raw evidence rules (validated by :func:`workbench.evidence.load_rules`)
    evidence: tuple[Mapping[str, Any], ...] = ()

    def rows(self) -> Iterable[ClaimRow]:
        for table in self.tables.values():
            yield from table.rows


@dataclass(frozen=True)
class Finding:
    """One result of the audit.

    ``severity`` is ``"inconsistent"`` (two figures for one quantity disagree, or a derived
    figure does not follow from its inputs), ``"note"`` (not contradictory, but ambiguous or
    described differently) or ``"ok"`` (recomputed and verified). ``numbers`` holds every
    figure involved; ``size`` is the disagreement relative to the larger figure, when one
    applies.
    """

    check: str
    severity: str
    message: str
    numbers: Mapping[str, float] = field(default_factory=dict)
    size: float | None = None

    def __str__(self) -> str:
        return f"[{self.severity}] {self.message}"


def _improvement(raw: Mapping[str, Any] | None, where: str) -> Improvement | None:
    if raw is None:
        return None
    try:
        imp = Improvement(float(raw["value"]), str(raw["kind"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ClaimsError(f"{where}: improvement needs a numeric value and a kind") from exc
    if imp.kind not in ("pct_less", "pct_more", "factor"):
        raise ClaimsError(f"{where}: unknown improvement kind {imp.kind!r}")
    return imp


def _table(table_id: str, raw: Mapping[str, Any], path: Path) -> ClaimTable:
    where = f"{path}: tables.{table_id}"
    columns = dict(raw.get("columns") or {})
    if "current" not in columns:
        raise ClaimsError(f"{where}: columns must include 'current'")
    rows = []
    for i, r in enumerate(raw.get("rows") or []):
        rwhere = f"{where}.rows[{i}]"
        if "id" not in r or "label" not in r:
            raise ClaimsError(f"{rwhere}: every row needs an id and a label")
        values: dict[str, float | None] = {}
        for col in columns:
            v = r.get(col)
            if v is not None and not isinstance(v, int | float):
                raise ClaimsError(f"{rwhere}.{col}: expected a number, got {v!r}")
            values[col] = None if v is None else float(v)
        unit = r.get("unit", raw.get("unit"))
        better = r.get("better", raw.get("better"))
        if not unit or better not in ("lower", "higher"):
            raise ClaimsError(f"{rwhere}: needs a unit and better: lower|higher")
        rows.append(
            ClaimRow(
                table=table_id,
                id=str(r["id"]),
                label=str(r["label"]),
                unit=str(unit),
                better=str(better),
                values=values,
                improvement=_improvement(r.get("improvement"), rwhere),
                at_least=bool(r.get("at_least", False)),
                sum_of=tuple(r.get("sum_of") or ()),
                aggregate_of=tuple(r.get("aggregate_of") or ()),
            )
        )
    return ClaimTable(
        id=table_id, title=str(raw.get("title", table_id)), columns=columns, rows=tuple(rows)
    )


def load_claims(path: str | Path | None = None) -> Claims:
    """Load the plan's claims from ``data/claims.yaml`` (or ``path``).

    Raises
    ------
    ClaimsError
        The file is missing or malformed; the message names the file and key.

    Examples
    --------
    >>> claims = load_claims()
    >>> claims.tables["memory"].row("total").current
    1050.0
    """
    path = Path(path) if path is not None else data_dir() / "claims.yaml"
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ClaimsError(f"{path}: cannot read claims: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ClaimsError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or "tables" not in raw:
        raise ClaimsError(f"{path}: expected a mapping with a 'tables' key")
    tables = {tid: _table(tid, t, path) for tid, t in raw["tables"].items()}
    return Claims(
        plan=raw.get("plan") or {},
        context={c["id"]: c for c in raw.get("context") or []},
        services={s["id"]: s for s in raw.get("services") or []},
        tables=tables,
        phases=tuple(raw.get("phases") or ()),
        kpis={k["id"]: k for k in raw.get("kpis") or []},
        headlines={h["id"]: h for h in raw.get("headlines") or []},
        same_quantity=tuple(raw.get("same_quantity") or ()),
        source=str(path),
        evidence=tuple(raw.get("evidence") or ()),
    )


@dataclass(frozen=True)
class _Figure:
    """A resolved reference: a number, and whether the plan gave it as a bound."""

    value: float
    label: str
    bound: str | None = None  # "upper" (< x), "lower" (>= x) or None (exact)
    kind: str | None = None


def resolve(claims: Claims, ref: str) -> _Figure:
    """Resolve a dotted reference such as ``tables.memory.total.current`` to its figure.

    Table rows also offer ``improvement`` (as stated), ``target_sum`` (Go + Rust) and
    ``speedup`` (current / target).
    """
    parts = ref.split(".")
    head = parts[0]
    try:
        if head == "tables":
            row = claims.tables[parts[1]].row(parts[2])
            attr = parts[3]
            label = f"{claims.tables[parts[1]].title}, {row.label}, {attr}"
            if attr == "improvement":
                if row.improvement is None:
                    raise KeyError(attr)
                return _Figure(row.improvement.value, label, kind=row.improvement.kind)
            if attr == "target_sum":
                return _Figure(float(row.target), label)
            if attr == "speedup":
                return _Figure(row.current / row.target, label, kind="factor")
            value = row.values[attr]
            if value is None:
                raise KeyError(attr)
            return _Figure(
                value, label, bound="lower" if row.at_least and attr != "current" else None
            )
        if head == "services":
            svc = claims.services[parts[1]]
            for fig in svc.get("figures", []):
                if fig["metric"] == parts[2]:
                    # "3x faster" is a factor, "50% lower" a reduction
                    unit_kind = {"x": "factor", "%": "pct_less"}.get(fig.get("unit"))
                    return _Figure(
                        float(fig["value"]),
                        f"{svc['id']} target: {svc['target']}",
                        bound=fig.get("bound"),
                        kind=fig.get("kind", unit_kind),
                    )
            raise KeyError(parts[2])
        if head == "context":
            c = claims.context[parts[1]]
            return _Figure(
                float(c["value"]), c["label"], bound="lower" if c.get("at_least") else None
            )
        if head == "headlines":
            h = claims.headlines[parts[1]]
            # "61% faster responses" means 61% less time: judge it as a reduction
            kind = {"pct_less_time": "pct_less"}.get(h.get("kind"), h.get("kind"))
            return _Figure(float(h["value"]), f"headline: {h['text']}", kind=kind)
        if head == "kpis":
            k = claims.kpis[parts[1]]
            return _Figure(float(k["target"]), f"KPI {k['label']}", bound=k.get("bound"))
        if head == "phases":
            phase = next(p for p in claims.phases if str(p["phase"]) == parts[1])
            m = next(m for m in phase["metrics"] if m["id"] == parts[2])
            return _Figure(
                float(m["value"]),
                f"phase {parts[1]}: {m['text']}",
                bound=m.get("bound"),
                kind=m.get("kind"),
            )
    except (KeyError, IndexError, StopIteration, TypeError):
        pass
    raise ClaimsError(f"{claims.source}: reference {ref!r} does not name a figure")


def _rel(a: float, b: float) -> float:
    big = max(abs(a), abs(b))
    return 0.0 if big == 0 else abs(a - b) / big


def _audit_rows(claims: Claims) -> list[Finding]:
    out: list[Finding] = []
    for row in claims.rows():
        if row.improvement is None or row.current is None or row.target is None:
            continue
        computed = row.improvement.compute(row.current, row.target)
        nums = {
            "current": row.current,
            **row.targets,
            "stated": row.improvement.value,
            "computed": round(computed, 3),
        }
        what = f"{claims.tables[row.table].title}, {row.label}"
        shown = f"{computed:.2f}x" if row.improvement.kind == "factor" else f"{computed:.1f}%"
        if row.improvement.agrees(computed):
            out.append(
                Finding(
                    "improvement",
                    "ok",
                    f"{what}: stated {row.improvement} recomputes as {shown}",
                    nums,
                )
            )
        else:
            out.append(
                Finding(
                    "improvement",
                    "inconsistent",
                    f"{what}: stated improvement {row.improvement} but {row.current:g} -> "
                    f"{row.target:g} {row.unit} is {shown}",
                    nums,
                    _rel(computed, row.improvement.value),
                )
            )
    return out


def _audit_totals(claims: Claims) -> list[Finding]:
    out: list[Finding] = []
    for table in claims.tables.values():
        for row in table.rows:
            if row.sum_of:
                parts = [table.row(r) for r in row.sum_of]
                for col, stated in row.values.items():
                    if stated is None:
                        continue
                    total = sum(p.values.get(col) or 0.0 for p in parts)
                    label = table.columns.get(col, col)
                    nums = {"stated": stated, "sum": total}
                    if _rel(total, stated) <= _REL_TOLERANCE:
                        out.append(
                            Finding(
                                "total",
                                "ok",
                                f"{table.title}, {row.label}, "
                                f"{label}: {stated:g} is the sum of the rows",
                                nums,
                            )
                        )
                    else:
                        out.append(
                            Finding(
                                "total",
                                "inconsistent",
                                f"{table.title}, {row.label}, {label}: stated {stated:g} "
                                f"{row.unit} but the rows sum to {total:g}",
                                nums,
                                _rel(total, stated),
                            )
                        )
            if row.aggregate_of:
                parts = [table.row(r) for r in row.aggregate_of]
                for col, stated in row.values.items():
                    if stated is None:
                        continue
                    vals = [p.values.get(col) for p in parts]
                    if col != "current":
                        # targets of the parts sit in different columns (Go or Rust)
                        vals = [p.target for p in parts]
                    vals = [v for v in vals if v is not None]
                    total, mean = sum(vals), sum(vals) / len(vals)
                    label = table.columns.get(col, col)
                    nums = {"stated": stated, "sum": total, "mean": mean}
                    if min(_rel(total, stated), _rel(mean, stated)) <= _REL_TOLERANCE:
                        out.append(
                            Finding(
                                "aggregate",
                                "ok",
                                f"{table.title}, {row.label}, {label} follows from the rows",
                                nums,
                            )
                        )
                    else:
                        out.append(
                            Finding(
                                "aggregate",
                                "inconsistent",
                                f"{table.title}, {row.label}, {label}: {stated:g} {row.unit} is "
                                f"neither the sum ({total:g}) nor the mean ({mean:g}) of the rows "
                                "above it, so it cannot be derived from them",
                                nums,
                                min(_rel(total, stated), _rel(mean, stated)),
                            )
                        )
    return out


def _compare(claims: Claims, pair: Mapping[str, Any]) -> Finding:
    a, b = resolve(claims, pair["a"]), resolve(claims, pair["b"])
    what = pair.get("what", "the same quantity")
    nums = {a.label: a.value, b.label: b.value}
    if a.bound is None and b.bound is None:
        rel = _rel(a.value, b.value)
        if rel <= _REL_TOLERANCE:
            return Finding(
                "same_quantity",
                "ok",
                f"{what}: {a.label} and {b.label} agree ({a.value:g})",
                nums,
                rel,
            )
        return Finding(
            "same_quantity",
            "inconsistent",
            f"{what}: {a.label} says {a.value:g}, {b.label} says {b.value:g} ({rel:.0%} apart)",
            nums,
            rel,
        )
    # one side (or both) is a bound: a contradiction only if the exact figure violates it
    exact, bound = (a, b) if b.bound is not None else (b, a)
    ok = exact.value < bound.value if bound.bound == "upper" else exact.value >= bound.value
    op = "<" if bound.bound == "upper" else ">="
    rel = _rel(exact.value, bound.value)
    if not ok:
        return Finding(
            "same_quantity",
            "inconsistent",
            f"{what}: {exact.label} gives {exact.value:g}, which breaks "
            f"{bound.label} ({op} {bound.value:g})",
            nums,
            rel,
        )
    if rel > 0.10:
        return Finding(
            "same_quantity",
            "note",
            f"{what}: {exact.label} gives {exact.value:g}, {bound.label} asks "
            f"{op} {bound.value:g}: compatible, but not the same figure "
            f"({rel:.0%} apart)",
            nums,
            rel,
        )
    return Finding(
        "same_quantity",
        "ok",
        f"{what}: {exact.label} ({exact.value:g}) meets {bound.label} ({op} {bound.value:g})",
        nums,
        rel,
    )


def _audit_services(claims: Claims) -> list[Finding]:
    """A service target given as "X ms (P% better)" implies a baseline X / (1 - P/100);
    say which figure of the plan that baseline is."""
    out: list[Finding] = []
    known = {f"{row.claim_id} current": row.current for row in claims.rows() if row.current}
    known.update({f"context {k}": float(c["value"]) for k, c in claims.context.items()})
    for sid, svc in claims.services.items():
        for fig in svc.get("figures", []):
            imp = fig.get("improvement")
            if not imp or imp.get("kind") != "pct_less":
                continue
            baseline = fig["value"] / (1 - imp["value"] / 100.0)
            matches = {k: v for k, v in known.items() if _rel(v, baseline) <= 0.02}
            nums = {
                "target": float(fig["value"]),
                "stated_improvement": float(imp["value"]),
                "implied_baseline": round(baseline, 2),
                **matches,
            }
            where = f'{sid} target "{svc["target"]}"'
            # the target is consistent when a table row goes from this baseline to it
            same_row = [
                r
                for r in claims.rows()
                if r.current
                and r.target
                and _rel(r.current, baseline) <= 0.02
                and _rel(r.target, fig["value"]) <= _REL_TOLERANCE
            ]
            if same_row:
                out.append(
                    Finding(
                        "service_baseline",
                        "ok",
                        f"{where} matches {same_row[0].claim_id} "
                        f"({same_row[0].current:g} -> {same_row[0].target:g})",
                        nums,
                    )
                )
            elif matches:
                names = ", ".join(f"{k} ({v:g})" for k, v in matches.items())
                out.append(
                    Finding(
                        "service_baseline",
                        "note",
                        f"{where} implies a baseline of {baseline:g} {fig['unit']}:"
                        f" {names}; no table row goes from there to {fig['value']:g}",
                        nums,
                    )
                )
            else:
                out.append(
                    Finding(
                        "service_baseline",
                        "inconsistent",
                        f"{where} implies a baseline of {baseline:g} {fig['unit']}, "
                        "which no figure of the plan gives",
                        nums,
                    )
                )
    return out


def _audit_headlines(claims: Claims) -> list[Finding]:
    out: list[Finding] = []
    for h in claims.headlines.values():
        if h.get("kind") == "pct_less_time":
            p = float(h["value"])
            speed = 1 / (1 - p / 100)
            out.append(
                Finding(
                    "wording",
                    "note",
                    f'headline "{h["text"]}": a {p:g}% shorter response time is '
                    f"{speed:.2f}x the speed (+{(speed - 1) * 100:.0f}%), not 61% faster",
                    {"time_reduction_pct": p, "speedup": round(speed, 3)},
                )
            )
    return out


def audit(claims: Claims, *, include_ok: bool = False) -> list[Finding]:
    """Recompute every derived figure of the plan and compare every pair of figures that
    describe one quantity.

    Parameters
    ----------
    claims : Claims
        From :func:`load_claims`.
    include_ok : bool
        Also return the checks that passed (severity ``"ok"``).

    Returns
    -------
    list of Finding
        Inconsistencies first, then notes (and passes when asked for), each with a message
        and the numbers involved.

    Examples
    --------
    >>> findings = audit(load_claims())
    >>> any("neither the sum" in f.message for f in findings)
    True
    """
    findings = [
        *_audit_rows(claims),
        *_audit_totals(claims),
        *(_compare(claims, pair) for pair in claims.same_quantity),
        *_audit_services(claims),
        *_audit_headlines(claims),
    ]
    order = {"inconsistent": 0, "note": 1, "ok": 2}
    findings.sort(key=lambda f: order[f.severity])
    return [f for f in findings if include_ok or f.severity != "ok"]


def _store_unit(unit: str, value: float) -> tuple[float, str]:
    if unit in _SECONDS_PER:  # time is always seconds in the store
        return value * _SECONDS_PER[unit], "s"
    return value, unit


_IMPLEMENTATION = {
    "current": "typescript",
    "go": "go-target",
    "rust": "rust-target",
    "target": "target",
}


def seed_rows(claims: Claims) -> list[dict[str, Any]]:
    """The projection tables as result-row arguments for ``Recorder.record(**row)``,
    all with ``provenance="seed"`` (times converted to seconds).

    Examples
    --------
    >>> rows = seed_rows(load_claims())
    >>> next(r for r in rows if r["case"] == "response_time/overall")["value"]
    0.223
    """
    out = []
    for row in claims.rows():
        for col, value in row.values.items():
            if value is None:
                continue
            v, unit = _store_unit(row.unit, value)
            out.append(
                dict(
                    case=row.claim_id,
                    implementation=_IMPLEMENTATION.get(col, col),
                    metric=row.table,
                    value=v,
                    unit=unit,
                    provenance="seed",
                    params={"column": col, "label": row.label, "at_least": row.at_least},
                )
            )
    return out


def table_frame(table: ClaimTable):
    """One projection table as a polars DataFrame, as the plan prints it (None for "—")."""
    import polars as pl

    return pl.DataFrame(
        [
            {
                "row": r.label,
                **{table.columns[c]: r.values.get(c) for c in table.columns},
                "improvement": str(r.improvement or ""),
                "unit": r.unit,
            }
            for r in table.rows
        ]
    )


def findings_frame(findings: Iterable[Finding]):
    """Audit findings as a polars DataFrame (severity, check, message, numbers, size)."""
    import polars as pl

    return pl.DataFrame(
        [
            {
                "severity": f.severity,
                "check": f.check,
                "message": f.message,
                "numbers": ", ".join(f"{k} = {v:g}" for k, v in f.numbers.items()),
                "size_pct": None if f.size is None else round(100 * f.size, 1),
            }
            for f in findings
        ],
        schema={
            "severity": pl.String,
            "check": pl.String,
            "message": pl.String,
            "numbers": pl.String,
            "size_pct": pl.Float64,
        },
    )
