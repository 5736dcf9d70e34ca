"""Ray Tune function trainable: the tutorial's CIFAR-10 CNN ``Net(l1, l2)`` trained with SGD(lr, momentum 0.9).

Or with the optimizer an ``optimizer`` group names, SGD or Adam with its own keys (:mod:`jobs.cifar_torch.optimizers`):
the option a conditional search space drew (``experiment.optimizers.yaml``). The group replaces the flat ``lr`` and
``momentum``; a config that sets both fails the trial, naming the key.

Metric keys, reported once per epoch with ``tune.report`` (fixed: ``experiment.yaml``, the dashboards and
``kubetune best`` rely on them):

``loss``
    float: mean cross-entropy on the validation split (the experiment's ``metric``, ``mode: min``).
``accuracy``
    float in [0, 1]: accuracy on the validation split.
``epoch``
    int, 1-based: the epoch just finished. A resumed trial continues from its checkpoint's epoch, so after a
    failure retry or a restore it still equals ``training_iteration``.

As in the tutorial, the validation split is 20% of the training set, held out of training; unlike the
tutorial it is drawn with a fixed seed, so every trial is scored on the same images and ASHA compares like with
like. The test split is only used by :func:`evaluate`.

The epoch loop and the checkpoints are :mod:`jobs.torch_loop`'s, shared with the MNIST job; ``state.json`` also
holds ``l1`` and ``l2``, which shape the weights: a checkpoint of other widths fails the trial (PBT must not
mutate them) instead of half-loading. Config keys: :class:`TrialSettings` (any other key is an error naming it).
``load_checkpoint(path)`` and ``evaluate(model, config)`` are the convention ``kubetune best`` calls
(:mod:`jobs.contract`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from ray import tune
from ray.tune import Checkpoint, Result

from jobs import smoke, torch_loop
from jobs.cifar_torch.data import DATA_DIR_ENV, CifarData, load_cifar10, normalize, resolve_data_dir
from jobs.cifar_torch.model import Net
from jobs.cifar_torch.optimizers import DEFAULT_MOMENTUM, OPTIMIZERS, OptimizerSettings, choose
from jobs.settings import Settings, setting

METRIC_KEYS = ("loss", "accuracy", "epoch")
TASK = torch_loop.Task(loss=F.cross_entropy, normalize=normalize, accuracy_key="accuracy")
# Share of the (possibly limited) training split that trains; the rest validates. The tutorial's 80/20.
TRAIN_FRACTION = 0.8
# Seed of the shuffle behind the train/validation split and the limits; shared by all trials on purpose.
SPLIT_SEED = 0


class TrialSettings(Settings):
    """A trial's config, parsed and checked once, so that a bad value fails the trial at once with its key."""

    l1: int = setting(help="width of the first hidden layer", example=64, at_least=1, group="architecture")
    l2: int = setting(help="width of the second hidden layer", example=32, at_least=1, group="architecture")
    lr: float | None = setting(help="SGD learning rate", example=0.01, above=0)
    batch_size: int = setting(help="training batch size", example=8, at_least=1)
    momentum: float | None = setting(
        default=DEFAULT_MOMENTUM, help="SGD momentum (the tutorial's fixed value)", at_least=0
    )
    optimizer: OptimizerSettings | None = setting(
        default=None,
        help="instead of lr and momentum: a group {name: sgd, lr, momentum} or {name: adam, lr, beta1, beta2}",
        variants=OPTIMIZERS,
        replaces=("lr", "momentum"),
    )
    epochs: int = setting(default=10, help="epochs (= reports) per trial", at_least=1)
    train_limit: int | None = setting(
        default=None,
        help="use only this many training images (default: all)",
        at_least=2,
        why="a training and a validation image",
    )
    test_limit: int | None = setting(default=None, help="score only this many test images (default: all)", at_least=1)
    data_dir: Path | None = setting(
        default=None,
        help=f"directory of the CIFAR-10 batch files (default: ${DATA_DIR_ENV}, else ~/data/cifar-10-batches-py)",
        resolve=resolve_data_dir,
    )
    seed: int | None = setting(default=None, help="seed for reproducible initialisation and batches (default: none)")
    device: str = setting(default="auto", help="auto: CUDA when the trial sees a GPU", one_of=torch_loop.DEVICES)


@functools.cache
def _data(directory: Path) -> CifarData:
    """The dataset, loaded once per process: with ``reuse_actors`` the next trial in the same process skips the
    parse (and logs the fallback warning only once)."""
    return load_cifar10(directory)


def split_indices(n_train: int, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Training and validation indices into a training split of ``n_train`` images.

    A fixed shuffle (``SPLIT_SEED``), cut to ``limit`` images, then split 80/20 as in the tutorial.
    """
    order = torch.randperm(n_train, generator=torch.Generator().manual_seed(SPLIT_SEED))
    if limit is not None:
        order = order[:limit]
    cut = int(len(order) * TRAIN_FRACTION)
    if cut == 0 or cut == len(order):
        raise ValueError(f"{len(order)} training images cannot be split {TRAIN_FRACTION:.0%}/{1 - TRAIN_FRACTION:.0%}")
    return order[:cut], order[cut:]


def _test_indices(n_test: int, limit: int | None) -> torch.Tensor:
    """The test images :func:`evaluate` scores: all of them, or the first ``limit`` of a fixed shuffle."""
    if limit is None:
        return torch.arange(n_test)
    return torch.randperm(n_test, generator=torch.Generator().manual_seed(SPLIT_SEED))[:limit]


def train(config: dict[str, Any]) -> None:
    """Train ``Net(l1, l2)``, reporting the metric keys and a checkpoint after every epoch (see the module)."""
    settings = TrialSettings.from_config(config)
    device = torch_loop.pick_device(settings.device)
    data = _data(resolve_data_dir(settings.data_dir))
    train_idx, val_idx = split_indices(len(data.train_labels), settings.train_limit)
    if settings.seed is not None:
        torch.manual_seed(settings.seed)
    model = Net(settings.l1, settings.l2).to(device)
    torch_loop.fit(
        session=tune,
        model=model,
        optimizer=choose(settings.optimizer, lr=settings.lr, momentum=settings.momentum).build(model.parameters()),
        task=TASK,
        device=device,
        train=(data.train_images[train_idx], data.train_labels[train_idx]),
        validation=(data.train_images[val_idx], data.train_labels[val_idx]),
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        seed=settings.seed,
        state={**settings.group("architecture"), "source": data.source},
        fixed=TrialSettings.keys("architecture"),
    )


def load_checkpoint(path: str | os.PathLike[str]) -> torch.nn.Module:
    """The ``Net`` saved in a checkpoint directory (a local path or a storage URI such as ``s3://...``).

    Its widths come from ``state.json``. The model is on the trial's default device and in eval mode, ready for
    :func:`evaluate`.
    """
    return torch_loop.load_model(path, job="cifar_torch", build=lambda state: Net(int(state["l1"]), int(state["l2"])))


def evaluate(model: torch.nn.Module, config: dict[str, Any]) -> dict[str, float]:
    """``accuracy`` and ``loss`` of ``model`` on the test split of the data ``config`` points at.

    Reads ``data_dir`` and ``test_limit`` from ``config`` (a trial's config works as is): the whole test split,
    or the first ``test_limit`` images of a fixed shuffle of it.
    """
    data = _data(resolve_data_dir(TrialSettings.read(config, "data_dir")))
    idx = _test_indices(len(data.test_labels), TrialSettings.read(config, "test_limit"))
    device = next(model.parameters()).device
    return torch_loop.score(model, data.test_images[idx], data.test_labels[idx], task=TASK, device=device)


def _summarize(result: Result, checkpoint: Checkpoint) -> dict[str, Any]:
    """The reported metrics, the data source, the checkpoint, and the checkpoint's scores on the test split."""
    summary = smoke.metrics_and_source(METRIC_KEYS)(result, checkpoint)
    summary.update(test=evaluate(load_checkpoint(checkpoint.path), result.config or {}))
    return summary


COMMAND = smoke.Command(
    name="cifar-torch",
    description="One trial of the CIFAR-10 CNN on a local Ray (sweeps: kubetune run experiment.yaml).",
    settings=TrialSettings,
    smoke={"epochs": 1, "train_limit": 500, "test_limit": 100, "device": "cpu"},
    metric="loss",
    mode="min",
    summarize=_summarize,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: one trial, printed as JSON (metrics, data source, checkpoint, test scores)."""
    return smoke.main(COMMAND, train, argv)


if __name__ == "__main__":
    raise SystemExit(main())
