"""``spec.goal`` and ``spec.trialTimeoutSeconds``: a Ray Tune stopper, and how the results show what it did.

**Goal.** The first result whose ``spec.metric`` reaches the goal (``>=`` under mode max, ``<=`` under min, unlike
Ray's dict stopper, which always means ``>=``) stops its trial as finished, and the experiment ends: Ray stops
every trial still running (they end unfinished, as under a time budget) and starts no new one. This is Katib's
``objective.goal`` and SageMaker's ``TargetObjectiveMetricValue``, checked on every reported result.

**Trial timeout.** A trial whose result says it has run ``trialTimeoutSeconds`` (Ray's ``time_total_s``: the
trial's own running time, not the time it waited for a slot; a retried or resumed trial keeps what it had run)
is stopped at that result. It ends TERMINATED, and model-based search sees it as stopped early (Optuna: PRUNED).
Ray gives a stopper nothing but results, so the limit is checked each time a trial reports: a trainable that
stops reporting is bounded only by ``timeBudgetSeconds``.

Neither needs state of its own to be told afterwards: the stopper ends a trial at the very result that crossed
the line, so that result is the trial's last one (:func:`outcomes`), in a fresh run and in a resumed one alike.
A resumed experiment whose goal was reached stays over: Ray saved its searcher finished when it stopped the rest.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ray.tune.stopper import Stopper

#: Ray's result key for a trial's running time, in seconds.
TIME_TOTAL = "time_total_s"


@dataclass(frozen=True)
class Goal:
    """``spec.goal``: the value of ``metric`` that ends the experiment, reached from the ``mode`` side."""

    metric: str
    mode: str
    value: float

    def reached(self, result: Mapping[str, Any]) -> bool:
        reported = _number(result.get(self.metric))
        if reported is None:
            return False
        return reported >= self.value if self.mode == "max" else reported <= self.value

    def describe(self) -> str:
        """``loss <= 0.1``: the condition in words."""
        return f"{self.metric} {'>=' if self.mode == 'max' else '<='} {self.value:g}"


@dataclass(frozen=True)
class TrialLimits:
    """The spec's goal and per-trial timeout; :meth:`stopper` turns them into Ray's ``Stopper``."""

    goal: Goal | None = None
    timeout_seconds: float | None = None

    @classmethod
    def from_spec(cls, *, metric: str, mode: str, goal: float | None, timeout_seconds: float | None) -> TrialLimits:
        return cls(goal=Goal(metric, mode, goal) if goal is not None else None, timeout_seconds=timeout_seconds)

    def __bool__(self) -> bool:
        return self.goal is not None or self.timeout_seconds is not None

    def timed_out(self, result: Mapping[str, Any]) -> bool:
        if self.timeout_seconds is None:
            return False
        elapsed = _number(result.get(TIME_TOTAL))
        return elapsed is not None and elapsed >= self.timeout_seconds

    def stopper(self) -> LimitStopper:
        return LimitStopper(self)


class LimitStopper(Stopper):
    """Stops a trial at the goal or its timeout; after the goal, stops the experiment (``stop_all``)."""

    def __init__(self, limits: TrialLimits) -> None:
        self.limits = limits
        #: The first trial that reached the goal.
        self.goal_reached_by: str | None = None

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        goal = self.limits.goal
        if goal is not None and goal.reached(result):
            self.goal_reached_by = self.goal_reached_by or trial_id
            return True
        return self.limits.timed_out(result)

    def stop_all(self) -> bool:
        return self.goal_reached_by is not None


@dataclass(frozen=True)
class Outcomes:
    """What the limits did in a run: the trial that reached the goal (``None``: none did) and the trials the
    timeout stopped, sorted by id."""

    goal_reached_by: str | None = None
    timed_out: tuple[str, ...] = ()


def outcomes(last_results: Iterable[Mapping[str, Any]], limits: TrialLimits) -> Outcomes:
    """Which trials the limits stopped, from each trial's last result.

    A trial whose last result reaches the goal is the one that reached it (when several did, as concurrent trials
    may within one step of Ray's loop, the earliest by its result's ``timestamp``); one whose last result is past
    the timeout was stopped by it. A goal wins over a timeout crossed by the same result, as in the stopper.
    """
    reached: list[tuple[float, str]] = []
    timed_out: list[str] = []
    for last in last_results:
        trial_id = str(last.get("trial_id", ""))
        if not trial_id:
            continue
        if limits.goal is not None and limits.goal.reached(last):
            reached.append((_number(last.get("timestamp")) or 0.0, trial_id))
        elif limits.timed_out(last):
            timed_out.append(trial_id)
    return Outcomes(goal_reached_by=min(reached)[1] if reached else None, timed_out=tuple(sorted(timed_out)))


def _number(value: Any) -> float | None:
    """A reported finite number as a float (numpy scalars included); ``True`` is not a number here."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
