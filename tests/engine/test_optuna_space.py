"""The spec's search space as Optuna distributions: the same bounds the user wrote, nested groups kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from kubetune.engine.optuna_space import UnsupportedDimension, distributions, unflatten
from kubetune.spec.errors import FieldError
from kubetune.spec.spaces import Space, parse_space


def space(raw: dict[str, Any]) -> Space:
    errors: list[FieldError] = []
    parsed = parse_space(raw, path="spec.searchSpace", errors=errors)
    assert not errors, errors
    return parsed


@dataclass
class Case:
    dimension: dict[str, Any]
    expected: BaseDistribution


CASES = {
    "uniform": Case({"uniform": [0.1, 0.9]}, FloatDistribution(0.1, 0.9)),
    "loguniform": Case({"loguniform": [1e-4, 1e-1]}, FloatDistribution(1e-4, 1e-1, log=True)),
    "quniform": Case({"quniform": [0.0, 0.5, 0.05]}, FloatDistribution(0.0, 0.5, step=0.05)),
    "randint, both bounds inclusive": Case({"randint": [1, 10]}, IntDistribution(1, 10)),
    "lograndint, both bounds inclusive": Case({"lograndint": [16, 4096]}, IntDistribution(16, 4096, log=True)),
    "scalar choice": Case({"choice": [32, "auto", True, None]}, CategoricalDistribution([32, "auto", True, None])),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_dimension_becomes_the_optuna_distribution_with_the_bounds_the_spec_wrote(case: Case) -> None:
    assert distributions(space({"p": case.dimension})) == {"p": case.expected}


def test_a_quniform_range_that_is_not_a_multiple_of_its_step_ends_at_its_last_step_without_a_warning() -> None:
    # Optuna would lower the upper bound itself, with a UserWarning (an error under this suite's filters).
    dist = distributions(space({"d": {"quniform": [0.1, 1.0, 0.2]}}))["d"]
    assert dist == FloatDistribution(0.1, 0.9, step=0.2)


@pytest.mark.parametrize(
    ("dimension", "message"),
    [
        ({"grid": [1, 2]}, "spec.searchSpace.g.grid: Optuna has no grid distribution"),
        ({"normal": [0.0, 1.0]}, "spec.searchSpace.g.normal: Optuna has no normal distribution"),
        ({"choice": [[1, 2], [3]]}, "spec.searchSpace.g.choice: Optuna takes only scalar choices"),
    ],
)
def test_a_dimension_optuna_cannot_sample_is_refused_with_its_path(dimension: dict[str, Any], message: str) -> None:
    with pytest.raises(UnsupportedDimension, match=message.replace(".", r"\.")):
        distributions(space({"g": dimension}))


def test_nested_groups_are_joined_for_optuna_and_nested_again_in_a_suggestion() -> None:
    nested = space(
        {"lr": {"uniform": [0, 1]}, "model": {"dropout": {"uniform": [0, 0.5]}, "head": {"n": {"randint": [1, 3]}}}}
    )
    assert list(distributions(nested)) == ["lr", "model/dropout", "model/head/n"]
    params = {"lr": 0.1, "model/dropout": 0.2, "model/head/n": 2}
    assert unflatten(params) == {"lr": 0.1, "model": {"dropout": 0.2, "head": {"n": 2}}}
