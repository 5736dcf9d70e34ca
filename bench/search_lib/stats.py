"""The statistics of bench/search.py: medians over seeds, their bootstrap intervals, and a paired test.

Seeds are the unit: each strategy runs once per seed, and seed ``k`` of one strategy is paired with seed ``k`` of
another (the same budget, the same workload; the searchers' own randomness differs). Compute to a target can be
infinite (never reached within the budget), so medians of it are the *lower* median (``median_low``: a value that
at least half of the seeds reach) and intervals are taken without interpolating between order statistics.

* :func:`median_ci` — percentile bootstrap 95 % interval of a median (resampling seeds, fixed RNG seed).
* :func:`ratio_ci` — the same for a ratio of two medians, resampling the seed *pairs* together.
* :func:`signed_rank_p` — Wilcoxon's signed-rank test, two-sided, exact: the null distribution of the signed
  rank sum is enumerated (by dynamic programming over the ranks, so ties and any number of seeds are exact too);
  zero differences are dropped (Wilcoxon's convention).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence

import numpy as np

RESAMPLES = 4000
LEVEL = 0.95
_SEED = 20261204


def lower_median(values: Sequence[float]) -> float:
    return float(statistics.median_low(values))


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def median_ci(values: Sequence[float], *, stat: Callable[[Sequence[float]], float] = median) -> tuple[float, float]:
    """A percentile bootstrap interval of ``stat`` (the median unless told) over seeds."""
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(_SEED)
    idx = rng.integers(0, len(data), size=(RESAMPLES, len(data)))
    stats = np.array([stat(list(data[i])) for i in idx])
    return _interval(stats)


def ratio_ci(
    a: Sequence[float], b: Sequence[float], *, stat: Callable[[Sequence[float]], float] = lower_median
) -> tuple[float, float] | None:
    """A paired bootstrap interval of ``stat(a) / stat(b)``; ``None`` when ``stat(b)`` is infinite in too many
    resamples to bound the ratio (the baseline itself rarely reaches the target)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    rng = np.random.default_rng(_SEED)
    idx = rng.integers(0, len(x), size=(RESAMPLES, len(x)))
    ratios = []
    for i in idx:
        num, den = stat(list(x[i])), stat(list(y[i]))
        ratios.append(math.nan if math.isinf(den) else num / den)
    arr = np.array(ratios)
    if np.mean(np.isnan(arr)) > (1 - LEVEL) / 2:
        return None
    return _interval(np.where(np.isnan(arr), math.inf, arr))


def _interval(stats: np.ndarray) -> tuple[float, float]:
    tail = (1 - LEVEL) / 2
    return float(np.quantile(stats, tail, method="lower")), float(np.quantile(stats, 1 - tail, method="higher"))


def signed_rank_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided exact p-value of Wilcoxon's signed-rank test on the paired differences ``a - b``.

    ``inf`` entries are allowed when both sides share a finite cap (the caller replaces "never reached" by a value
    past the budget): only the ranks of the differences matter. 1.0 when every difference is zero.
    """
    diffs = [x - y for x, y in zip(a, b, strict=True) if x != y]
    if not diffs:
        return 1.0
    doubled = _doubled_ranks([abs(d) for d in diffs])
    positive = sum(r for r, d in zip(doubled, diffs, strict=True) if d > 0)
    total = sum(doubled)
    # counts[s] = number of sign assignments whose positive doubled-rank sum is s.
    counts = np.zeros(total + 1, dtype=float)
    counts[0] = 1.0
    for r in doubled:
        counts[r:] = counts[r:] + counts[: total + 1 - r].copy()
    probabilities = counts / counts.sum()
    centre = total / 2
    extreme = abs(positive - centre)
    sums = np.arange(total + 1)
    return float(min(1.0, probabilities[np.abs(sums - centre) >= extreme - 1e-9].sum()))


def _doubled_ranks(values: Sequence[float]) -> list[int]:
    """Twice the average ranks (1-based) of ``values``: integers, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + 1) + (j + 1)  # twice the mean of ranks i+1 … j+1
        i = j + 1
    return ranks
