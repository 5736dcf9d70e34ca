"""The CIFAR-10 job's ``optimizer`` group: a conditional search space's option, checked and trained with.

``experiment.optimizers.yaml`` draws SGD or Adam per trial; the trainable builds the optimizer its group names and
fails at once, naming the key, on a group it cannot use. The flat ``lr``/``momentum`` of ``experiment.yaml`` train
SGD exactly as before. A real (tiny, CPU) Ray Tune run of the shipped conditional experiment closes the file.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from jobs import torch_loop
from jobs.cifar_torch import trainable
from jobs.cifar_torch.model import Net
from jobs.cifar_torch.optimizers import AdamSettings, SgdSettings
from jobs.cifar_torch.trainable import TrialSettings, evaluate, load_checkpoint
from kubetune.spec import load_file
from kubetune.spec.spaces import Conditional, Fixed
from tests.jobs.fixtures_cifar import make_cifar_dir

JOB_DIR = Path(__file__).resolve().parents[2] / "jobs" / "cifar_torch"
EXPERIMENT = JOB_DIR / "experiment.optimizers.yaml"
BASE = {"l1": 8, "l2": 8, "batch_size": 4}
GROUP_KEYS = {"sgd": {"name", "lr", "momentum"}, "adam": {"name", "lr", "beta1"}}


# --- the settings -------------------------------------------------------------------------------------------


def test_the_flat_config_trains_sgd_with_the_tutorials_momentum_as_before() -> None:
    settings = TrialSettings.from_config({**BASE, "lr": 0.01})

    assert (settings.lr, settings.momentum, settings.optimizer) == (0.01, 0.9, None)
    assert TrialSettings.from_config({**BASE, "lr": 0.01, "momentum": 0.5}).momentum == 0.5


@pytest.mark.parametrize(
    ("group", "parsed"),
    [
        ({"name": "sgd", "lr": 0.05, "momentum": 0.7}, SgdSettings(lr=0.05, momentum=0.7)),
        ({"name": "sgd", "lr": 0.05}, SgdSettings(lr=0.05, momentum=0.9)),
        ({"name": "adam", "lr": 1e-3, "beta1": 0.85}, AdamSettings(lr=1e-3, beta1=0.85, beta2=0.999)),
        ({"name": "adam", "lr": "0.001", "beta1": 0.8, "beta2": 0.99}, AdamSettings(lr=1e-3, beta1=0.8, beta2=0.99)),
    ],
    ids=["sgd", "sgd-default-momentum", "adam", "adam-beta2-and-a-string"],
)
def test_an_optimizer_group_replaces_the_flat_lr_and_momentum(group: dict[str, Any], parsed: Any) -> None:
    settings = TrialSettings.from_config({**BASE, "optimizer": group})

    assert settings.optimizer == parsed
    assert (settings.lr, settings.momentum) == (None, None)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "config['lr'] is required (the search space or `config` must set it)"),
        (
            {"optimizer": {"name": "rmsprop", "lr": 0.1}},
            "config['optimizer']['name'] must be 'sgd' or 'adam', got 'rmsprop'",
        ),
        ({"optimizer": {"lr": 0.1}}, "config['optimizer']['name'] is required: 'sgd' or 'adam'"),
        (
            {"optimizer": {"name": "adam"}},
            "config['optimizer']['lr'] is required (the search space or `config` must set it)",
        ),
        (
            {"optimizer": {"name": "sgd", "lr": 0.1, "beta1": 0.9}},
            "config['optimizer']['beta1'] is not a setting of optimizer 'sgd'; it reads lr, momentum",
        ),
        (
            {"optimizer": {"name": "adam", "lr": 0.1, "momentum": 0.9}},
            "config['optimizer']['momentum'] is not a setting of optimizer 'adam'; it reads lr, beta1, beta2",
        ),
        (
            {"lr": 0.1, "optimizer": {"name": "sgd", "lr": 0.1}},
            "config['lr'] cannot be set together with config['optimizer'], the group that replaces it",
        ),
        (
            {"momentum": 0.5, "optimizer": {"name": "adam", "lr": 0.1}},
            "config['momentum'] cannot be set together with config['optimizer'], the group that replaces it",
        ),
        ({"optimizer": {"name": "sgd", "lr": 0.0}}, "config['optimizer']['lr'] must be > 0, got 0.0"),
        (
            {"optimizer": {"name": "adam", "lr": 0.1, "beta2": 1.0}},
            "config['optimizer']['beta2'] must be in [0, 1), got 1.0",
        ),
        ({"optimizer": {"name": "adam", "lr": "fast"}}, "config['optimizer']['lr'] must be a number, got 'fast'"),
        (
            {"optimizer": "adam"},
            "config['optimizer'] must be a group of keys (a mapping whose 'name' is 'sgd' or 'adam'), got 'adam'",
        ),
    ],
    ids=[
        "neither",
        "unknown-name",
        "no-name",
        "no-lr",
        "adam-key-in-sgd",
        "sgd-key-in-adam",
        "flat-lr-and-group",
        "flat-momentum-and-group",
        "lr-zero",
        "beta2-one",
        "lr-not-a-number",
        "not-a-mapping",
    ],
)
def test_a_bad_optimizer_config_fails_at_once_naming_the_key(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=rf"^{re.escape(message)}$"):
        TrialSettings.from_config({**BASE, **config})


def test_the_optimizer_group_has_no_flag_and_the_command_line_stays_flat() -> None:
    from jobs import smoke

    parser = smoke.build_parser(trainable.COMMAND, prog="job")
    config = TrialSettings.config_from_args(parser.parse_args([]))

    assert "--optimizer" not in parser.format_help()
    assert "optimizer" not in config
    assert TrialSettings.from_config(config).lr == 0.01


# --- the optimizer train() builds, and evaluate on a group's config ------------------------------------------


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_cifar_dir(tmp_path_factory.mktemp("cifar"), n_per_batch=20, n_test=20)


@pytest.mark.parametrize(
    ("extra", "kind", "expected"),
    [
        ({"lr": 0.02}, torch.optim.SGD, {"lr": 0.02, "momentum": 0.9}),
        ({"optimizer": {"name": "sgd", "lr": 0.03, "momentum": 0.6}}, torch.optim.SGD, {"lr": 0.03, "momentum": 0.6}),
        (
            {"optimizer": {"name": "adam", "lr": 0.004, "beta1": 0.8}},
            torch.optim.Adam,
            {"lr": 0.004, "betas": (0.8, 0.999)},
        ),
    ],
    ids=["flat", "sgd-group", "adam-group"],
)
def test_train_hands_the_loop_the_optimizer_the_config_names(
    extra: dict[str, Any],
    kind: type[torch.optim.Optimizer],
    expected: dict[str, Any],
    cifar_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handed: dict[str, Any] = {}
    monkeypatch.setattr(torch_loop, "fit", lambda **kwargs: handed.update(kwargs))

    trainable.train({**BASE, **extra, "data_dir": str(cifar_dir), "train_limit": 20, "device": "cpu"})

    optimizer = handed["optimizer"]
    assert type(optimizer) is kind
    (group,) = optimizer.param_groups
    assert {key: group[key] for key in expected} == expected
    assert group["params"] == list(handed["model"].parameters())
    assert handed["state"] == {"l1": 8, "l2": 8, "source": "cifar-10"}  # the checkpoint's state.json, unchanged


def test_evaluate_takes_a_config_with_an_optimizer_group(cifar_dir: Path) -> None:
    config = {**BASE, "optimizer": {"name": "adam", "lr": 1e-3, "beta1": 0.9}, "data_dir": str(cifar_dir)}

    scores = evaluate(Net(8, 8), {**config, "test_limit": 10})

    assert set(scores) == {"accuracy", "loss"}
    assert math.isfinite(scores["loss"])


# --- the shipped experiment and a real run of it --------------------------------------------------------------


def test_shipped_conditional_experiment_draws_sgd_or_adam_with_optuna_and_asha() -> None:
    exp = load_file(EXPERIMENT)
    conditional = exp.space["optimizer"]

    assert exp.name == "cifar-optimizers"
    assert exp.spec.trainable == "jobs.cifar_torch.trainable:train"
    assert (exp.spec.metric, exp.spec.mode, exp.algorithm, exp.scheduler_type) == ("loss", "min", "optuna", "asha")
    assert isinstance(conditional, Conditional)
    assert [option["name"] for option in conditional.options if isinstance(option, dict)] == [
        Fixed("sgd"),
        Fixed("adam"),
    ]
    assert not {"lr", "momentum"} & (set(exp.spec.search_space) | set(exp.spec.config))  # the group replaces them


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_conditional_experiment_trains_both_optimizers_each_trial_with_its_groups_keys_only(
    tmp_path: Path, cifar_dir: Path
) -> None:
    from ray.tune import ExperimentAnalysis

    from kubetune.engine.running import RunOptions, run_experiment
    from kubetune.spec import load_object

    doc = yaml.safe_load(EXPERIMENT.read_text())
    spec = doc["spec"]
    # The shipped experiment (its space, Optuna and ASHA) on tiny data and CPUs: 4 trials of at most 2 epochs.
    limits = {"epochs": 2, "train_limit": 80, "test_limit": 20, "device": "cpu", "data_dir": str(cifar_dir)}
    spec.update(config={**spec["config"], **limits}, numSamples=4, maxConcurrentTrials=2, resourcesPerTrial={"cpu": 1})
    spec.update(scheduler={**spec["scheduler"], "maxT": 2}, stop={"training_iteration": 2}, checkpoint={"numToKeep": 1})
    spec["search"]["seed"] = 5  # Optuna's draws with this seed: both optimizers among the 4 trials

    summary = run_experiment(load_object(doc), options=RunOptions(verbose=0, storage_path=str(tmp_path)))

    assert summary.trials_by_state == {"TERMINATED": 4}  # none failed on its group
    trials = ExperimentAnalysis(summary.experiment_path).trials
    groups = [trial.config["optimizer"] for trial in trials]
    assert {group["name"] for group in groups} == {"sgd", "adam"}
    for trial, group in zip(trials, groups, strict=True):
        assert set(group) == GROUP_KEYS[group["name"]]
        assert not {"lr", "momentum"} & set(trial.config)
        assert 1e-5 <= group["lr"] <= 1e-1
    best = summary.best
    assert best is not None
    assert best.checkpoint is not None
    state = json.loads((Path(best.checkpoint) / "state.json").read_text())
    assert state["source"] == "cifar-10"
    assert (state["l1"], state["l2"]) == (best.config["l1"], best.config["l2"])
    scores = evaluate(load_checkpoint(best.checkpoint), best.config)  # a group's config evaluates as is
    assert set(scores) == {"accuracy", "loss"}
    assert math.isfinite(scores["loss"])
