"""kubetune's Optuna searcher with several objectives, called as Ray 2.60's controller calls it (see
test_optuna_bridge.py for the protocol), and the dominance rule of the Pareto front."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from kubetune.engine.optuna_bridge import Horizon, OptunaBridge
from kubetune.reporting.dominance import dominates, non_dominated

SPACE = {"x": FloatDistribution(0.0, 1.0)}


def bridge(horizon: Horizon | None = None) -> OptunaBridge:
    return OptunaBridge(
        SPACE, metric=["accuracy", "latency_ms"], mode=["max", "min"], seed=0, horizon=horizon or Horizon()
    )


def result(step: int, **values: Any) -> dict[str, Any]:
    return {"training_iteration": step, "done": False, **values}


def test_the_study_has_one_direction_per_objective_and_ray_checks_every_objective() -> None:
    b = bridge()
    assert [d.name for d in b.study.directions] == ["MAXIMIZE", "MINIMIZE"]
    searched: Any = (b.metric, b.mode)  # lists, though Ray annotates them as one string
    assert searched == (["accuracy", "latency_ms"], ["max", "min"])  # what Ray's metric check reads
    assert b.set_search_properties("accuracy", "max", {}) is True  # Tune passes the primary objective
    with pytest.raises(ValueError, match="optimises"):
        b.set_search_properties("latency_ms", "min", {})


def test_a_trial_that_ran_its_course_is_complete_with_its_last_values() -> None:
    b = bridge()
    b.suggest("t1")
    b.on_trial_result("t1", result(1, accuracy=0.5, latency_ms=3.0))
    b.on_trial_result("t1", result(2, accuracy=0.7, latency_ms=4.0))
    b.on_trial_complete("t1", result(2, accuracy=0.7, latency_ms=4.0))  # Ray repeats the last result
    (trial,) = b.study.trials
    assert (trial.state, trial.values, trial.intermediate_values) == (TrialState.COMPLETE, [0.7, 4.0], {})


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        (result(9, accuracy=0.7), TrialState.FAIL),  # at its horizon, an objective missing from the last result
        (result(9, accuracy=math.nan, latency_ms=1.0), TrialState.FAIL),  # at its horizon, diverged
        (result(3, accuracy=0.7, latency_ms=1.0), TrialState.PRUNED),  # stopped on a new result before its horizon
    ],
)
def test_what_cannot_be_told_as_complete(last: dict[str, Any], expected: TrialState) -> None:
    b = bridge(Horizon(max_t=9))
    b.suggest("t1")
    b.on_trial_result("t1", result(1, accuracy=0.5, latency_ms=3.0))
    b.on_trial_complete("t1", last)
    (trial,) = b.study.trials
    assert trial.state == expected
    assert trial.values is None


def test_an_error_and_a_trial_without_results_fail() -> None:
    b = bridge()
    b.suggest("t1")
    b.suggest("t2")
    b.on_trial_result("t1", result(1, accuracy=0.5, latency_ms=3.0))
    b.on_trial_complete("t1", error=True)
    b.on_trial_complete("t2", None)
    assert [t.state for t in b.study.trials] == [TrialState.FAIL, TrialState.FAIL]


def test_a_trial_live_at_a_snapshot_completes_after_a_restore(tmp_path: Path) -> None:
    b = bridge()
    b.suggest("t1")
    b.on_trial_result("t1", result(1, accuracy=0.5, latency_ms=3.0))
    b.save(str(tmp_path / "state.pkl"))
    restored = bridge()
    restored.restore(str(tmp_path / "state.pkl"))
    restored.on_trial_complete("t1", result(1, accuracy=0.5, latency_ms=3.0))
    (trial,) = restored.study.trials
    assert (trial.state, trial.values) == (TrialState.COMPLETE, [0.5, 3.0])


def test_modes_must_match_metrics() -> None:
    with pytest.raises(ValueError, match="one mode per metric"):
        OptunaBridge(SPACE, metric=["a", "b"], mode=["max"])


@pytest.mark.parametrize(
    ("a", "b", "modes", "expected"),
    [
        ([0.9, 1.0], [0.8, 2.0], ["max", "min"], True),
        ([0.9, 2.0], [0.8, 1.0], ["max", "min"], False),  # a trade-off: neither dominates
        ([0.9, 1.0], [0.9, 1.0], ["max", "min"], False),  # equal: no one is better anywhere
        ([0.9, 1.0], [0.9, 1.5], ["max", "min"], True),  # as good on one, better on the other
        ([1.0, 1.0], [2.0, 2.0], ["min", "min"], True),
        ([2.0, 2.0], [1.0, 1.0], ["max", "max"], True),
    ],
)
def test_dominance(a: list[float], b: list[float], modes: list[str], expected: bool) -> None:
    assert dominates(a, b, modes) is expected


def test_the_front_keeps_trade_offs_and_ties_and_drops_the_dominated() -> None:
    points = [[0.9, 5.0], [0.7, 1.0], [0.8, 6.0], [0.9, 5.0], [0.5, 1.0], [0.95, 9.0]]
    assert non_dominated(points, ["max", "min"]) == [0, 1, 3, 5]


def test_the_incremental_front_is_the_front_of_every_point_added() -> None:
    import random

    from kubetune.reporting.dominance import Front

    rng = random.Random(7)
    for modes in (["max", "min"], ["min", "min", "max"]):
        points = [[rng.choice([0.1, 0.2, 0.3, 0.4]) for _ in modes] for _ in range(60)]
        front = Front(modes)
        for index, point in enumerate(points):
            front.add(f"t{index}", point)
            front.add(f"t{index}", [9.0] * len(modes))  # a key counts once
            expected = {f"t{i}" for i in non_dominated(points[: index + 1], modes)}
            assert set(front.keys) == expected
            assert len(front) == len(expected)
