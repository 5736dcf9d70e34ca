"""Search algorithms: spec.search → a Ray Tune searcher.

``random`` and ``grid`` use Ray's variant generator (``grid`` enumerates ``choice`` dimensions too); the
model-based searchers get the space converted by Ray itself, seeded, and are bounded by
``TuneConfig(max_concurrent_trials)`` (Ray wraps them in a ConcurrencyLimiter), without which they keep only
one trial pending and an autoscaling cluster grows one pod at a time.
"""

from __future__ import annotations

from typing import Any

from kubetune.spec import Experiment

MODEL_BASED = frozenset({"optuna", "hyperopt", "bayesopt", "bohb"})


class MissingDependency(RuntimeError):
    """The searcher's library is not installed; the message says which extra to install."""


def build_searcher(exp: Experiment) -> Any:
    """Return a Ray searcher, or ``None`` for Ray's default variant generator (random and grid)."""
    algorithm, seed = exp.algorithm, exp.spec.search.seed
    if algorithm in ("random", "grid"):
        from ray.tune.search import BasicVariantGenerator

        return BasicVariantGenerator(random_state=seed)
    try:
        if algorithm == "optuna":
            import optuna
            from ray.tune.search.optuna import OptunaSearch

            return OptunaSearch(sampler=optuna.samplers.TPESampler(seed=seed))
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
    from kubetune.spec import defaults

    if exp.spec.max_concurrent_trials is not None:
        return exp.spec.max_concurrent_trials
    if exp.algorithm in MODEL_BASED:
        return max(defaults.MIN_CONCURRENT_TRIALS, min(cluster_slots, exp.total_trials))
    return None
