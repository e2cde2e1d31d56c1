"""Compare two runs figure by figure, detect regressions beyond noise, measure the noise floor.

A figure is identified by ``(notebook, case, implementation, metric, params)``. For each
figure present in both runs, :func:`compare_runs` estimates the ratio of medians (candidate /
baseline) with a bootstrap interval and tests the repeats with Mann-Whitney U. A change is
flagged only when all three agree that it is real:

* the test rejects "same distribution" at ``alpha`` (default 0.01),
* the bootstrap interval of the ratio excludes 1,
* the change is at least ``min_change`` (default 5%) in the direction that matters,
* and it is larger than the spread of all shared figures between the two runs (when there
  are at least 10 with repeats): unchanged code on a shared machine moves together by 10-20%
  from run to run, which repeats inside one run cannot see.

Figures without repeats (n < 3 on either side) are reported as ``untested``: the workbench
never calls a single-shot difference a regression. Which direction is worse depends on the
figure: time, memory and latency are better lower; throughput, TEPS, recall and speed-ups
are better higher (:func:`higher_is_better`).

A/A mode (:func:`noise_floor`): compare two runs of the same code; every flagged figure is a
false positive, and the spread of the ratios is the noise floor per figure.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys

import polars as pl

from workbench.errors import RunError
from workbench.results import list_runs, read_run, run_dir_for, samples_of
from workbench.stats import mann_whitney_p, median_ratio

__all__ = [
    "add_compare_arguments",
    "baseline_for",
    "compare_runs",
    "higher_is_better",
    "noise_floor",
    "regression_gate",
    "run_compare",
]

KEY = ("notebook", "case", "implementation", "metric", "params")
_HIGHER_UNITS = {
    "req/s",
    "ops/s",
    "queries/s",
    "TEPS",
    "edges/s",
    "bytes/s",
    "x",
    "1/s",
    "connections",
    "users",
    "requests/s",
}
# Whole words of a metric name (split on "_") that mean more is better.
_HIGHER_WORDS = {
    "rps",
    "throughput",
    "teps",
    "qps",
    "recall",
    "speedup",
    "connections",
    "nmi",
    "modularity",
    "improvement",
    "bandwidth",
    "users",
}


def higher_is_better(metric: str, unit: str) -> bool:
    """Whether a larger value of this figure is an improvement.

    Examples
    --------
    >>> higher_is_better("time", "s"), higher_is_better("rps", "req/s")
    (False, True)
    """
    name = metric.lower()
    rate = name.endswith(("_per_s", "_per_second"))  # queries_per_s, but not time_per_step
    return unit in _HIGHER_UNITS or rate or any(w in _HIGHER_WORDS for w in name.split("_"))


def compare_runs(
    run_a: str,
    run_b: str,
    *,
    alpha: float = 0.01,
    min_change: float = 0.05,
    root=None,
) -> pl.DataFrame:
    """Compare every figure that ``run_b`` shares with baseline ``run_a``.

    Returns
    -------
    polars.DataFrame
        One row per shared figure: the key columns, ``unit``, ``a``/``b`` (medians),
        ``ratio`` (b / a) with ``low``/``high`` (95% bootstrap), ``p_value``, ``worse_pct``
        (positive = worse, in the figure's own direction) and ``flag``: ``regression``,
        ``improvement``, ``unchanged`` or ``untested`` (no repeats).
    """
    fa = read_run(run_dir_for(run_a, root) if root else run_a)
    fb = read_run(run_dir_for(run_b, root) if root else run_b)
    fa = fa.filter(pl.col("provenance") != "seed")
    fb = fb.filter(pl.col("provenance") != "seed")
    index = {tuple(r[k] for k in KEY): r for r in fa.iter_rows(named=True)}
    rows = []
    for rb in fb.iter_rows(named=True):
        ra = index.get(tuple(rb[k] for k in KEY))
        if ra is None or ra["value"] <= 0 or rb["value"] <= 0:
            continue
        sa, sb = samples_of(ra), samples_of(rb)
        est = median_ratio(sa, sb)
        rows.append(
            {
                **{k: rb[k] for k in KEY},
                "unit": rb["unit"],
                "a": _median(sa),
                "b": _median(sb),
                "ratio": est.ratio,
                "low": est.low,
                "high": est.high,
                "p_value": mann_whitney_p(sa, sb),
                "higher": higher_is_better(rb["metric"], rb["unit"]),
                "n_a": est.n_a,
                "n_b": est.n_b,
            }
        )
    floor = _between_run_floor([r["ratio"] for r in rows if min(r["n_a"], r["n_b"]) >= 3])
    for r in rows:
        worse = (1 / r["ratio"] - 1) if r["higher"] else (r["ratio"] - 1)
        r["worse_pct"] = worse * 100
        beyond_floor = abs(math.log(r["ratio"])) > floor
        if min(r["n_a"], r["n_b"]) < 3:
            r["flag"] = "untested"
        elif (
            r["p_value"] < alpha
            and (r["low"] > 1 or r["high"] < 1)
            and abs(worse) >= min_change
            and beyond_floor
        ):
            r["flag"] = "regression" if worse > 0 else "improvement"
        else:
            r["flag"] = "unchanged"
        del r["higher"]
        r["floor_pct"] = (math.exp(floor) - 1) * 100
    schema = {
        **{k: pl.String for k in KEY},
        "unit": pl.String,
        "a": pl.Float64,
        "b": pl.Float64,
        "ratio": pl.Float64,
        "low": pl.Float64,
        "high": pl.Float64,
        "p_value": pl.Float64,
        "worse_pct": pl.Float64,
        "flag": pl.String,
        "n_a": pl.Int64,
        "n_b": pl.Int64,
        "floor_pct": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


#: Fewest repeated figures from which the spread between two runs is estimated.
_MIN_FIGURES_FOR_FLOOR = 10


def _between_run_floor(ratios: list[float]) -> float:
    """Half-width, in log ratio, of the band that two runs of unchanged code spread over.

    Repeats inside one run understate the noise between runs: on a shared machine every
    figure of a later run can move by 10-20% together (frequency, neighbours). With enough
    figures, the spread of all their ratios measures that: a figure is flagged only when it
    moved more than ~2 sigma (robust: 1.4826 x MAD) plus the common drift. With few figures
    there is nothing to estimate from, and only the per-figure test applies.
    """
    if len(ratios) < _MIN_FIGURES_FOR_FLOOR:
        return 0.0
    logs = sorted(math.log(r) for r in ratios)
    med = statistics.median(logs)
    mad = statistics.median(abs(x - med) for x in logs)
    return abs(med) + 2 * 1.4826 * mad


def _median(values: list[float]) -> float:
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def _run_identity(run_id: str, root=None) -> tuple[str, str]:
    """(hostname, suite) of a run, from its run.json or its results."""
    run_dir = run_dir_for(run_id, root) if root else run_dir_for(run_id)
    meta = run_dir / "run.json"
    if meta.is_file():
        m = json.loads(meta.read_text())
        return str(m.get("machine", {}).get("hostname", "")), str(m.get("suite", ""))
    frame = read_run(run_dir).filter(pl.col("provenance") != "seed")
    if frame.height == 0:
        return "", ""
    row = frame.row(0, named=True)
    return str(json.loads(row["machine"] or "{}").get("hostname", "")), str(row["suite"])


def baseline_for(run_id: str, root=None) -> str | None:
    """The previous run of the same suite on the same machine, or None."""
    runs = list_runs(root) if root else list_runs()
    if run_id not in runs:
        raise RunError(f"no such run: {run_id}")
    me = _run_identity(run_id, root)
    for other in reversed(runs[: runs.index(run_id)]):
        if _run_identity(other, root) == me:
            return other
    return None


def regression_gate(run_id: str, pct: float, *, baseline: str | None = None, root=None) -> int:
    """Exit code for scheduled runs: 1 when a figure regressed by more than ``pct`` percent
    (beyond noise, see :func:`compare_runs`) against the baseline run, else 0."""
    base = baseline or baseline_for(run_id, root)
    if base is None:
        print(f"no baseline run for {run_id} (same suite, same machine): nothing to compare")
        return 0
    cmp = compare_runs(base, run_id, root=root)
    bad = cmp.filter((pl.col("flag") == "regression") & (pl.col("worse_pct") > pct))
    print(
        f"compared {run_id} with baseline {base}: {cmp.height} shared figures, "
        f"{bad.height} regressed by more than {pct:g}%"
    )
    for r in bad.iter_rows(named=True):
        print(
            f"  REGRESSION {r['case']} [{r['implementation']}] {r['metric']}: "
            f"{r['worse_pct']:+.1f}% (p={r['p_value']:.2g})"
        )
    return 1 if bad.height else 0


def noise_floor(run_a: str, run_b: str, root=None) -> pl.DataFrame:
    """A/A comparison of two runs of the same code: per figure, how far apart the two runs
    are (``abs_change_pct``) and the bootstrap interval's half-width; any ``flag`` other than
    unchanged/untested is a false positive of the detector."""
    cmp = compare_runs(run_a, run_b, root=root)
    return cmp.with_columns(
        ((pl.col("ratio") - 1).abs() * 100).alias("abs_change_pct"),
        (((pl.col("high") - pl.col("low")) / 2) * 100).alias("ci_halfwidth_pct"),
    ).sort("abs_change_pct", descending=True)


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", metavar="RUN_A", help="baseline run id")
    parser.add_argument("run_b", metavar="RUN_B", help="candidate run id")
    parser.add_argument("--alpha", type=float, default=0.01, help="test level (default 0.01)")
    parser.add_argument(
        "--min-change",
        type=float,
        default=5.0,
        metavar="PCT",
        help="smallest change worth flagging, in %% (default 5)",
    )
    parser.add_argument(
        "--aa",
        action="store_true",
        help="A/A mode: the two runs are the same code; report the noise floor per figure",
    )
    parser.add_argument("--all", action="store_true", help="list unchanged figures too")


def run_compare(args: argparse.Namespace) -> int:
    if args.aa:
        frame = noise_floor(args.run_a, args.run_b)
        false_pos = frame.filter(pl.col("flag").is_in(["regression", "improvement"])).height
        print(
            f"A/A {args.run_a} vs {args.run_b}: {frame.height} figures, "
            f"{false_pos} flagged (false positives)"
        )
        for r in frame.iter_rows(named=True):
            print(
                f"  {r['case']} [{r['implementation']}] {r['metric']}: "
                f"{r['abs_change_pct']:.1f}% apart, CI ±{r['ci_halfwidth_pct']:.1f}% "
                f"(n={r['n_a']}/{r['n_b']}) {r['flag']}"
            )
        return 0
    frame = compare_runs(args.run_a, args.run_b, alpha=args.alpha, min_change=args.min_change / 100)
    counts = {
        f: frame.filter(pl.col("flag") == f).height
        for f in ("regression", "improvement", "unchanged", "untested")
    }
    print(
        f"{args.run_b} vs baseline {args.run_a}: {frame.height} shared figures; "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
    )
    if frame.height and frame["floor_pct"][0] > 0:
        print(
            f"  between-run noise floor: {frame['floor_pct'][0]:.1f}% (drift plus spread of "
            "all shared figures); smaller changes are not flagged"
        )
    for r in frame.sort("worse_pct", descending=True).iter_rows(named=True):
        if r["flag"] in ("unchanged", "untested") and not args.all:
            continue
        print(
            f"  {r['flag']:11s} {r['case']} [{r['implementation']}] {r['metric']}: "
            f"{abs(r['worse_pct']):.1f}% {'worse' if r['worse_pct'] > 0 else 'better'}  "
            f"ratio {r['ratio']:.3f} "
            f"[{r['low']:.3f}, {r['high']:.3f}] p={r['p_value']:.2g}"
        )
    if frame.height == 0:
        print("  (the runs share no figures)", file=sys.stderr)
    return 0
