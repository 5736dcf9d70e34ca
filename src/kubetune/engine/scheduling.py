"""Schedulers: spec.scheduler → a Ray Tune trial scheduler.

Every scheduler is set on ``timeAttr`` (``training_iteration`` by default) explicitly: Ray's median rule and PBT
default to ``time_total_s`` with a 60 s grace, which silently does nothing on short trials. Each is Ray's own class
extended to record why it stops a trial (:mod:`kubetune.engine.verdicts`).
"""

from __future__ import annotations

from typing import Any

from kubetune.spec import Experiment, defaults
from kubetune.spec.spaces import Conditional, Dimension, Fixed, Space


def build_scheduler(exp: Experiment) -> Any:
    from ray.tune import schedulers as ray_schedulers

    from kubetune.engine import verdicts as schedulers

    s, kind = exp.spec.scheduler, exp.scheduler_type
    max_t = s.max_t or int(exp.spec.stop.get("training_iteration", defaults.MAX_T))
    reduction = s.reduction_factor or defaults.REDUCTION_FACTOR
    if kind == "fifo":
        return ray_schedulers.FIFOScheduler()
    if kind == "asha":
        return schedulers.ASHAScheduler(
            time_attr=s.time_attr,
            max_t=max_t,
            grace_period=min(s.grace_period or defaults.GRACE_PERIOD, max_t),
            reduction_factor=reduction,
            brackets=s.brackets or 1,
        )
    if kind == "hyperband":
        cls = schedulers.HyperBandForBOHB if exp.algorithm == "bohb" else schedulers.HyperBandScheduler
        return cls(time_attr=s.time_attr, max_t=max_t, reduction_factor=reduction)
    if kind == "median":
        return schedulers.MedianStoppingRule(
            time_attr=s.time_attr,
            grace_period=float(s.grace_period or defaults.GRACE_PERIOD),
            min_samples_required=s.min_samples_required or defaults.MIN_SAMPLES_REQUIRED,
        )
    if kind == "pbt":
        return schedulers.PopulationBasedTraining(
            time_attr=s.time_attr,
            perturbation_interval=s.perturbation_interval or defaults.PERTURBATION_INTERVAL,
            quantile_fraction=s.quantile_fraction or defaults.QUANTILE_FRACTION,
            resample_probability=(
                s.resample_probability if s.resample_probability is not None else defaults.RESAMPLE_PROBABILITY
            ),
            hyperparam_mutations=pbt_mutations(exp.space),
        )
    raise AssertionError(kind)  # pragma: no cover


def pbt_mutations(space: Space) -> dict[str, Any]:
    """PBT mutates within the search space itself: every non-grid dimension, nested groups kept nested."""
    out: dict[str, Any] = {}
    for key, node in space.items():
        if isinstance(node, Dimension):
            if node.kind == "choice":
                out[key] = list(node.args)
            elif node.kind != "grid":
                out[key] = node.to_ray()
        elif isinstance(node, Conditional | Fixed):
            continue  # the spec refuses a choice of groups under pbt (it would mutate one group's key alone)
        elif sub := pbt_mutations(node):
            out[key] = sub
    return out
