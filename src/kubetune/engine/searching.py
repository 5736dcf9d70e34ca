"""Search algorithms: spec.search → a Ray Tune searcher, and where its concurrency bound goes.

``random`` and ``grid`` use Ray's variant generator (``grid`` enumerates ``choice`` dimensions too). ``optuna``,
also the default when the spec names no algorithm, is kubetune's own bridge to Optuna's TPE
(:mod:`kubetune.engine.optuna_bridge`): it reports every intermediate result to the study and tells trials the
scheduler stopped early as PRUNED, which Ray's ``OptunaSearch`` does not. ``hyperopt``, ``bayesopt`` and
``bohb`` are Ray's own searchers with the space converted by Ray. Every model-based searcher is seeded and
bounded by ``TuneConfig(max_concurrent_trials)`` (Ray wraps it in a ConcurrencyLimiter), without which it keeps
only one trial pending and an autoscaling cluster grows one pod at a time.

The bound has to go to a different place for each kind: Ray wraps only a ``Searcher`` in a ConcurrencyLimiter,
and for a variant generator it logs "max_concurrent_trials will be ignored" and runs as many trials as fit, so
the generator takes the bound itself (``max_concurrent``). :func:`build_searcher` returns both halves together so
that no caller can set the bound where Ray ignores it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubetune.spec import Experiment, defaults
from kubetune.spec.spaces import has_conditionals

if TYPE_CHECKING:
    from kubetune.engine.optuna_bridge import Horizon
    from kubetune.engine.warmstart import Seeds

MODEL_BASED = frozenset({"optuna", "hyperopt", "bayesopt", "bohb"})


class MissingDependency(RuntimeError):
    """The searcher's library is not installed; the message says which extra to install."""


@dataclass(frozen=True)
class Search:
    """A searcher and the ``TuneConfig(max_concurrent_trials)`` that goes with it (``None`` when the searcher
    carries the bound itself, or when there is none)."""

    algorithm: Any
    max_concurrent_trials: int | None


def build_searcher(exp: Experiment, *, max_concurrent: int | None, seeds: Seeds | None = None) -> Search:
    """The searcher for ``exp``, bounded to ``max_concurrent`` running trials (``None``: unbounded), its model
    seeded with ``seeds`` (``spec.warmStart``, :mod:`kubetune.engine.warmstart`).

    Imported SageMaker experiments depend on the bound (MaxParallelTrainingJobs), whatever the strategy.
    """
    algorithm, seed = exp.algorithm, exp.spec.search.seed
    if algorithm in ("random", "grid"):
        from ray.tune.search import BasicVariantGenerator

        # Ray ignores max_concurrent_trials for a generator: it must hold the bound (0 means none).
        return Search(BasicVariantGenerator(random_state=seed, max_concurrent=max_concurrent or 0), None)
    searcher = _model_based(exp)
    if seeds is not None:
        from kubetune.engine import warmstart

        warmstart.seed(searcher, seeds)
    return Search(searcher, max_concurrent)


def horizon(exp: Experiment) -> Horizon:
    """When a trial of ``exp`` has run its course: the scheduler's ``max_t`` (ASHA and HyperBand stop a finished
    trial with the same STOP that prunes one), ``spec.stop`` and ``spec.goal``. ``max_t`` is worked out as
    :func:`kubetune.engine.scheduling.build_scheduler` does (a test holds the two together)."""
    from kubetune.engine.limits import Goal
    from kubetune.engine.optuna_bridge import Horizon

    s = exp.spec.scheduler
    max_t = None
    if exp.scheduler_type in ("asha", "hyperband"):
        max_t = s.max_t or int(exp.spec.stop.get("training_iteration", defaults.MAX_T))
    spec = exp.spec
    goal = Goal(spec.primary_metric, spec.primary_mode, spec.goal) if spec.goal is not None else None
    return Horizon(time_attr=s.time_attr, max_t=max_t, stop=dict(spec.stop), goal=goal)


def _model_based(exp: Experiment) -> Any:
    """A seeded model-based searcher; its library is imported first so that a missing one names the extra."""
    algorithm, seed = exp.algorithm, exp.spec.search.seed
    try:
        if algorithm == "optuna":
            from kubetune.engine import optuna_space
            from kubetune.engine.optuna_bridge import OptunaBridge

            if has_conditionals(exp.space):  # define-by-run: only the chosen group's parameters are asked
                define = functools.partial(optuna_space.suggest, space=exp.space)
                return OptunaBridge(
                    {}, metric=exp.spec.metrics, mode=exp.spec.modes, seed=seed, horizon=horizon(exp), define=define
                )
            return OptunaBridge(
                optuna_space.distributions(exp.space),
                metric=exp.spec.metrics,
                mode=exp.spec.modes,
                seed=seed,
                horizon=horizon(exp),
            )
        if algorithm == "hyperopt":
            import hyperopt  # noqa: F401 - Ray only asserts it later, with a less clear message
            from ray.tune.search.hyperopt import HyperOptSearch

            return HyperOptSearch(random_state_seed=seed)
        if algorithm == "bayesopt":
            import bayes_opt  # noqa: F401
            from ray.tune.search.bayesopt import BayesOptSearch

            return BayesOptSearch(random_state=seed if seed is not None else 42)
        if algorithm == "bohb":
            import ConfigSpace  # noqa: F401
            import hpbandster  # noqa: F401
            from ray.tune.search.bohb import TuneBOHB

            return TuneBOHB(seed=seed)
    except ImportError as e:
        raise MissingDependency(
            f"spec.search.algorithm {algorithm} needs {e.name}: pip install 'kubetune[search]'"
        ) from e
    raise AssertionError(algorithm)  # pragma: no cover - the spec's Literal is exhaustive


def max_concurrent(exp: Experiment, *, cluster_slots: int) -> int | None:
    """The concurrency bound: the spec's, else for model-based search the cluster's trial slots (at least 2)."""
    if exp.spec.max_concurrent_trials is not None:
        return exp.spec.max_concurrent_trials
    if exp.algorithm in MODEL_BASED:
        return max(defaults.MIN_CONCURRENT_TRIALS, min(cluster_slots, exp.total_trials))
    return None
