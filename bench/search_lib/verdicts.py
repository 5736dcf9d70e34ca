"""From runs to verdicts: best-so-far, compute to the target, medians with intervals, paired tests, the targets.

* **Target** of a workload: the median final best of random search (``random-fifo``), taken as a value at least
  half of its seeds reach within the budget (the lower/upper median for max/min).
* **Compute to target**: trial-iterations (all trials together) until a run's best-so-far first reaches the target;
  a seed that never does counts as infinite. Its median over seeds is the lower median (reached by at least half).
* **Ratios**: a strategy's median compute over the baseline's (random-fifo) or over Optuna used directly, with a
  paired bootstrap 95 % interval; **p-values**: Wilcoxon signed-rank over seeds (two-sided, exact), on the final
  best and on compute to target (never reached = one past the budget, so it ranks last).

The issue's targets, judged for kubetune's default strategy on each workload (:func:`targets`):

1. compute to the target ≤ 1/3 of random search's;
2. compute to the target ≤ 0.9 times Optuna used directly (its pruner with the lower median compute);
3. best at the budget not worse than Optuna used directly (neither direct variant significantly better,
   p < 0.05), and significantly better than the better direct variant on at least one workload.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from bench.search_lib.stats import lower_median, median, median_ci, ratio_ci, signed_rank_p
from bench.search_lib.strategies import BASELINE, DIRECT_STRATEGIES

#: Significance level of the paired tests.
ALPHA = 0.05


def curve(values: Sequence[float], mode: str) -> list[float]:
    """Best-so-far after each counted result."""
    out: list[float] = []
    best = -math.inf if mode == "max" else math.inf
    for v in values:
        best = max(best, v) if mode == "max" else min(best, v)
        out.append(best)
    return out


def compute_to(values: Sequence[float], target: float, mode: str) -> int | None:
    """Trial-iterations until the best-so-far first reaches ``target``; ``None`` if never within the budget."""
    for i, best in enumerate(curve(values, mode), start=1):
        if (best >= target) if mode == "max" else (best <= target):
            return i
    return None


def _finite(value: float) -> float | None:
    return None if math.isinf(value) else value


def _better(a: float, b: float, mode: str) -> bool:
    return a > b if mode == "max" else a < b


def _compare(a: Sequence[float], b: Sequence[float], *, better_high: bool) -> dict[str, Any]:
    """Paired comparison of ``a`` against ``b``: p-value and which side the seeds favour."""
    p = signed_rank_p(a, b)
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    centre = statistics.median(diffs)
    if centre == 0:
        centre = sum(1 if d > 0 else -1 if d < 0 else 0 for d in diffs)
    if p >= ALPHA or centre == 0:
        return {"p": p, "verdict": "no significant difference"}
    favours_a = centre > 0 if better_high else centre < 0
    return {"p": p, "verdict": "better" if favours_a else "worse"}


def summarise(runs: dict[str, list[dict[str, Any]]], *, mode: str, budget: int) -> dict[str, Any]:
    """Per strategy: best at budget and compute to the target (medians, intervals), ratios and paired tests
    against random search and against each Optuna-direct variant present."""
    base_finals = [r["final_best"] for r in runs[BASELINE]]
    target = statistics.median_low(base_finals) if mode == "max" else statistics.median_high(base_finals)
    capped = budget + 1  # "never reached" for the rank test: worse than any reached value
    table: dict[str, dict[str, Any]] = {}
    for strategy, rs in runs.items():
        finals = [r["final_best"] for r in rs]
        computes = [compute_to(r["values"], target, mode) for r in rs]
        as_float = [math.inf if c is None else float(c) for c in computes]
        compute_median = lower_median(as_float)
        table[strategy] = {
            "best_median": median(finals),
            "best_ci": median_ci(finals),
            "best_min": min(finals),
            "best_max": max(finals),
            "finals": finals,
            "compute_to_target": computes,
            "compute_median": _finite(compute_median),
            "compute_ci": [_finite(x) for x in median_ci(as_float, stat=lower_median)],
            "reached": sum(c is not None for c in computes),
            "wall_s_median": statistics.median(r["wall_s"] for r in rs),
            "trials_median": statistics.median(r["trials"] for r in rs),
            "_computes": as_float,
        }
    comparators = [BASELINE, *(s for s in DIRECT_STRATEGIES if s in table)]
    for strategy, row in table.items():
        row["vs"] = {}
        for other in comparators:
            if other == strategy:
                continue
            mine, theirs = row["_computes"], table[other]["_computes"]
            base = lower_median(theirs)
            ratio = None if math.isinf(base) else lower_median(mine) / base
            interval = ratio_ci(mine, theirs)
            row["vs"][other] = {
                "compute_ratio": None if ratio is None or math.isinf(ratio) else ratio,
                "compute_ratio_ci": None if interval is None else [_finite(x) for x in interval],
                "compute": _compare(
                    [min(c, capped) for c in mine], [min(c, capped) for c in theirs], better_high=False
                ),
                "best": _compare(row["finals"], table[other]["finals"], better_high=mode == "max"),
            }
    for row in table.values():
        del row["_computes"]
        baseline = row["vs"].get(BASELINE)
        row["compute_ratio"] = 1.0 if baseline is None else baseline["compute_ratio"]
    return {"target": target, "budget": budget, "rows": table}


def targets(summary: dict[str, Any], *, strategy: str, mode: str) -> dict[str, Any]:
    """The issue's three targets for ``strategy`` on one workload (see the module doc)."""
    rows = summary["rows"]
    row = rows[strategy]
    out: dict[str, Any] = {"strategy": strategy}
    ratio = row["compute_ratio"]
    out["compute_vs_random"] = {"ratio": ratio, "ci": row["vs"][BASELINE]["compute_ratio_ci"],
                                "met": ratio is not None and ratio <= 1 / 3}  # fmt: skip
    direct = [s for s in DIRECT_STRATEGIES if s in rows]
    if not direct:
        return out
    inf = math.inf
    fastest = min(direct, key=lambda s: (rows[s]["compute_median"] or inf, -_signed(rows[s]["best_median"], mode)))
    direct_ratio = _ratio(row["compute_median"], rows[fastest]["compute_median"])
    out["compute_vs_direct"] = {
        "against": fastest,
        "ratio": direct_ratio,
        "ci": row["vs"][fastest]["compute_ratio_ci"],
        "p": row["vs"][fastest]["compute"]["p"],
        "met": direct_ratio is not None and direct_ratio <= 0.9,
    }
    strongest = max(direct, key=lambda s: _signed(rows[s]["best_median"], mode))
    comparisons = {s: row["vs"][s]["best"] for s in direct}
    out["best_vs_direct"] = {
        "against": strongest,
        "p": comparisons[strongest]["p"],
        "verdict": comparisons[strongest]["verdict"],
        "not_worse": all(c["verdict"] != "worse" for c in comparisons.values()),
        "better": comparisons[strongest]["verdict"] == "better",
    }
    return out


def _ratio(mine: float | None, theirs: float | None) -> float | None:
    """Compute over compute, ``None`` standing for "never reached": 0 when only the other side never reached it,
    ``None`` when this side never did."""
    if mine is None:
        return None
    return 0.0 if theirs is None else mine / theirs


def _signed(value: float, mode: str) -> float:
    """Larger is better, whatever the mode."""
    return value if mode == "max" else -value
