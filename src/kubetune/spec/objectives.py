"""The rules of several objectives (``metric`` and ``mode`` as lists), checked with the other cross-field rules.

With several objectives there is no single best trial but a Pareto front: the trials no other finished trial beats
on every objective at once. What can take part:

* **Searchers**: ``optuna`` (kubetune's bridge runs a multi-objective study: TPE with one direction per objective),
  ``random`` and ``grid`` (they never read the metric). Ray's ``hyperopt``, ``bayesopt`` and ``bohb`` searchers
  optimise one scalar and are refused.
* **Schedulers**: ``fifo`` only, the default here. ASHA, HyperBand, the median rule and PBT stop or replace trials
  by comparing one value; ranking by the first objective alone would cut trials that are on the front because of
  the others, so they are refused rather than silently made single-objective.
* **``goal``** is refused: it is one threshold on one objective, and "a trial reached the goal" would end the
  search for a front on the say of one objective. ``spec.stop`` (per trial) still applies.
* **``warmStart``** is refused: seeds are read as one value per earlier trial (engine/warmstart.py), and an earlier
  experiment's objectives may not be this one's.
* ``checkpoint.scoreAttribute`` defaults to the first objective (the primary one), its order to that objective's
  mode; ``best`` in the results is the best trial by the primary objective, the front is the answer.
"""

from __future__ import annotations

from kubetune.spec.errors import FieldError
from kubetune.spec.models import Spec

#: Searchers that can run several objectives.
MULTI_OBJECTIVE_ALGORITHMS = frozenset({"optuna", "random", "grid"})
#: Schedulers that can run several objectives.
MULTI_OBJECTIVE_SCHEDULERS = frozenset({"fifo"})


def objective_errors(spec: Spec, *, algorithm: str, scheduler: str) -> list[FieldError]:
    """One mode per metric, no metric twice, and with several objectives only what can rank by several."""
    errors: list[FieldError] = []
    metrics, modes = spec.metrics, spec.modes
    if isinstance(spec.metric, list) and not isinstance(spec.mode, list) and len(metrics) > 1:
        n = len(metrics)
        errors.append(FieldError("spec.mode", f"is one mode, spec.metric has {n} entries: give a list of {n} modes"))
    elif len(modes) != len(metrics):
        errors.append(FieldError("spec.mode", f"has {_entries(len(modes))}, spec.metric has {len(metrics)}"))
    seen: set[str] = set()
    for index, metric in enumerate(metrics):
        if metric in seen:
            errors.append(FieldError(f"spec.metric[{index}]", f"{metric!r} is listed twice"))
        seen.add(metric)
    if not spec.multi_objective:
        return errors
    if algorithm not in MULTI_OBJECTIVE_ALGORITHMS:
        errors.append(
            FieldError(
                "spec.search.algorithm",
                f"{algorithm} optimises one objective, spec.metric has {len(metrics)}: use optuna (the default "
                "with several objectives), random or grid",
            )
        )
    if scheduler not in MULTI_OBJECTIVE_SCHEDULERS:
        errors.append(
            FieldError(
                "spec.scheduler.type",
                f"{scheduler} stops trials by comparing one objective, spec.metric has {len(metrics)}: it would cut "
                "trials that are on the Pareto front through the others; use fifo (the default with several "
                "objectives)",
            )
        )
    if spec.goal is not None:
        errors.append(
            FieldError(
                "spec.goal",
                "is a value of one objective; with several objectives the search looks for a Pareto front, which "
                "no one trial reaches: leave goal unset (spec.stop still stops trials)",
            )
        )
    if spec.warm_start is not None:
        errors.append(
            FieldError(
                "spec.warmStart",
                "seeds the search with one value per earlier trial; it does not support several objectives",
            )
        )
    return errors


def _entries(n: int) -> str:
    return f"{n} entry" if n == 1 else f"{n} entries"
