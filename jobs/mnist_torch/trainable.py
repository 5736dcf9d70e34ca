"""Ray Tune function trainable: the tutorial's MNIST ConvNet trained with SGD(lr, momentum).

Metric keys, reported once per epoch with ``tune.report`` (fixed: ``experiment.yaml``, the dashboards and
``kubetune best`` rely on them):

``mean_accuracy``
    float in [0, 1]: accuracy on ``test_size`` test samples, the same samples in every trial and every epoch
    so that ASHA compares like with like.
``loss``
    float: mean negative log-likelihood on those samples.
``epoch``
    int, 1-based: the epoch just finished. A resumed trial continues from its checkpoint's epoch instead of
    starting again at 1, so after a failure retry or a restore it still equals ``training_iteration``.

The epoch loop and the checkpoints (``model.pt``, ``state.json`` with ``epoch`` and ``source``) are
:mod:`jobs.torch_loop`'s, shared with the CIFAR-10 job. Config keys: :class:`TrialSettings` (any other key is an
error naming it). ``load_checkpoint(path)`` and ``evaluate(model, config)`` are the convention ``kubetune best``
calls (:mod:`jobs.contract`).
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

from jobs import smoke, torch_loop
from jobs.mnist_torch.data import DATA_DIR_ENV, MnistData, load_mnist, normalize, resolve_data_dir
from jobs.mnist_torch.model import ConvNet
from jobs.settings import Settings, setting

METRIC_KEYS = ("mean_accuracy", "loss", "epoch")
TASK = torch_loop.Task(loss=F.nll_loss, normalize=normalize, accuracy_key="mean_accuracy")
# Seed of the permutation that picks the `test_size` evaluation samples; shared by all trials on purpose.
EVAL_SEED = 0


class TrialSettings(Settings):
    """A trial's config, parsed and checked once, so that a bad value fails the trial at once with its key."""

    lr: float = setting(help="SGD learning rate (searched: log-uniform 1e-4 ... 1e-1)", example=0.01, above=0)
    momentum: float = setting(help="SGD momentum (searched: uniform 0.1 ... 0.9)", example=0.5, at_least=0)
    epochs: int = setting(default=10, help="epochs (= reports) per trial", at_least=1)
    batch_size: int = setting(default=64, help="training batch size", at_least=1)
    epoch_size: int = setting(default=512, help="training samples per epoch (the tutorial's short epochs)", at_least=1)
    test_size: int = setting(default=256, help="test samples scored per epoch, the same in every trial", at_least=1)
    data_dir: Path | None = setting(
        default=None,
        help=f"directory of the MNIST IDX files (default: ${DATA_DIR_ENV}, else ~/data/mnist)",
        resolve=resolve_data_dir,
    )
    download: bool = setting(default=True, help="download missing IDX files before falling back to the digits")
    seed: int | None = setting(default=None, help="seed for reproducible initialisation and batches (default: none)")
    device: str = setting(default="auto", help="auto: CUDA when the trial sees a GPU", one_of=torch_loop.DEVICES)


@functools.cache
def _data(directory: Path, download: bool) -> MnistData:
    """The dataset, loaded once per process: with ``reuse_actors`` the next trial in the same process skips the
    parse (and logs the fallback warning only once)."""
    return load_mnist(directory, download=download)


def train(config: dict[str, Any]) -> None:
    """Train the ConvNet, reporting the metric keys and a checkpoint after every epoch (see the module)."""
    settings = TrialSettings.from_config(config)
    device = torch_loop.pick_device(settings.device)
    data = _data(resolve_data_dir(settings.data_dir), settings.download)
    if settings.seed is not None:
        torch.manual_seed(settings.seed)
    model = ConvNet().to(device)
    eval_order = torch.randperm(len(data.test_labels), generator=torch.Generator().manual_seed(EVAL_SEED))
    eval_idx = eval_order[: settings.test_size]
    torch_loop.fit(
        session=tune,
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum),
        task=TASK,
        device=device,
        train=(data.train_images, data.train_labels),
        validation=(data.test_images[eval_idx], data.test_labels[eval_idx]),
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        samples=settings.epoch_size,
        seed=settings.seed,
        state={"source": data.source},
    )


def load_checkpoint(path: str | os.PathLike[str]) -> torch.nn.Module:
    """The ConvNet saved in a checkpoint directory (a local path or a storage URI such as ``s3://...``).

    The model is on the trial's default device and in eval mode, ready for :func:`evaluate`.
    """
    return torch_loop.load_model(path, job="mnist_torch", build=lambda state: ConvNet())


def evaluate(model: torch.nn.Module, config: dict[str, Any]) -> dict[str, float]:
    """``mean_accuracy`` and ``loss`` of ``model`` on the whole test split of the data ``config`` points at.

    Only ``data_dir`` and ``download`` are read from ``config`` (a trial's config works as is).
    """
    data = _data(resolve_data_dir(TrialSettings.read(config, "data_dir")), TrialSettings.read(config, "download"))
    device = next(model.parameters()).device
    return torch_loop.score(model, data.test_images, data.test_labels, task=TASK, device=device)


COMMAND = smoke.Command(
    name="mnist-torch",
    description="One trial of the MNIST ConvNet on a local Ray (sweeps: kubetune run experiment.yaml).",
    settings=TrialSettings,
    smoke={"epochs": 1, "epoch_size": 64, "test_size": 64, "device": "cpu"},
    metric="mean_accuracy",
    mode="max",
    summarize=smoke.metrics_and_source(METRIC_KEYS),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: one trial, printed as JSON (metric keys, data source, checkpoint path)."""
    return smoke.main(COMMAND, train, argv)


if __name__ == "__main__":
    raise SystemExit(main())
