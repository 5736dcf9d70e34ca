"""The goal and the trial timeout as rules: which result reaches them, and what a run's last results say they did."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from kubetune.engine.limits import Goal, TrialLimits, outcomes
from kubetune.engine.searching import horizon
from kubetune.spec import load_object
from tests.conftest import experiment_doc


@dataclass
class GoalCase:
    name: str
    mode: str
    reported: Any
    reached: bool


GOAL_CASES = [
    GoalCase("max at the goal", "max", 0.95, True),
    GoalCase("max above the goal", "max", 0.97, True),
    GoalCase("max below the goal", "max", 0.94, False),
    GoalCase("min at the goal", "min", 0.95, True),
    GoalCase("min below the goal", "min", 0.5, True),
    GoalCase("min above the goal", "min", 0.96, False),
    GoalCase("not reported", "max", None, False),
    GoalCase("not a number", "max", "0.99", False),
    GoalCase("a boolean is not a number", "max", True, False),
    GoalCase("nan never reaches it", "min", float("nan"), False),
]


@pytest.mark.parametrize("case", GOAL_CASES, ids=lambda c: c.name)
def test_a_goal_is_reached_from_the_side_of_its_mode(case: GoalCase) -> None:
    result = {} if case.reported is None else {"acc": case.reported}
    assert Goal("acc", case.mode, 0.95).reached(result) is case.reached


def test_the_stopper_stops_the_trial_that_reaches_the_goal_and_then_the_experiment() -> None:
    stopper = TrialLimits(goal=Goal("loss", "min", 0.1)).stopper()
    assert not stopper("a", {"loss": 0.5})
    assert not stopper.stop_all()
    assert stopper("b", {"loss": 0.1})
    assert stopper.stop_all()
    assert stopper("a", {"loss": 0.05})  # a later one is stopped too, but the first stays the one that reached it
    assert stopper.goal_reached_by == "b"


def test_the_stopper_stops_a_trial_past_its_timeout_and_leaves_the_others_running() -> None:
    stopper = TrialLimits(timeout_seconds=60).stopper()
    assert not stopper("a", {"time_total_s": 59.9})
    assert stopper("a", {"time_total_s": 60.0})
    assert not stopper.stop_all()


def test_outcomes_name_the_earliest_trial_at_the_goal_and_every_timed_out_one() -> None:
    limits = TrialLimits(goal=Goal("acc", "max", 0.9), timeout_seconds=10)
    last = [
        {"trial_id": "late", "acc": 0.95, "timestamp": 200, "time_total_s": 3},
        {"trial_id": "early", "acc": 0.91, "timestamp": 100, "time_total_s": 3},
        {"trial_id": "slow-b", "acc": 0.5, "timestamp": 50, "time_total_s": 12},
        {"trial_id": "slow-a", "acc": 0.5, "timestamp": 60, "time_total_s": 10},
        {"trial_id": "both", "acc": 0.99, "timestamp": 300, "time_total_s": 11},  # the goal wins, as in the stopper
        {"trial_id": "cut", "acc": 0.2, "timestamp": 70, "time_total_s": 1},
    ]
    ended = outcomes(last, limits)
    assert ended.goal_reached_by == "early"
    assert ended.timed_out == ("slow-a", "slow-b")


def test_without_limits_nothing_is_attributed_to_them() -> None:
    ended = outcomes([{"trial_id": "a", "acc": 1.0, "time_total_s": 1e9}], TrialLimits())
    assert ended.goal_reached_by is None
    assert ended.timed_out == ()
    assert not TrialLimits()


def test_the_search_treats_a_trial_at_the_goal_as_finished_not_pruned() -> None:
    exp = load_object(experiment_doc("h", "tests.fixtures.trainables:quadratic", mode="min", goal=0.2))
    assert horizon(exp).reached({"score": 0.1, "training_iteration": 1})
    assert not horizon(exp).reached({"score": 0.3, "training_iteration": 1})
