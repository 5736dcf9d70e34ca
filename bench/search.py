"""Search efficiency: strategies at equal compute budgets, over enough seeds to tell them apart.

    .venv/bin/python bench/search.py [--quick | --smoke] [--seeds N] [--strategies a,b] [--workloads a,b]
                                     [--out bench/out/search.json] [--plot bench/search.png]

Workloads (:mod:`bench.search_lib.workloads`): the multi-fidelity Hartmann 6-D function in two of mfpbench's
presets, a trivially cheap trainable run through kubetune's real runner so that hundreds of trials per seed cost
seconds, and two reference jobs on small real data, the bank XGBoost table and the digits ConvNet. Strategies
(:mod:`bench.search_lib.strategies`): random search with and without ASHA, kubetune's searcher with ASHA (the
default), Ray's own OptunaSearch with ASHA, HyperOpt with ASHA and BOHB through kubetune's runner, and Optuna used
directly with its successive-halving and median pruners, all at the same concurrency.

Compute is counted in **trial-iterations**: one reported epoch, boosting round or fidelity step, whichever trial it
belongs to, cut off exactly at the budget. Reported per workload and strategy, over seeds
(:mod:`bench.search_lib.verdicts`): best at the budget (median, bootstrap 95 % interval); compute to reach random
search's median final result (lower median, interval) and its ratio to random search's and to Optuna used
directly (paired bootstrap interval); Wilcoxon signed-rank p-values against both; the issue's targets for the
default. Writes JSON to ``--out`` and best-so-far curves with their bands to ``--plot``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.search_lib import verdicts  # noqa: E402
from bench.search_lib.plotting import plot  # noqa: E402
from bench.search_lib.strategies import (  # noqa: E402
    BASELINE,
    CONCURRENCY,
    RAY_STRATEGIES,
    STRATEGIES,
    default_strategy,
    run_optuna_direct,
    run_ray,
)
from bench.search_lib.workloads import WORKLOADS, Workload  # noqa: E402

#: The strategies compared where compute is dear: the baseline, random + ASHA, the default, what the default
#: replaced (Ray's OptunaSearch) and Optuna used directly.
CORE = ("random-fifo", "random-asha", "optuna-asha", "rayoptuna-asha", "optuna-direct-sha", "optuna-direct-median")


@dataclass(frozen=True)
class Plan:
    """One workload of a size: its horizon, its budget in full trials, the strategies run on it."""

    workload: str
    max_t: int
    full_trials: int
    strategies: tuple[str, ...]


@dataclass(frozen=True)
class Size:
    seeds: int
    plans: tuple[Plan, ...]


SIZES = {
    # ~2 h on 2 busy cores: every strategy where a run costs seconds, the core ones on the reference jobs; the
    # digits ConvNet gets 20 full trials (540 epochs a run), not 50 (bench/README.md).
    "full": Size(
        seeds=10,
        plans=(
            Plan("hartmann", 27, 50, STRATEGIES),
            Plan("hartmann_good", 27, 50, CORE),
            Plan("bank_xgboost", 27, 50, CORE),
            Plan("mnist_torch", 27, 20, CORE),
        ),
    ),
    # make bench-quick: a couple of minutes, the Hartmann function and the bank table only.
    "quick": Size(
        seeds=2,
        plans=(
            Plan("hartmann", 27, 20, ("random-fifo", "random-asha", "optuna-asha", "optuna-direct-sha")),
            Plan("bank_xgboost", 9, 6, ("random-fifo", "optuna-asha", "optuna-direct-sha")),
        ),
    ),
    # tests/bench: every kind of workload and strategy once, tiny (hartmann_good is hartmann's code path).
    "smoke": Size(
        seeds=1,
        plans=tuple(
            Plan(name, 3, 2, ("random-fifo", "optuna-asha", "optuna-direct-sha"))
            for name in ("hartmann", "bank_xgboost", "mnist_torch")
        ),
    ),
}


def run_workload(wl: Workload, plan: Plan, strategies: list[str], *, seeds: list[int], tmp: str) -> dict[str, Any]:
    """Every strategy on one workload, every seed; the runs, their summary and the targets."""
    data_dir = str(Path(tmp) / "no-data")  # empty: the jobs fall back to their bundled/synthetic data
    budget = plan.full_trials * plan.max_t
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in strategies}
    load_before = os.getloadavg()
    # Interleaved (seed-major, the order rotated per seed) so that drift in the machine's load and the first run's
    # warm-up do not hit one strategy only.
    for seed in seeds:
        k = seed % len(strategies)
        for strategy in strategies[k:] + strategies[:k]:
            t0 = time.perf_counter()
            kwargs: dict[str, Any] = {"seed": seed, "max_t": plan.max_t, "budget": budget, "data_dir": data_dir}
            if strategy in RAY_STRATEGIES:
                ledger = run_ray(strategy, wl, root=str(Path(tmp) / "ray"), **kwargs)
            else:
                ledger = run_optuna_direct(strategy, wl, **kwargs)
            wall = time.perf_counter() - t0
            best = verdicts.curve(ledger.values, wl.mode)[-1] if ledger.values else math.nan
            runs[strategy].append(
                {
                    "seed": seed,
                    "values": ledger.values,
                    "final_best": best,
                    "spent": len(ledger.values),
                    "trials": len(ledger.trials),
                    "wall_s": wall,
                }
            )
            print(
                f"{wl.name:<13} seed {seed} {strategy:<20} best {best:.4f}  iterations {len(ledger.values)}"
                f"/{budget}  trials {len(ledger.trials):>4}  {wall:6.1f} s",
                flush=True,
            )
    result = {
        "label": wl.label,
        "metric": wl.metric,
        "mode": wl.mode,
        "optimum": wl.optimum,
        "max_t": plan.max_t,
        "full_trials": plan.full_trials,
        "budget": budget,
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "runs": runs,
    }
    judge(result, default=default_strategy())
    return result


def judge(workload: dict[str, Any], *, default: str) -> None:
    """Add a workload's summary and the targets for ``default`` (also what ``--replot`` redoes from the runs)."""
    summary = verdicts.summarise(workload["runs"], mode=workload["mode"], budget=workload["budget"])
    workload["summary"] = summary
    in_run = default in workload["runs"]
    workload["targets"] = verdicts.targets(summary, strategy=default, mode=workload["mode"]) if in_run else None


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for dist in ("ray", "optuna", "hyperopt", "hpbandster", "torch", "xgboost", "scikit-learn", "numpy"):
        for name in (dist, f"{dist}-cpu"):  # xgboost-cpu is the CPU wheel of xgboost
            try:
                out[dist] = metadata.version(name)
                break
            except metadata.PackageNotFoundError:
                out[dist] = "missing"
    return out


def _overall(workloads: dict[str, Any]) -> dict[str, Any]:
    """The targets over all workloads: each met everywhere, and "better than Optuna directly" somewhere."""
    judged = [w["targets"] for w in workloads.values() if w["targets"] is not None]
    with_direct = [t for t in judged if "best_vs_direct" in t]
    return {
        "compute_vs_random_met_on": [n for n, w in workloads.items() if w["targets"] and
                                     w["targets"]["compute_vs_random"]["met"]],
        "compute_vs_direct_met_on": [n for n, w in workloads.items() if w["targets"] and
                                     w["targets"].get("compute_vs_direct", {}).get("met")],
        "best_not_worse_than_direct_everywhere": bool(with_direct) and all(
            t["best_vs_direct"]["not_worse"] for t in with_direct),
        "best_better_than_direct_on": [n for n, w in workloads.items() if w["targets"] and
                                       w["targets"].get("best_vs_direct", {}).get("better")],
    }  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size_group = parser.add_mutually_exclusive_group()
    size_group.add_argument("--quick", action="store_true", help="2 seeds, two workloads, small budgets (minutes)")
    size_group.add_argument("--smoke", action="store_true", help="1 seed, tiny trials and budgets (the tests)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per strategy (default: 10; quick 2; smoke 1)")
    parser.add_argument("--strategies", default=None, help="comma-separated, on every workload (default: the size's)")
    parser.add_argument("--workloads", default=None, help="comma-separated subset (default: the size's)")
    parser.add_argument("--out", type=Path, default=REPO / "bench/out/search.json", help="JSON output path")
    parser.add_argument("--plot", type=Path, default=None, help="PNG path (default: search.png beside --out)")
    parser.add_argument(
        "--replot", type=Path, default=None, help="judge and plot the runs of an earlier JSON again, running nothing"
    )
    args = parser.parse_args(argv)
    if args.replot:
        return _replot(args.replot, out=args.out, plot_path=args.plot)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    size = SIZES[mode]
    seeds = list(range(args.seeds or size.seeds))
    chosen = None if args.strategies is None else {s.strip() for s in args.strategies.split(",") if s.strip()}
    if chosen is not None and (chosen - set(STRATEGIES) or BASELINE not in chosen):
        parser.error(f"--strategies: unknown {sorted(chosen - set(STRATEGIES))} or no {BASELINE} (the baseline)")
    plans = list(size.plans)
    if args.workloads:
        wanted = [w.strip() for w in args.workloads.split(",") if w.strip()]
        if unknown := set(wanted) - set(WORKLOADS):
            parser.error(f"--workloads: unknown {sorted(unknown)}")
        plans = [p for p in plans if p.workload in wanted]
    plot_path = args.plot or (REPO / "bench/search.png" if mode == "full" else args.out.with_suffix(".png"))

    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # verbose=0 then prints nothing per experiment
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    logging.getLogger("jobs").setLevel(logging.ERROR)  # the data fallbacks' warnings, once per process
    logging.getLogger("ray.tune").setLevel(logging.ERROR)  # per-experiment chatter (stopped pending trials)
    ray.init(
        num_cpus=CONCURRENCY,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={
            "env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}
        },
    )
    import torch

    torch.set_num_threads(1)  # in-process Optuna trials: one core each, as a Ray trial gets
    report: dict[str, Any] = {
        "benchmark": "search",
        "mode": mode,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "versions": _versions(),
        "seeds": len(seeds),
        "concurrency": CONCURRENCY,
        "baseline": BASELINE,
        "default": default_strategy(),
        "load_average_before": os.getloadavg(),
        "workloads": {},
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kubetune-search-") as tmp:
        for plan in plans:
            strategies = list(plan.strategies) if chosen is None else [s for s in STRATEGIES if s in chosen]
            report["workloads"][plan.workload] = run_workload(
                WORKLOADS[plan.workload], plan, strategies, seeds=seeds, tmp=tmp
            )
    ray.shutdown()
    report["elapsed_s"] = time.perf_counter() - started
    report["load_average_after"] = os.getloadavg()
    report["overall"] = _overall(report["workloads"])
    plot(report, plot_path)
    report["plot"] = str(plot_path)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    _print_tables(report)
    print(f"\nwrote {args.out} and {plot_path} in {report['elapsed_s']:.0f} s")
    return report


def _replot(source: Path, *, out: Path, plot_path: Path | None) -> dict[str, Any]:
    """Recompute every summary, target and the plot from the runs recorded in ``source``."""
    report: dict[str, Any] = json.loads(source.read_text())
    for workload in report["workloads"].values():
        judge(workload, default=report["default"])
    report["overall"] = _overall(report["workloads"])
    target = plot_path or Path(report["plot"])
    plot(report, target)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    _print_tables(report)
    print(f"\nwrote {out} and {target} from {source}")
    return report


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _interval(ci: list[float | None] | tuple[float, float] | None, digits: int = 2) -> str:
    if ci is None:
        return "[-]"
    lo, hi = ci
    return f"[{_fmt(lo, digits)}, {'inf' if hi is None else _fmt(hi, digits)}]"


def _print_tables(report: dict[str, Any]) -> None:
    for name, w in report["workloads"].items():
        s = w["summary"]
        op = ">=" if w["mode"] == "max" else "<="
        print(f"\n{name}: budget {w['budget']} trial-iterations (max_t {w['max_t']}), target {w['metric']} {op} "
              f"{s['target']:.4f}; load average {w['load_average']['before'][0]:.1f} -> "
              f"{w['load_average']['after'][0]:.1f}")  # fmt: skip
        print(f"  {'strategy':<21} {'best (median, 95% CI)':>31} {'to target':>10} {'reached':>7} "
              f"{'x random [CI]':>22} {'p':>7} {'p best v random':>15} {'wall s':>7}")  # fmt: skip
        for strategy, row in s["rows"].items():
            vs = row["vs"].get(BASELINE)
            print(
                f"  {strategy:<21} {row['best_median']:>9.4f} {_interval(row['best_ci'], 4):>21}"
                f" {_fmt(row['compute_median'], 0):>10} {row['reached']:>3}/{len(row['finals']):<3}"
                f" {_fmt(row['compute_ratio'], 2):>6} {_interval(vs['compute_ratio_ci'] if vs else None):>15}"
                f" {_fmt(vs['compute']['p'] if vs else None, 4):>7} {_fmt(vs['best']['p'] if vs else None, 4):>15}"
                f" {row['wall_s_median']:>7.1f}"
            )
        t = w["targets"]
        if t:
            print(f"  targets for {t['strategy']}: {json.dumps(t)}")
    print(f"\noverall: {json.dumps(report['overall'])}")


if __name__ == "__main__":
    main()
