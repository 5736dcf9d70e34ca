"""How bench/search.py runs each strategy: Ray ones through kubetune's runner from a spec, Optuna used directly.

Ray strategies (``run_experiment(load_object(spec))``, ``maxConcurrentTrials`` = :data:`CONCURRENCY`):

* ``random-fifo``        — random search, no early stopping (the tutorials' setup; the baseline of every ratio);
* ``random-asha``        — random search with ASHA (grace 1, reduction 3, ``max_t``);
* ``optuna-asha``        — kubetune's searcher (``search.algorithm: optuna``, also the default) with ASHA;
* ``rayoptuna-asha``     — Ray's own ``OptunaSearch`` (the same seeded ``TPESampler``) with ASHA: what
  ``optuna`` meant before kubetune's bridge, swapped in for this strategy only (:func:`rays_optuna_search`);
* ``hyperopt-asha``      — HyperOpt's TPE through Ray with ASHA;
* ``bohb-hyperband``     — BOHB with its HyperBand (``HyperBandForBOHB``).

Optuna used directly, without Ray (the library a user would pick instead), the trainable run in-process
(:mod:`bench.search_lib.inprocess`), :data:`CONCURRENCY` trials at a time (``study.optimize(n_jobs=...)``),
``TPESampler(seed=seed)`` with Optuna's defaults (in Optuna 5 those are multivariate TPE with the constant liar):

* ``optuna-direct-sha``    — with ``SuccessiveHalvingPruner`` (Optuna's ASHA: minimum resource 1, reduction 3);
* ``optuna-direct-median`` — with ``MedianPruner``, Optuna's default pruner.

Every strategy is stopped when the budget of trial-iterations is spent (Ray: a ``Stopper`` that ends the
experiment; Optuna: ``study.stop()``); results past it (trials still in flight) are not counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from bench.search_lib.budget import Ledger, budget_hooks
from bench.search_lib.workloads import Workload

CONCURRENCY = 2
REDUCTION_FACTOR = 3
BASELINE = "random-fifo"


@dataclass(frozen=True)
class RayStrategy:
    algorithm: str
    scheduler: str
    #: Run Ray's own OptunaSearch in place of kubetune's searcher.
    rays_optuna: bool = False


RAY_STRATEGIES: dict[str, RayStrategy] = {
    "random-fifo": RayStrategy("random", "fifo"),
    "random-asha": RayStrategy("random", "asha"),
    "optuna-asha": RayStrategy("optuna", "asha"),
    "rayoptuna-asha": RayStrategy("optuna", "asha", rays_optuna=True),
    "hyperopt-asha": RayStrategy("hyperopt", "asha"),
    "bohb-hyperband": RayStrategy("bohb", "hyperband"),
}
DIRECT_STRATEGIES = ("optuna-direct-sha", "optuna-direct-median")
STRATEGIES = (*RAY_STRATEGIES, *DIRECT_STRATEGIES)


def default_strategy() -> str:
    """The strategy a spec naming none gets, in this benchmark's names."""
    from kubetune.spec import defaults

    return f"{defaults.ALGORITHM}-{defaults.SCHEDULER}"


@contextmanager
def rays_optuna_search() -> Iterator[None]:
    """kubetune's ``optuna`` as it was before its own searcher: Ray's ``OptunaSearch`` with a seeded TPE, which
    tells Optuna only each trial's last result, as COMPLETE (kubetune's searcher factory swapped for the run)."""
    from kubetune.engine import searching

    def ray_optuna_search(exp: Any) -> Any:
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        return OptunaSearch(sampler=optuna.samplers.TPESampler(seed=exp.spec.search.seed))

    original = searching._model_based
    searching._model_based = ray_optuna_search
    try:
        yield
    finally:
        searching._model_based = original


def run_ray(strategy: str, wl: Workload, *, seed: int, max_t: int, budget: int, data_dir: str, root: str) -> Ledger:
    """One budgeted run of a Ray strategy through kubetune's runner."""
    from kubetune.engine.running import RunOptions, run_experiment
    from kubetune.spec import load_object

    chosen = RAY_STRATEGIES[strategy]
    sched: dict[str, Any] = {"type": chosen.scheduler, "maxT": max_t, "reductionFactor": REDUCTION_FACTOR}
    if chosen.scheduler == "asha":
        sched["gracePeriod"] = 1
    if chosen.scheduler == "fifo":
        sched = {"type": "fifo"}
    doc = {
        "apiVersion": "kubetune.io/v1alpha1",
        "kind": "TuneExperiment",
        "metadata": {"name": f"{wl.name.replace('_', '-')}-{strategy}-{seed}"},
        "spec": {
            "trainable": wl.trainable,
            "metric": wl.metric,
            "mode": wl.mode,
            "searchSpace": wl.space,
            "config": wl.config(max_t, data_dir),
            "search": {"algorithm": chosen.algorithm, "seed": seed},
            "scheduler": sched,
            # Never the limit (every trial costs at least one iteration): the budget stopper is.
            "numSamples": budget + CONCURRENCY,
            "maxConcurrentTrials": CONCURRENCY,
            "resourcesPerTrial": {"cpu": 1},
            "stop": {"training_iteration": max_t},
            "storage": {"path": root},
        },
    }
    swap = rays_optuna_search() if chosen.rays_optuna else nullcontext()
    with swap, budget_hooks(budget, wl.metric) as (ledger, stopper, recorder):
        run_experiment(
            load_object(doc), options=RunOptions(verbose=0, callbacks=[recorder], stopper=stopper, resume=False)
        )
    return ledger


def run_optuna_direct(strategy: str, wl: Workload, *, seed: int, max_t: int, budget: int, data_dir: str) -> Ledger:
    """One budgeted run of Optuna used directly: TPE, a pruner, the trainable in-process, CONCURRENCY threads."""
    import optuna

    from bench.search_lib.inprocess import run_trial, suggest

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner: optuna.pruners.BasePruner
    if strategy == "optuna-direct-median":
        pruner = optuna.pruners.MedianPruner()
    else:
        pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=REDUCTION_FACTOR)
    study = optuna.create_study(
        direction="maximize" if wl.mode == "max" else "minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=pruner,
    )
    ledger = Ledger(budget)

    def objective(trial: optuna.Trial) -> float:
        config = {**wl.config(max_t, data_dir), **suggest(trial, wl.space)}
        last: float | None = None
        step = 0

        def report(value: float) -> bool:
            nonlocal last, step
            if not ledger.record(str(trial.number), value):
                study.stop()
                return False
            last, step = value, step + 1
            trial.report(value, step)
            return not trial.should_prune()

        run_trial(wl.trainable, config, wl.metric, report)
        if last is None or ledger.spent():
            study.stop()
        if last is None or trial.should_prune():
            raise optuna.TrialPruned()
        return last

    study.optimize(objective, n_jobs=CONCURRENCY, n_trials=budget + CONCURRENCY)
    return ledger
