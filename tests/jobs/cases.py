"""What the contract tests need to know of each reference job, one :class:`JobCase` a job.

Everything else (the settings, the metrics, the experiment files, the image) the tests read from the job itself.
Importing this module imports no framework: the jobs' modules are imported by the tests that use them.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubetune.spec.dimensions import KINDS
from tests.jobs.fixtures_bank import make_bank_dir
from tests.jobs.fixtures_cifar import make_cifar_dir
from tests.jobs.fixtures_lyrics import make_lyrics_dir
from tests.jobs.fixtures_mnist import make_mnist_dir

REPO = Path(__file__).resolve().parents[2]
JOBS = REPO / "jobs"


@dataclass(frozen=True)
class Progress:
    """What a checkpoint directory says of itself: how far it trained, and on which data."""

    iterations: int
    source: str


def state_file(directory: Path) -> Progress:
    """The ``state.json`` the PyTorch and Keras jobs write beside their model."""
    state = json.loads((directory / "state.json").read_text())
    return Progress(iterations=int(state["epoch"]), source=str(state["source"]))


def booster_attributes(directory: Path) -> Progress:
    """The XGBoost job's booster: its rounds, and the ``data_source`` attribute it carries."""
    from jobs.bank_xgboost.trainable import SOURCE_ATTR, load_checkpoint

    booster = load_checkpoint(directory)
    return Progress(iterations=booster.num_boosted_rounds(), source=str(booster.attr(SOURCE_ATTR)))


@dataclass(frozen=True)
class JobCase:
    """One reference job, as the contract tests run it: on tiny generated data, on the CPU."""

    name: str
    #: Writes a small dataset of the real format into the given directory; returns the ``data_dir`` to use.
    make_data: Callable[[Path], Path]
    #: The fixed config of a tiny trial (no ``data_dir``, no length): the shipped experiment's, shrunk.
    config: Mapping[str, Any]
    #: The setting that says how many iterations a trial runs (``epochs``, ``num_round``).
    length_key: str
    #: The folder under ``~/data`` the job reads when neither ``data_dir`` nor ``$KUBETUNE_DATA_DIR`` is set.
    home_data: str
    #: The ``source`` a checkpoint trained on :attr:`make_data`'s files records.
    source: str
    #: Files every checkpoint directory holds.
    checkpoint_files: frozenset[str]
    #: The keys ``evaluate`` returns.
    evaluate_keys: frozenset[str]
    #: How far a checkpoint trained, and on what.
    progress: Callable[[Path], Progress] = state_file
    #: Evaluate keys that score the very data the trial reported on: evaluate key -> reported key.
    same_data: Mapping[str, str] = field(default_factory=dict)
    #: Relative tolerance of :attr:`same_data` (Keras averages a masked loss per batch, not per token).
    rel: float = 1e-4
    #: Search dimensions replacing the shipped experiment's, where those would make a slow test.
    space: Mapping[str, Any] = field(default_factory=dict)
    #: Whether the job reports an ``epoch`` (equal to ``training_iteration``) beside its metrics.
    reports_epoch: bool = True
    #: Whether ``data_dir`` may be a storage URI (``s3://...``) as well as a local directory.
    reads_uris: bool = False

    @property
    def directory(self) -> Path:
        return JOBS / self.name

    def module(self) -> Any:
        """``jobs.<name>.trainable``, imported (with its framework)."""
        return importlib.import_module(f"jobs.{self.name}.trainable")

    def experiments(self) -> list[Path]:
        """The shipped experiment files."""
        return sorted(self.directory.glob("experiment*.yaml"))

    def trial_config(self) -> dict[str, Any]:
        """A config a trial of the shipped experiment could get: its ``config`` and a value of every searched key
        (of :attr:`space` where that replaces a dimension)."""
        spec = yaml.safe_load((self.directory / "experiment.yaml").read_text())["spec"]
        space = {**spec["searchSpace"], **self.space}
        return {**spec.get("config", {}), **{key: a_value(dimension) for key, dimension in space.items()}}


def a_value(dimension: Mapping[str, Any]) -> Any:
    """A value a search dimension can take: the first choice, or the lower bound of a range.

    The first option of a choice of groups comes as a trial gets it: its dimensions replaced by values.
    """
    ((_kind, args),) = dimension.items()
    value = args[0] if isinstance(args, list) else args
    return a_group(value) if isinstance(value, Mapping) else value


def a_group(group: Mapping[str, Any]) -> dict[str, Any]:
    """An option of a choice of groups (or a nested group) with a value for each dimension, the rest as written."""
    return {
        key: (a_value(node) if len(node) == 1 and next(iter(node)) in KINDS else a_group(node))
        if isinstance(node, Mapping)
        else node
        for key, node in group.items()
    }


def no_grid(dimension: Mapping[str, Any]) -> Mapping[str, Any]:
    """A grid dimension as a choice, so that ``numSamples`` alone sets the number of trials."""
    return {"choice": dimension["grid"]} if "grid" in dimension else dimension


def out_of_bounds(rule: Any) -> Any:
    """A value a :class:`jobs.settings.Rule` forbids."""
    if rule.one_of is not None:
        return "not-a-choice"
    if rule.above is not None:
        return rule.above
    if rule.at_least is not None:
        return rule.at_least - 1
    return rule.below


CASES: tuple[JobCase, ...] = (
    JobCase(
        name="mnist_torch",
        home_data="mnist",
        make_data=lambda d: make_mnist_dir(d / "mnist"),
        # test_size covers the 128 test images, so the reported scores are evaluate's, on the same images.
        config={"epoch_size": 64, "test_size": 128, "batch_size": 32, "download": False, "device": "cpu"},
        length_key="epochs",
        source="mnist-idx",
        checkpoint_files=frozenset({"model.pt", "state.json"}),
        evaluate_keys=frozenset({"mean_accuracy", "loss"}),
        same_data={"mean_accuracy": "mean_accuracy", "loss": "loss"},
    ),
    JobCase(
        name="cifar_torch",
        home_data="cifar-10-batches-py",
        make_data=lambda d: make_cifar_dir(d / "cifar"),
        config={"train_limit": 160, "test_limit": 40, "device": "cpu"},
        length_key="epochs",
        source="cifar-10",
        checkpoint_files=frozenset({"model.pt", "state.json"}),
        evaluate_keys=frozenset({"accuracy", "loss"}),
    ),
    JobCase(
        name="mnist_keras",
        home_data="mnist",
        make_data=lambda d: make_mnist_dir(d / "mnist"),
        config={"batch_size": 32, "train_limit": 128, "test_limit": 64, "download": False},
        length_key="epochs",
        source="mnist-idx",
        checkpoint_files=frozenset({"model.keras", "state.json"}),
        evaluate_keys=frozenset({"mean_accuracy", "loss"}),
        same_data={"mean_accuracy": "mean_accuracy", "loss": "loss"},
        space={"hidden": {"randint": [16, 32]}},
    ),
    JobCase(
        name="lyrics_lstm",
        home_data="lyrics",
        make_data=lambda d: make_lyrics_dir(d / "lyrics"),
        config={"batch_size": 32, "train_limit": 160, "device": "cpu"},
        length_key="epochs",
        source="lyrics-files",
        checkpoint_files=frozenset({"model.keras", "vocab.json", "state.json"}),
        evaluate_keys=frozenset({"val_loss"}),
        same_data={"val_loss": "val_loss"},
        rel=0.05,
        reads_uris=True,
        space={"embedding_size": {"randint": [8, 16]}, "hidden_size": {"randint": [8, 16]}},
    ),
    JobCase(
        name="bank_xgboost",
        home_data="bank-marketing",
        make_data=lambda d: make_bank_dir(d / "bank"),
        config={"device": "cpu"},
        length_key="num_round",
        source="bank-additional-full",
        checkpoint_files=frozenset({"model.ubj"}),
        evaluate_keys=frozenset({"test-auc"}),
        progress=booster_attributes,
        reports_epoch=False,
        reads_uris=True,
    ),
)
BY_NAME: dict[str, JobCase] = {case.name: case for case in CASES}
