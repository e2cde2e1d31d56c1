"""Small statistics for comparing repeated measurements: bootstrap intervals and the
Mann-Whitney U test, both on the raw repeats a :class:`~workbench.results.Result` keeps.

Why both: Mann-Whitney answers "are these two sets of timings from different
distributions?" without assuming normality (timings are skewed); the bootstrap interval of the
ratio of medians answers "by how much?", which is what a claim like "3x faster" is about.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["RatioEstimate", "mann_whitney_p", "median_ratio"]

_BOOTSTRAP = 2000


@dataclass(frozen=True)
class RatioEstimate:
    """``b / a`` of the medians, with a bootstrap confidence interval when repeats exist."""

    ratio: float
    low: float
    high: float
    n_a: int
    n_b: int

    @property
    def has_interval(self) -> bool:
        return self.n_a >= 3 and self.n_b >= 3


def median_ratio(
    a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95, seed: int = 0
) -> RatioEstimate:
    """Ratio of medians ``median(b) / median(a)`` with a percentile-bootstrap interval.

    With fewer than 3 repeats on either side the interval collapses to the point estimate
    (there is nothing to resample).

    Parameters
    ----------
    a, b : sequence of float
        Positive repeats of one figure in the baseline and the candidate.
    confidence : float
        Coverage of the interval, in (0, 1).
    seed : int
        Seed of the resampling, so reports are reproducible.

    Examples
    --------
    >>> est = median_ratio([1.0, 1.1, 0.9, 1.0], [2.0, 2.2, 1.8, 2.0])
    >>> round(est.ratio, 6), est.low <= est.ratio <= est.high
    (2.0, True)
    """
    xa = np.asarray(a, dtype=np.float64)
    xb = np.asarray(b, dtype=np.float64)
    if xa.size == 0 or xb.size == 0:
        raise ValueError("median_ratio needs at least one value on each side")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if (
        np.any(xa <= 0)
        or np.any(xb <= 0)
        or not (np.all(np.isfinite(xa)) and np.all(np.isfinite(xb)))
    ):
        raise ValueError("median_ratio needs positive, finite values")
    ratio = float(np.median(xb) / np.median(xa))
    if xa.size < 3 or xb.size < 3:
        return RatioEstimate(ratio, ratio, ratio, int(xa.size), int(xb.size))
    rng = np.random.default_rng(seed)
    ia = rng.integers(0, xa.size, size=(_BOOTSTRAP, xa.size))
    ib = rng.integers(0, xb.size, size=(_BOOTSTRAP, xb.size))
    ratios = np.median(xb[ib], axis=1) / np.median(xa[ia], axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return RatioEstimate(ratio, float(low), float(high), int(xa.size), int(xb.size))


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value; 1.0 when either side has fewer than 3 repeats.

    Examples
    --------
    >>> mann_whitney_p([1, 2, 3, 4, 5], [10, 11, 12, 13, 14]) < 0.05
    True
    """
    if len(a) < 3 or len(b) < 3:
        return 1.0
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
