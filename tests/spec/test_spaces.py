"""The search-space grammar translates to Ray domains with the documented semantics."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from kubetune.spec import load_object
from kubetune.spec.spaces import Dimension, count_trials, to_param_space
from tests.spec.test_invalid_specs import apply


def experiment(space: dict[str, Any], *, samples: int = 1, algorithm: str = "random") -> Any:
    return load_object(
        apply({"spec.searchSpace": space, "spec.numSamples": samples, "spec.search": {"algorithm": algorithm}})
    )


def draw(dim: Any, n: int = 4000) -> list[Any]:
    np.random.seed(0)
    return list(dim.sample(size=n))


@pytest.mark.parametrize("kind", ["randint", "lograndint"])
def test_inclusive_integer_bounds_include_both_ends(kind: str) -> None:
    space = experiment({"h": {kind: [1, 3]}}).space
    values = draw(to_param_space(space)["h"])
    assert set(values) == {1, 2, 3}


def test_single_value_integer_range_is_allowed() -> None:
    values = draw(to_param_space(experiment({"h": {"randint": [4, 4]}}).space)["h"], 50)
    assert set(values) == {4}


def test_loguniform_stays_in_bounds_and_spreads_over_decades() -> None:
    values = draw(to_param_space(experiment({"lr": {"loguniform": [1e-4, 1e-1]}}).space)["lr"])
    assert min(values) >= 1e-4
    assert max(values) <= 1e-1
    decades = {math.floor(math.log10(v)) for v in values}
    assert decades == {-4, -3, -2}


def test_quniform_is_quantised() -> None:
    values = draw(to_param_space(experiment({"d": {"quniform": [0.0, 0.5, 0.1]}}).space)["d"])
    assert all(abs(v * 10 - round(v * 10)) < 1e-9 for v in values)
    assert min(values) >= 0.0
    assert max(values) <= 0.5


def test_nested_groups_stay_nested() -> None:
    space = experiment({"model": {"dropout": {"uniform": [0, 0.5]}, "units": {"choice": [8, 16]}}}).space
    param = to_param_space(space)
    assert set(param) == {"model"}
    assert set(param["model"]) == {"dropout", "units"}


@pytest.mark.parametrize(
    ("space", "samples", "algorithm", "expected"),
    [
        ({"a": {"grid": [1, 2, 3]}}, 1, "random", 3),
        ({"a": {"grid": [1, 2, 3]}, "b": {"grid": ["x", "y"]}}, 2, "random", 12),
        ({"a": {"grid": [1, 2]}, "lr": {"uniform": [0, 1]}}, 5, "random", 10),
        ({"a": {"choice": [1, 2, 3]}}, 2, "random", 2),
        ({"a": {"choice": [1, 2, 3]}, "b": {"grid": [0, 1]}}, 2, "grid", 12),
    ],
)
def test_grid_times_samples_counts_trials_as_ray_does(
    space: dict[str, Any], samples: int, algorithm: str, expected: int
) -> None:
    from ray.tune.search.variant_generator import generate_variants

    exp = experiment(space, samples=samples, algorithm=algorithm)
    assert exp.total_trials == expected
    assert count_trials(exp.space, samples, finite_as_grid=algorithm == "grid") == expected
    # Ray's own enumeration of one sample, times the samples.
    per_sample = list(generate_variants(to_param_space(exp.space, finite_as_grid=algorithm == "grid")))
    assert len(per_sample) * samples == expected


@pytest.mark.parametrize(
    ("dim", "inside", "outside"),
    [
        (Dimension("randint", (1, 3), "p"), [1, 3], [0, 4, 2.5]),
        (Dimension("uniform", (0.1, 0.9), "p"), [0.1, 0.5, 0.9], [0.0, 1.0]),
        (Dimension("choice", (2, 4), "p"), [2, 4], [3]),
    ],
)
def test_contains_matches_the_inclusive_semantics(dim: Dimension, inside: list[Any], outside: list[Any]) -> None:
    assert all(dim.contains(v) for v in inside)
    assert not any(dim.contains(v) for v in outside)
