"""A choice of groups on real Ray Tune runs: every searcher that takes it gives each trial one group, whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ray.tune import ExperimentAnalysis

from kubetune.engine.optuna_bridge import load_study
from kubetune.engine.running import RunOptions, run_experiment
from kubetune.spec import load_object
from tests.conftest import experiment_doc

pytestmark = pytest.mark.slow

SGD = {"name": "sgd", "lr": {"loguniform": [1e-4, 1e-1]}, "momentum": {"uniform": [0.1, 0.9]}}
ADAM = {"name": "adam", "lr": {"loguniform": [1e-5, 1e-2]}, "beta1": {"uniform": [0.8, 0.99]}}
BOUNDS = {("sgd", "lr"): (1e-4, 1e-1), ("sgd", "momentum"): (0.1, 0.9), ("adam", "lr"): (1e-5, 1e-2),
          ("adam", "beta1"): (0.8, 0.99)}  # fmt: skip


def run(tmp_path: Path, name: str, **spec: Any) -> list[dict[str, Any]]:
    """Run ``grouped`` over the space and return each trial's config (the trainable errors on a wrong shape)."""
    exp = load_object(
        experiment_doc(
            name,
            "tests.fixtures.trainables:grouped",
            scheduler={"type": "fifo"},
            storage={"path": str(tmp_path)},
            **{"searchSpace": {"optimizer": {"choice": [SGD, ADAM]}}, **spec},
        )
    )
    summary = run_experiment(exp, options=RunOptions(verbose=0))
    assert summary.trials_by_state == {"TERMINATED": exp.total_trials}  # none errored on its config's shape
    return [t.config for t in ExperimentAnalysis(str(tmp_path / name)).trials]


def assert_one_group_each(configs: list[dict[str, Any]]) -> None:
    for config in configs:
        group = config["optimizer"]
        keys = {"sgd": {"name", "lr", "momentum"}, "adam": {"name", "lr", "beta1"}}[group["name"]]
        assert set(group) == keys
        for key in keys - {"name"}:
            low, high = BOUNDS[(group["name"], key)]
            assert low <= group[key] <= high


def test_random_search_draws_both_groups_and_gives_each_trial_one(ray_local: None, tmp_path: Path) -> None:
    configs = run(tmp_path, "cond-random", search={"algorithm": "random", "seed": 1}, numSamples=8)
    assert_one_group_each(configs)
    assert {c["optimizer"]["name"] for c in configs} == {"sgd", "adam"}


def test_optuna_asks_only_the_chosen_groups_parameters(ray_local: None, tmp_path: Path) -> None:
    configs = run(tmp_path, "cond-optuna", search={"algorithm": "optuna", "seed": 3}, numSamples=8)
    assert_one_group_each(configs)
    assert {c["optimizer"]["name"] for c in configs} == {"sgd", "adam"}
    for trial in load_study(tmp_path / "cond-optuna").trials:
        option = trial.params["optimizer"]  # the option's index; its parameters are named under it
        assert set(trial.params) == {
            "optimizer",
            *(f"optimizer/{option}/{k}" for k in ("lr", ("momentum", "beta1")[option])),
        }


def test_hyperopt_runs_groups_whose_parameter_names_differ(ray_local: None, tmp_path: Path) -> None:
    adam = {"name": "adam", "adam_lr": {"loguniform": [1e-5, 1e-2]}, "beta1": {"uniform": [0.8, 0.99]}}
    exp = load_object(
        experiment_doc(
            "cond-hyperopt",
            "tests.fixtures.trainables:quadratic",
            searchSpace={"x": {"uniform": [0.0, 1.0]}, "optimizer": {"choice": [SGD, adam]}},
            search={"algorithm": "hyperopt", "seed": 2},
            scheduler={"type": "fifo"},
            numSamples=6,
            config={"iterations": 1},
            storage={"path": str(tmp_path)},
        )
    )
    assert run_experiment(exp, options=RunOptions(verbose=0)).trials_by_state == {"TERMINATED": 6}
    groups = [t.config["optimizer"] for t in ExperimentAnalysis(str(tmp_path / "cond-hyperopt")).trials]
    assert {g["name"] for g in groups} == {"sgd", "adam"}
    for group in groups:
        assert set(group) == ({"name", "lr", "momentum"} if group["name"] == "sgd" else {"name", "adam_lr", "beta1"})


def test_grid_search_runs_every_groups_own_combinations(ray_local: None, tmp_path: Path) -> None:
    space = {
        "optimizer": {
            "choice": [
                {"name": "sgd", "lr": {"choice": [0.01, 0.1]}, "momentum": {"choice": [0.5]}},
                {"name": "adam", "lr": {"choice": [1e-3]}, "beta1": {"choice": [0.9, 0.95]}},
            ]
        }
    }
    configs = run(tmp_path, "cond-grid", search={"algorithm": "grid"}, searchSpace=space)
    assert sorted((c["optimizer"]["name"], c["optimizer"]["lr"]) for c in configs) == [
        ("adam", 1e-3), ("adam", 1e-3), ("sgd", 0.01), ("sgd", 0.1)
    ]  # fmt: skip
