"""bench/search.png: best-so-far against compute, one panel per workload.

Each line is the median over seeds of the best-so-far after each trial-iteration; its band is the percentile
bootstrap 95 % interval of that median (the same statistic as the table). A workload with a known optimum (the
Hartmann function) is drawn as regret, best-so-far minus the optimum, on a log scale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.search_lib.stats import LEVEL, RESAMPLES
from bench.search_lib.strategies import RAY_STRATEGIES
from bench.search_lib.verdicts import curve

_POINTS = 120


def _bands(curves: list[list[float]], budget: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x grid, median, low and high of the bootstrap interval of the median (curves padded to the budget)."""
    xs = np.unique(np.linspace(1, budget, _POINTS).astype(int))
    data = np.array([[c[min(x, len(c)) - 1] for x in xs] for c in curves])
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(curves), size=(RESAMPLES // 4, len(curves)))
    medians = np.median(data[idx], axis=1)
    tail = (1 - LEVEL) / 2
    return xs, np.median(data, axis=0), np.quantile(medians, tail, axis=0), np.quantile(medians, 1 - tail, axis=0)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = report["workloads"]
    columns = min(2, len(workloads))
    rows = (len(workloads) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(7.2 * columns, 4.9 * rows), squeeze=False)
    for ax, w in zip(axes.flat, workloads.values(), strict=False):
        optimum = w.get("optimum")
        for strategy, rs in w["runs"].items():
            curves = [curve(r["values"], w["mode"]) for r in rs if r["values"]]
            if not curves:
                continue
            xs, med, lo, hi = _bands(curves, w["budget"])
            if optimum is not None:
                med, lo, hi = med - optimum, lo - optimum, hi - optimum
            style = "-" if strategy in RAY_STRATEGIES else "--"
            default = strategy == report.get("default")
            label = f"{strategy} (kubetune default)" if default else strategy
            (line,) = ax.plot(xs, med, style, lw=2.6 if default else 1.3, label=label)
            ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.13, lw=0)
        target = w["summary"]["target"]
        ax.axhline(target - (optimum or 0.0), color="grey", lw=0.8, ls=":", label="target (random-fifo median)")
        if optimum is not None:
            ax.set_yscale("log")
            ax.set_ylabel(f"regret: best {w['metric']} so far - optimum ({optimum})")
        else:
            finals = [r["best_min"] if w["mode"] == "max" else r["best_max"] for r in w["summary"]["rows"].values()]
            if w["mode"] == "max":
                ax.set_ylim(bottom=max(min(finals) - 0.03, 0.0))
            ax.set_ylabel(f"best {w['metric']} so far")
        ax.set_title(f"{w['label']}\n{report['seeds']} seeds, max_t {w['max_t']}, budget {w['budget']}", fontsize=10)
        ax.set_xlabel("trial-iterations, all trials (median over seeds; band: 95% CI of the median)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7.5, loc="upper right" if optimum is not None else "lower right")
    for ax in list(axes.flat)[len(workloads) :]:
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
