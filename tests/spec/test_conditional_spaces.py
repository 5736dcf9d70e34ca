"""A ``choice`` whose options are groups of parameters: each draw gives the trainable one group, whole; searchers
that cannot express it are refused naming the field."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from kubetune.spec import SpecError, load_object
from kubetune.spec.spaces import Conditional, count_trials, to_param_space
from tests.spec.test_invalid_specs import apply

SGD = {"name": "sgd", "lr": {"loguniform": [1e-4, 1e-1]}, "momentum": {"uniform": [0.1, 0.9]}}
ADAM = {"name": "adam", "lr": {"loguniform": [1e-5, 1e-2]}, "beta1": {"uniform": [0.8, 0.99]}}
OPTIMIZER = {"choice": [SGD, ADAM]}


def experiment(space: dict[str, Any], **patch: Any) -> Any:
    return load_object(apply({"spec.searchSpace": space, **{f"spec.{k}": v for k, v in patch.items()}}))


def variants(space: dict[str, Any], n: int = 1) -> list[dict[str, Any]]:
    from ray.tune.search.variant_generator import generate_variants

    np.random.seed(0)
    return [config for _ in range(n) for _, config in generate_variants(space)]


def test_each_draw_gives_the_trainable_exactly_one_group_with_its_fixed_values() -> None:
    exp = experiment({"optimizer": OPTIMIZER, "dropout": {"uniform": [0.0, 0.5]}}, search={"algorithm": "random"})
    assert isinstance(exp.space["optimizer"], Conditional)
    drawn = variants(to_param_space(exp.space), 200)
    groups = [config["optimizer"] for config in drawn]
    assert {g["name"] for g in groups} == {"sgd", "adam"}
    for group in groups:
        if group["name"] == "sgd":
            assert set(group) == {"name", "lr", "momentum"}
            assert 1e-4 <= group["lr"] <= 1e-1
            assert 0.1 <= group["momentum"] <= 0.9
        else:
            assert set(group) == {"name", "lr", "beta1"}
            assert 1e-5 <= group["lr"] <= 1e-2
            assert 0.8 <= group["beta1"] <= 0.99


def test_options_may_be_plain_values_and_groups_may_nest() -> None:
    space = {
        "schedule": {
            "choice": [
                None,
                {"kind": "step", "every": {"randint": [1, 3]}},
                {"kind": "cosine", "warmup": {"choice": [{"steps": {"randint": [10, 20]}}, {"ratio": 0.1}]}},
            ]
        }
    }
    drawn = [config["schedule"] for config in variants(to_param_space(experiment(space).space), 300)]
    assert None in drawn
    assert {d["kind"] for d in drawn if d} == {"step", "cosine"}
    warmups = [d["warmup"] for d in drawn if d and d["kind"] == "cosine"]
    assert {"ratio": 0.1} in warmups
    assert all(set(w) == {"ratio"} or (set(w) == {"steps"} and 10 <= w["steps"] <= 20) for w in warmups)


def test_grid_search_enumerates_each_groups_own_combinations() -> None:
    space = {
        "optimizer": {
            "choice": [
                {"name": "sgd", "lr": {"choice": [0.1, 0.01]}},
                {"name": "adam", "lr": {"choice": [1e-3, 1e-4, 1e-5]}},
            ]
        }
    }
    exp = experiment(space, search={"algorithm": "grid"}, numSamples=2)
    drawn = variants(to_param_space(exp.space, finite_as_grid=True))
    assert len(drawn) == 2 + 3
    assert exp.total_trials == count_trials(exp.space, 2, finite_as_grid=True) == 2 * (2 + 3)
    assert {(c["optimizer"]["name"], c["optimizer"]["lr"]) for c in drawn} == {
        ("sgd", 0.1), ("sgd", 0.01), ("adam", 1e-3), ("adam", 1e-4), ("adam", 1e-5)
    }  # fmt: skip


def test_a_choice_of_groups_keeps_the_default_searcher() -> None:
    assert experiment({"optimizer": OPTIMIZER}).algorithm == "optuna"


def test_hyperopt_takes_groups_whose_parameter_names_differ() -> None:
    adam = {"name": "adam", "adam_lr": {"loguniform": [1e-5, 1e-2]}}
    assert experiment({"optimizer": {"choice": [SGD, adam]}}, search={"algorithm": "hyperopt"}).algorithm == "hyperopt"


def test_plain_choices_are_unchanged() -> None:
    exp = experiment({"layers": {"choice": [[1, 2], [3]]}, "bs": {"choice": [32, 64]}}, search={"algorithm": "random"})
    assert not any(isinstance(node, Conditional) for node in exp.space.values())


@pytest.mark.parametrize(
    ("space", "patch", "field", "reason"),
    [
        (
            {"optimizer": {"choice": [SGD, {**ADAM, "beta1": {"uniform": [0.99, 0.8]}}]}},
            {},
            "spec.searchSpace.optimizer.choice[1].beta1.uniform",
            "lower bound must be < upper bound",
        ),
        (
            {"optimizer": {"choice": [{**SGD, "lr": {"grid": [0.1, 0.01]}}, ADAM]}},
            {"search": {"algorithm": "random"}},
            "spec.searchSpace.optimizer.choice[0].lr.grid",
            "inside a choice of groups",
        ),
        (
            {"optimizer": {"choice": [{"uniform": [0, 1]}, ADAM]}},
            {},
            "spec.searchSpace.optimizer.choice[0]",
            "put the distribution under a parameter name",
        ),
        (
            {"optimizer": {"choice": [{**SGD, "a/b": 1}, ADAM]}},
            {},
            'spec.searchSpace.optimizer.choice[0]["a/b"]',
            "without '/'",
        ),
        (
            {"optimizer": OPTIMIZER},
            {"search": {"algorithm": "hyperopt"}},
            "spec.searchSpace.optimizer.choice[1].lr",
            "hyperopt",
        ),
        ({"optimizer": OPTIMIZER}, {"search": {"algorithm": "bohb"}}, "spec.searchSpace.optimizer.choice", "bohb"),
        (
            {"optimizer": {"choice": [{"name": "sgd", "lr": {"uniform": [0.0, 0.1]}}, {"name": "adam"}]}},
            {"search": {"algorithm": "bayesopt"}},
            "spec.searchSpace.optimizer.choice",
            "bayesopt",
        ),
        (
            {"optimizer": OPTIMIZER},
            {"search": {"algorithm": "random"}, "scheduler": {"type": "pbt"}},
            "spec.searchSpace.optimizer.choice",
            "pbt",
        ),
        (
            {"optimizer": {"choice": [SGD, {**ADAM, "eps": {"normal": [0, 1]}}]}},
            {"search": {"algorithm": "optuna"}},
            "spec.searchSpace.optimizer.choice[1].eps.normal",
            "optuna",
        ),
    ],
    ids=[
        "bad bounds inside a group",
        "grid inside a group",
        "an option that is a distribution",
        "a parameter name with a slash",
        "hyperopt with one name in two groups",
        "bohb",
        "bayesopt",
        "pbt",
        "optuna with normal inside a group",
    ],
)
def test_a_choice_of_groups_that_cannot_run_is_refused_naming_the_field(
    space: dict[str, Any], patch: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(SpecError) as info:
        experiment(space, **patch)
    matching = [e for e in info.value.errors if e.path == field]
    assert matching, [str(e) for e in info.value.errors]
    assert any(reason in e.reason for e in matching), [str(e) for e in matching]
