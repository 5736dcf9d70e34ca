"""kubetune's Optuna search on a choice of groups, without Ray: define-by-run asks only the chosen group's
parameters, each option's under its own name, and the searcher that Ray saves pickles and suggests the same."""

from __future__ import annotations

import pickle
from typing import Any

import optuna
import pytest

from kubetune.engine import searching
from kubetune.engine.optuna_bridge import OptunaBridge, tpe_sampler
from kubetune.engine.optuna_space import UnsupportedDimension, distributions, suggest
from kubetune.spec import load_object
from tests.conftest import experiment_doc

SPACE = {
    "optimizer": {
        "choice": [
            {"name": "sgd", "lr": {"loguniform": [1e-4, 1e-1]}, "momentum": {"uniform": [0.1, 0.9]}},
            {"name": "adam", "lr": {"loguniform": [1e-5, 1e-2]}, "betas": {"b1": {"uniform": [0.8, 0.99]}}},
            "none",
        ]
    },
    "dropout": {"uniform": [0.0, 0.5]},
}


def experiment(**spec: Any) -> Any:
    return load_object(experiment_doc("cond", "tests.fixtures.trainables:quadratic", searchSpace=SPACE, **spec))


def test_define_by_run_asks_only_the_chosen_groups_parameters() -> None:
    study = optuna.create_study(direction="maximize", sampler=tpe_sampler(0, group=True))
    seen = set()
    for _ in range(40):
        trial = study.ask()
        config = suggest(trial, experiment().space)
        option = trial.params["optimizer"]
        seen.add(option)
        expected = {
            0: ({"name": "sgd", "lr": ..., "momentum": ...}, {"optimizer/0/lr", "optimizer/0/momentum"}),
            1: ({"name": "adam", "lr": ..., "betas": ...}, {"optimizer/1/lr", "optimizer/1/betas/b1"}),
            2: ("none", set()),
        }[option]
        assert set(trial.params) == {"optimizer", "dropout", *expected[1]}
        if option == 2:
            assert config["optimizer"] == "none"
        else:
            assert set(config["optimizer"]) == set(expected[0])
            assert config["optimizer"]["name"] == ("sgd", "adam")[option]
        if option == 1:
            assert set(config["optimizer"]["betas"]) == {"b1"}
            assert config["optimizer"]["lr"] == trial.params["optimizer/1/lr"]
        study.tell(trial, float(option))
    assert seen == {0, 1, 2}


def test_a_conditional_space_has_no_fixed_distributions() -> None:
    with pytest.raises(UnsupportedDimension, match="optimizer: a choice of groups"):
        distributions(experiment().space)


def test_the_default_searcher_on_a_conditional_space_suggests_groups_and_survives_pickling() -> None:
    exp = experiment(search={"seed": 5})
    searcher = searching.build_searcher(exp, max_concurrent=2).algorithm
    assert isinstance(searcher, OptunaBridge)
    copy = pickle.loads(pickle.dumps(searcher))  # Ray pickles the searcher with the tuner
    names = set()
    for i in range(20):
        config = copy.suggest(f"t{i}")
        assert config is not None
        assert 0.0 <= config["dropout"] <= 0.5
        names.add(config["optimizer"] if config["optimizer"] == "none" else config["optimizer"]["name"])
        copy.on_trial_complete(f"t{i}", {"score": 1.0, "training_iteration": 1})
    assert names == {"sgd", "adam", "none"}
    assert len(copy.study.trials) == 20
