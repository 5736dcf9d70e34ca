"""What a spec that names no search algorithm or scheduler gets (bench/README.md says why these)."""

from __future__ import annotations

from typing import Any

import pytest

from kubetune.spec import defaults, load_object
from tests.spec.test_invalid_specs import apply


def test_the_benchmarked_default_is_tpe_with_asha() -> None:
    assert (defaults.ALGORITHM, defaults.SCHEDULER) == ("optuna", "asha")
    exp = load_object(apply({}))
    assert (exp.algorithm, exp.scheduler_type) == ("optuna", "asha")


@pytest.mark.parametrize(
    ("patch", "algorithm", "scheduler"),
    [
        ({"spec.searchSpace": {"a": {"grid": [1, 2]}, "lr": {"uniform": [0, 1]}}}, "random", "asha"),
        ({"spec.searchSpace": {"x": {"normal": [0, 1]}}}, "random", "asha"),
        ({"spec.searchSpace": {"layers": {"choice": [[1, 2], [3]]}}}, "random", "asha"),
        ({"spec.scheduler": {"type": "pbt", "perturbationInterval": 2}}, "random", "pbt"),
        ({"spec.scheduler": {"type": "fifo"}}, "optuna", "fifo"),
        ({"spec.search": {"algorithm": "random"}}, "random", "asha"),
        ({"spec.search": {"algorithm": "bohb"}}, "bohb", "hyperband"),
    ],
)
def test_a_spec_the_default_searcher_cannot_take_falls_back_to_random_search(
    patch: dict[str, Any], algorithm: str, scheduler: str
) -> None:
    exp = load_object(apply(patch))
    assert (exp.algorithm, exp.scheduler_type) == (algorithm, scheduler)


def test_default_asha_horizon_follows_stop_training_iteration() -> None:
    from kubetune.engine.scheduling import build_scheduler

    stopped = build_scheduler(load_object(apply({"spec.stop": {"training_iteration": 12}})))
    unbounded = build_scheduler(load_object(apply({})))
    assert (stopped._max_t, unbounded._max_t) == (12, defaults.MAX_T)
