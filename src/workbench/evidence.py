"""Claims joined with evidence, and a verdict for each.

``data/claims.yaml`` has an ``evidence:`` list. Each rule says which result rows speak to
which claim figure and how::

    - claim: tables.response_time.graph_queries.improvement   # any figure resolve() knows
      kind: improvement          # baseline -> candidate, compared with the claimed improvement
      notebook: graph_kernels
      case: "local_search/*"     # glob over the result's case
      metric: time
      baseline: networkx         # the interpreted implementation
      candidate: numba           # the compiled one
      what: "GraphRAG local search, interpreted vs compiled"

    - claim: services.realtime-hub.websocket_latency
      kind: target               # the candidate's value against the claimed bound
      claim_unit: ms             # the claim's unit; results are in seconds
      bound: upper               # measured must be <= target (default: from the claim)
      ...

:func:`evaluate` applies every rule to a run's results and returns one :class:`Verdict`
per matching figure. The rules, stated on the report's front page:

* **supported**: the evidence's 95% interval lies entirely at or beyond the claim.
* **contradicted**: the interval lies entirely short of the claim.
* **inconclusive**: the interval straddles the claim.
* **not measurable here**: this run has no figure the rule accepts (for example the plan's
  Go and Rust services do not exist here, or the notebook that measures it did not run).

Without repeats (n < 3) the interval is the point estimate itself, and the verdict says so.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from workbench.claims import Claims, resolve
from workbench.compare import higher_is_better
from workbench.errors import ClaimsError
from workbench.results import samples_of
from workbench.stats import median_ratio

__all__ = ["VERDICTS", "EvidenceRule", "Verdict", "evaluate", "load_rules"]

_IMPROVEMENT_KINDS = ("pct_less", "pct_more", "factor")
VERDICTS = ("supported", "contradicted", "inconclusive", "not measurable here")
# (unit in the store, unit of the claim) -> store units per claim unit. Memory: the plan's
# "MB" is read as MiB, the unit RSS is reported in.
_SCALE = {
    ("s", "ms"): 1e-3,
    ("s", "us"): 1e-6,
    ("s", "s"): 1.0,
    ("bytes", "MB"): 2.0**20,
    ("bytes", "GB"): 2.0**30,
}


@dataclass(frozen=True)
class EvidenceRule:
    """One way of measuring one claim. See the module docstring for the fields."""

    claim: str
    kind: str
    metric: str
    case: str
    candidate: str
    what: str
    notebook: str | None = None
    baseline: str | None = None
    claim_unit: str | None = None
    bound: str | None = None
    #: the measured figure is a lower bound (the test tried no more, e.g. connections held
    #: out of those attempted): falling short of the claim is then inconclusive, not a refutation
    lower_bound: bool = False

    @property
    def claim_id(self) -> str | None:
        """``<table>/<row>`` when the claim is a table cell, else None."""
        parts = self.claim.split(".")
        return f"{parts[1]}/{parts[2]}" if parts[0] == "tables" and len(parts) >= 3 else None


@dataclass(frozen=True)
class Verdict:
    """The verdict of one rule on one figure (or on nothing: ``not measurable here``)."""

    rule: EvidenceRule
    verdict: str
    claimed: float
    claimed_text: str
    measured: float | None = None
    low: float | None = None
    high: float | None = None
    provenance: str = ""
    case: str = ""
    run_id: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    n: int = 0
    explanation: str = ""
    unit: str = ""


def load_rules(claims: Claims) -> list[EvidenceRule]:
    """The ``evidence:`` rules of the claims file, validated against the claims."""
    rules = []
    for i, r in enumerate(claims.evidence):
        where = f"{claims.source}: evidence[{i}]"
        try:
            rule = EvidenceRule(**r)
        except TypeError as exc:
            raise ClaimsError(f"{where}: {exc}") from None
        if rule.kind not in ("improvement", "target"):
            raise ClaimsError(f"{where}.kind: expected improvement or target, got {rule.kind!r}")
        if rule.kind == "improvement" and not rule.baseline:
            raise ClaimsError(f"{where}.baseline: an improvement needs a baseline implementation")
        if rule.bound not in (None, "upper", "lower"):
            raise ClaimsError(f"{where}.bound: expected upper or lower, got {rule.bound!r}")
        fig = resolve(claims, rule.claim)  # raises ClaimsError naming the bad reference
        if rule.claim_unit and rule.claim_unit not in {u for _, u in _SCALE}:
            raise ClaimsError(
                f"{where}.claim_unit: unknown unit {rule.claim_unit!r}; known: "
                f"{sorted({u for _, u in _SCALE})}"
            )
        if rule.kind == "improvement" and (fig.kind or "pct_less") not in _IMPROVEMENT_KINDS:
            raise ClaimsError(
                f"{where}.claim: {rule.claim} is not an improvement "
                f"({fig.kind!r}); use kind: target"
            )
        rules.append(rule)
    return rules


def _show(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1e3:.3g} ms"
    if unit == "bytes":
        return f"{value / 2**20:,.0f} MB"
    return f"{value:,.4g} {unit}"


def _judge(low: float, high: float, claimed: float, higher_better: bool) -> str:
    """Compare an interval with the claim, where ``higher_better`` says which side meets it."""
    if higher_better:
        return (
            "supported" if low >= claimed else "contradicted" if high < claimed else "inconclusive"
        )
    return "supported" if high <= claimed else "contradicted" if low > claimed else "inconclusive"


def _improvement(rule: EvidenceRule, fig, base: Mapping, cand: Mapping) -> Verdict:
    est = median_ratio(samples_of(base), samples_of(cand))  # cand / base
    higher = higher_is_better(rule.metric, cand["unit"])
    # speed-up as the claim states it: time falls (lower better) or throughput rises
    gain = (
        (1 / est.ratio, 1 / est.high, 1 / est.low) if not higher else (est.ratio, est.low, est.high)
    )
    kind = fig.kind or "pct_less"
    if kind == "factor":
        value, low, high = gain
        text = f"{fig.value:g}x"
    elif kind == "pct_less":
        value, low, high = ((1 - 1 / g) * 100 for g in gain)
        text = f"{fig.value:g}% less"
    elif kind == "pct_more":
        value, low, high = ((g - 1) * 100 for g in gain)
        text = f"+{fig.value:g}%"
    else:
        raise ClaimsError(f"{rule.claim}: cannot judge an improvement of kind {kind!r}")
    verdict = _judge(low, high, fig.value, higher_better=True)
    n = min(est.n_a, est.n_b)
    sym = "x" if kind == "factor" else "%"
    how = f"{rule.baseline} -> {rule.candidate}: {value:.1f}{sym}"
    if est.has_interval:
        how += f" [95% CI {low:.1f} – {high:.1f}{sym}, {n} repeats each]"
    else:
        how += " (one figure each: point estimate, no interval)"
    return Verdict(
        rule,
        verdict,
        fig.value,
        text,
        value,
        low,
        high,
        n=n,
        explanation=how,
        unit="%",
        **_where(cand),
    )


def _target(rule: EvidenceRule, fig, cand: Mapping) -> Verdict:
    claim_unit = rule.claim_unit or cand["unit"]
    if claim_unit == cand["unit"]:
        scale = 1.0
    elif (cand["unit"], claim_unit) in _SCALE:
        scale = _SCALE[(cand["unit"], claim_unit)]
    else:
        return Verdict(
            rule,
            "not measurable here",
            fig.value,
            f"{fig.value:g} {claim_unit}",
            explanation=f"units do not match: the result is in {cand['unit']!r}, "
            f"the claim in {claim_unit!r}",
            **_where(cand),
        )
    claimed = fig.value * scale
    samples = samples_of(cand)
    if len(samples) >= 3 and min(samples) > 0:
        est = median_ratio([1.0] * len(samples), samples)  # bootstrap of the median itself
        value, low, high = est.ratio, est.low, est.high
    else:
        value = low = high = float(cand["value"])
    bound = (
        rule.bound
        or fig.bound
        or ("lower" if higher_is_better(rule.metric, cand["unit"]) else "upper")
    )
    verdict = _judge(low, high, claimed, higher_better=bound == "lower")
    if rule.lower_bound and verdict != "supported":
        verdict = "inconclusive"  # it held this much; whether it can hold more was not tried
    op = "<=" if bound == "upper" else ">="
    text = f"{op} {fig.value:g} {rule.claim_unit or cand['unit']}"
    how = f"{rule.candidate}: {_show(value, cand['unit'])}"
    if low != high:
        how += f" [95% CI {_show(low, cand['unit'])} – {_show(high, cand['unit'])}]"
    else:
        of = f" of {cand['n']:,} requests" if (cand["n"] or 1) > 1 else ""
        how += f" (one figure{of}: point estimate, no interval)"
    if rule.lower_bound:
        how += "; a lower bound: the test tried no more"
    return Verdict(
        rule,
        verdict,
        claimed,
        text,
        value,
        low,
        high,
        n=len(samples),
        explanation=how,
        unit=cand["unit"],
        **_where(cand),
    )


def _where(row: Mapping[str, Any]) -> dict[str, Any]:
    """Where a piece of evidence comes from: the verdict carries it to the report."""
    return {
        "provenance": row["provenance"],
        "case": row["case"],
        "run_id": row["run_id"],
        "params": json.loads(row["params"] or "{}"),
    }


def _matches(frame: pl.DataFrame, rule: EvidenceRule, implementation: str) -> list[dict]:
    out = []
    for row in frame.iter_rows(named=True):
        if row["implementation"] != implementation or row["metric"] != rule.metric:
            continue
        if rule.notebook and row["notebook"] != rule.notebook:
            continue
        # a ratio needs positive figures; a target can be met by zero (an error rate)
        ok_value = row["value"] >= 0 if rule.kind == "target" else row["value"] > 0
        if fnmatch.fnmatchcase(row["case"], rule.case) and ok_value:
            out.append(row)
    return out


def evaluate(
    claims: Claims, results: pl.DataFrame, rules: Iterable[EvidenceRule] | None = None
) -> list[Verdict]:
    """Apply every evidence rule to ``results`` (one run's rows).

    Returns one :class:`Verdict` per figure a rule accepts, and one ``not measurable here``
    verdict for each rule that accepts none.
    """
    rules = load_rules(claims) if rules is None else list(rules)
    evidence = results.filter(pl.col("provenance") != "seed")
    out: list[Verdict] = []
    for rule in rules:
        fig = resolve(claims, rule.claim)
        found: list[Verdict] = []
        for cand in _matches(evidence, rule, rule.candidate):
            if rule.kind == "target":
                found.append(_target(rule, fig, cand))
                continue
            same_case = [
                b for b in _matches(evidence, rule, rule.baseline) if b["case"] == cand["case"]
            ]
            # measured side by side with the same parameters; a lone baseline of the same
            # case stands for it when the two sides carry different parameters
            same = [b for b in same_case if b["params"] == cand["params"]]
            if not same and len(same_case) == 1:
                same = same_case
            if same:
                found.append(_improvement(rule, fig, same[0], cand))
        if not found:
            claimed_text = f"{fig.value:g}"
            found.append(
                Verdict(
                    rule,
                    "not measurable here",
                    fig.value,
                    claimed_text,
                    explanation="no figure in this run matches this rule",
                )
            )
        out.extend(found)
    return out
