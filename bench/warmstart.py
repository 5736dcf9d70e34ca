"""Warm start's effect on compute to target: kubetune's default search seeded with an earlier experiment, against
the same search started cold, in the same run, over several seeds.

    .venv/bin/python bench/warmstart.py [--quick | --smoke] [--seeds N] [--out bench/out/warmstart.json]

Per seed, on the multi-fidelity Hartmann 6-D function (:mod:`bench.search_lib.hartmann`: nothing to compute, so a
run of hundreds of trials costs only Ray's bookkeeping), three runs of kubetune's default search (TPE + ASHA)
through the real runner, each stopped when its budget of trial-iterations is spent
(:mod:`bench.search_lib.budget`):

1. ``parent`` — the earlier experiment: its own seed, a budget of ``parent_trials`` full trials;
2. ``cold``   — a new experiment, ``full_trials`` full trials;
3. ``warm``   — the same experiment with ``warmStart.from: [<parent>]``: the parent's finished trials (those ASHA
   let run to ``maxT``) seed its study.

Compute is counted in **trial-iterations** (one reported fidelity step of any trial), the parent's not included:
it was spent by an earlier experiment, which is the case warm start is for. Reported as in ``bench/search.py``
(:mod:`bench.search_lib.verdicts`): the **target** is the cold runs' median final best; **compute to target** per
seed (never reached = infinite; the lower median over seeds); the **ratio** warm / cold with a paired bootstrap
95 % interval; the best at the budget; a Wilcoxon signed-rank p-value on each. The parent's cost and how many of
its trials seeded the warm run are reported beside them.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.search_lib import verdicts  # noqa: E402
from bench.search_lib.budget import budget_hooks  # noqa: E402
from bench.search_lib.stats import lower_median, median, median_ci, ratio_ci, signed_rank_p  # noqa: E402
from bench.search_lib.strategies import CONCURRENCY, REDUCTION_FACTOR  # noqa: E402
from bench.search_lib.workloads import WORKLOADS, Workload  # noqa: E402

ROLES = ("parent", "cold", "warm")


@dataclass(frozen=True)
class Size:
    seeds: int
    max_t: int
    #: The parent's budget and the new experiment's, in full trials (times max_t trial-iterations).
    parent_trials: int
    full_trials: int


SIZES = {
    "full": Size(seeds=10, max_t=27, parent_trials=30, full_trials=20),
    "quick": Size(seeds=3, max_t=9, parent_trials=15, full_trials=10),
    "smoke": Size(seeds=1, max_t=3, parent_trials=3, full_trials=2),
}


def run(wl: Workload, *, role: str, seed: int, size: Size, root: str) -> dict[str, Any]:
    """One budgeted run of the default search (TPE + ASHA); ``warm`` is seeded with this seed's parent."""
    from kubetune.engine.running import RunOptions, run_experiment
    from kubetune.spec import load_object

    name = f"{wl.name.replace('_', '-')}-{role}-{seed}"
    budget = (size.parent_trials if role == "parent" else size.full_trials) * size.max_t
    spec: dict[str, Any] = {
        "trainable": wl.trainable,
        "metric": wl.metric,
        "mode": wl.mode,
        "searchSpace": wl.space,
        "config": wl.config(size.max_t, root),
        "search": {"algorithm": "optuna", "seed": 1000 + seed if role == "parent" else seed},
        "scheduler": {"type": "asha", "maxT": size.max_t, "gracePeriod": 1, "reductionFactor": REDUCTION_FACTOR},
        "numSamples": budget + CONCURRENCY,  # never the limit: the budget stopper is
        "maxConcurrentTrials": CONCURRENCY,
        "resourcesPerTrial": {"cpu": 1},
        "stop": {"training_iteration": size.max_t},
        "storage": {"path": root},
    }
    if role == "warm":
        spec["warmStart"] = {"from": [f"{wl.name.replace('_', '-')}-parent-{seed}"]}
    doc = {"apiVersion": "kubetune.io/v1alpha1", "kind": "TuneExperiment", "metadata": {"name": name}, "spec": spec}
    t0 = time.perf_counter()
    with budget_hooks(budget, wl.metric) as (ledger, stopper, recorder):
        summary = run_experiment(
            load_object(doc), options=RunOptions(verbose=0, callbacks=[recorder], stopper=stopper, resume=False)
        )
    best = verdicts.curve(ledger.values, wl.mode)[-1] if ledger.values else math.nan
    seeded = (summary.warm_start or {}).get("trials", 0)
    print(
        f"seed {seed} {role:<6} best {best:.4f}  iterations {len(ledger.values)}/{budget}  seeded {seeded:>3}  "
        f"{time.perf_counter() - t0:6.1f} s",
        flush=True,
    )
    return {"seed": seed, "values": ledger.values, "final_best": best, "spent": len(ledger.values), "seeded": seeded}


def judge(runs: dict[str, list[dict[str, Any]]], *, mode: str, budget: int) -> dict[str, Any]:
    """Target, compute to it and best at the budget, warm against cold (see the module doc)."""
    finals = {role: [r["final_best"] for r in runs[role]] for role in ("cold", "warm")}
    # A value at least half of the cold seeds reach: the lower median for max, the upper one for min.
    target = lower_median(finals["cold"]) if mode == "max" else float(statistics.median_high(finals["cold"]))
    compute = {
        role: [verdicts.compute_to(r["values"], target, mode) or math.inf for r in runs[role]] for role in finals
    }
    cold, warm = lower_median(compute["cold"]), lower_median(compute["warm"])
    ranked = {role: [budget + 1 if math.isinf(c) else c for c in values] for role, values in compute.items()}
    paired = len(compute["cold"]) > 1
    return {
        "target": target,
        "compute_to_target": {role: compute[role] for role in compute},
        "median_compute": {"cold": _num(cold), "warm": _num(warm)},
        "ratio_warm_to_cold": None if math.isinf(cold) or math.isinf(warm) else warm / cold,
        "ratio_ci": ratio_ci(compute["warm"], compute["cold"]) if paired else None,
        "best_at_budget": {role: median(finals[role]) for role in finals},
        "best_ci": {role: median_ci(finals[role]) for role in finals} if paired else None,
        "p_compute": signed_rank_p(ranked["warm"], ranked["cold"]) if paired else None,
        "p_best": signed_rank_p(finals["warm"], finals["cold"]) if paired else None,
        "seeded_trials": [r["seeded"] for r in runs["warm"]],
        "parent_compute": [r["spent"] for r in runs["parent"]],
    }


def _num(value: float) -> float | None:
    return None if math.isinf(value) else value


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="3 seeds, small budgets (a few minutes)")
    group.add_argument("--smoke", action="store_true", help="1 seed, tiny budgets (checks that it runs)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds (default: 10; quick 3; smoke 1)")
    parser.add_argument("--out", type=Path, default=REPO / "bench/out/warmstart.json", help="JSON output path")
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    size = SIZES[mode]
    seeds = list(range(args.seeds or size.seeds))
    wl = WORKLOADS["hartmann"]

    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    logging.getLogger("ray.tune").setLevel(logging.ERROR)
    ray.init(
        num_cpus=CONCURRENCY,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={
            "env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}
        },
    )
    runs: dict[str, list[dict[str, Any]]] = {role: [] for role in ROLES}
    with tempfile.TemporaryDirectory(prefix="kubetune-warmstart-") as tmp:
        for seed in seeds:
            # The parent first (warm needs it); cold and warm alternate so that drift in load hits neither alone.
            order = ("parent", "cold", "warm") if seed % 2 == 0 else ("parent", "warm", "cold")
            for role in order:
                runs[role].append(run(wl, role=role, seed=seed, size=size, root=tmp))
    ray.shutdown()
    report = {
        "benchmark": "warmstart",
        "mode": mode,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "workload": wl.label,
        "metric": wl.metric,
        "mode_of_metric": wl.mode,
        "size": size.__dict__,
        "seeds": len(seeds),
        "budget": size.full_trials * size.max_t,
        "runs": runs,
        "summary": judge(runs, mode=wl.mode, budget=size.full_trials * size.max_t),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    s = cast("dict[str, Any]", report["summary"])
    print(
        f"target {s['target']:.4f}: compute cold {s['median_compute']['cold']}, warm {s['median_compute']['warm']} "
        f"(ratio {s['ratio_warm_to_cold']}, 95% {s['ratio_ci']}, p {s['p_compute']}); best at budget cold "
        f"{s['best_at_budget']['cold']:.4f}, warm {s['best_at_budget']['warm']:.4f}; seeded {s['seeded_trials']}",
        flush=True,
    )
    return report


if __name__ == "__main__":
    main()
