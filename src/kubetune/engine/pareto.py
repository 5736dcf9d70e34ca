"""The Pareto front of an experiment with several objectives: the finished trials no other finished trial beats.

A trial *dominates* another when it is at least as good on every objective (``>=`` under max, ``<=`` under min)
and better on one. The front is the finished trials that no finished trial dominates; trials with equal values
are all kept.

Each trial enters with its **last** result's values, not a best row: with several objectives no row is "best"
on its own (one row may be better on accuracy, a later one on latency), the last result is the model the trial
ended with and the one its latest checkpoint holds, and it is what kubetune's Optuna searcher told the study
(engine/optuna_bridge.py). Only finished trials (``TERMINATED``) count: an errored or unfinished trial's last
values are not those of a model that ran its course. A trial whose last result lacks an objective, or holds a
non-finite value, is left out.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from kubetune.reporting.dominance import dominates, non_dominated

if TYPE_CHECKING:
    from kubetune.engine.results import RunSummary
    from kubetune.spec.models import Spec


__all__ = ["FrontTrial", "dominates", "front", "non_dominated", "with_front"]  # the rule: reporting.dominance


@dataclass(frozen=True)
class FrontTrial:
    """One trial on the front."""

    trial_id: str
    #: Its last result's value of each objective, keyed by metric, in the spec's order.
    values: dict[str, float]
    config: dict[str, Any]
    #: Its latest checkpoint (the one its values come from), when it saved any.
    checkpoint: str | None = None


def front(
    result_grid: Any, *, metrics: Sequence[str], modes: Sequence[str], finished: Collection[str] = ()
) -> list[FrontTrial]:
    """The front of a Ray ``ResultGrid``, best first by the first objective (see the module doc for the rules);
    ``finished`` as for :func:`kubetune.engine.results.trial_state`."""
    from kubetune.engine.results import trial_state

    candidates: list[FrontTrial] = []
    for result in result_grid:
        last: Mapping[str, Any] = result.metrics or {}
        if trial_state(result, finished=finished) != "TERMINATED":
            continue
        values = _values(last, metrics)
        if values is None:
            continue
        checkpoint = result.checkpoint
        candidates.append(
            FrontTrial(
                trial_id=str(last.get("trial_id", "")),
                values=values,
                config=_jsonable(result.config),
                checkpoint=checkpoint.path if checkpoint is not None else None,
            )
        )
    points = [[t.values[m] for m in metrics] for t in candidates]
    kept = [candidates[i] for i in non_dominated(points, modes)]
    sign = -1.0 if modes[0] == "max" else 1.0
    return sorted(kept, key=lambda t: (sign * t.values[metrics[0]], t.trial_id))


def _values(row: Mapping[str, Any], metrics: Sequence[str]) -> dict[str, float] | None:
    out: dict[str, float] = {}
    for key in metrics:
        value = row.get(key)
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
            return None
        out[key] = float(value)
    return out


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def with_front(summary: RunSummary, result_grid: Any, *, spec: Spec, finished: Collection[str] = ()) -> RunSummary:
    """``summary`` with the spec's objectives and the front of ``result_grid`` (a multi-objective experiment)."""
    metrics, modes = spec.metrics, list(spec.modes)
    objectives = [{"metric": m, "mode": d} for m, d in zip(metrics, modes, strict=True)]
    found = front(result_grid, metrics=metrics, modes=modes, finished=finished)
    return replace(summary, objectives=objectives, pareto_front=found)
