"""Ray Tune function trainable: the tutorial's CIFAR-10 CNN ``Net(l1, l2)`` trained with SGD(lr, momentum 0.9).

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

Checkpoint layout, one per epoch (``Checkpoint.from_directory``; the experiment's ``checkpoint.numToKeep``
decides how many survive)::

    model.pt     Net's state_dict, CPU tensors (torch.save; load with weights_only=True)
    state.json   {"epoch": <int>, "l1": <int>, "l2": <int>, "source": "cifar-10" | "sklearn-digits-rgb"}

Config keys (anything else is ignored): ``l1``, ``l2``, ``lr`` and ``batch_size`` (required: the tutorial's
search space), ``momentum`` (0.9), ``epochs`` (10), ``train_limit`` / ``test_limit`` (none: use only the first
N images of a fixed shuffle of the training / test split, for smoke runs), ``data_dir`` (default
``$KUBETUNE_DATA_DIR``, then ``~/data/cifar-10-batches-py``; use an absolute path, trials do not run where the
driver started), ``seed`` (none: fix it for reproducible trials), ``device`` ("auto": CUDA when visible, else
CPU; "cpu" forces the CPU).

``load_checkpoint(path)`` and ``evaluate(model, config)`` are the convention ``kubetune best`` calls.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from ray import tune
from ray.tune import Checkpoint, Result

from jobs import smoke
from jobs.cifar_torch.data import DATA_DIR_ENV, CifarData, load_cifar10, normalize, resolve_data_dir
from jobs.cifar_torch.model import Net, get_device
from jobs.settings import at_least, integer, invalid, one_of, optional_integer, require

logger = logging.getLogger(__name__)

MODEL_FILE = "model.pt"
STATE_FILE = "state.json"
METRIC_KEYS = ("loss", "accuracy", "epoch")

DEFAULT_EPOCHS = 10
# The tutorial's fixed SGD momentum.
DEFAULT_MOMENTUM = 0.9
# Share of the (possibly limited) training split that trains; the rest validates. The tutorial's 80/20.
TRAIN_FRACTION = 0.8
# Seed of the shuffle behind the train/validation split and the limits; shared by all trials on purpose.
SPLIT_SEED = 0
# Evaluation batch size: large batches, no gradients, bounded memory.
EVAL_BATCH_SIZE = 1000

# One dataset per directory per process: with `reuse_actors` the next trial in the same process skips the
# parse (and logs the fallback warning only once).
_DATA_CACHE: dict[Path, CifarData] = {}


@dataclass(frozen=True)
class TrialSettings:
    """A trial's config, parsed and checked once, so that a bad value fails the trial at once with its key."""

    l1: int
    l2: int
    lr: float
    batch_size: int
    momentum: float = DEFAULT_MOMENTUM
    epochs: int = DEFAULT_EPOCHS
    train_limit: int | None = None
    test_limit: int | None = None
    data_dir: Path | None = None
    seed: int | None = None
    device: str = "auto"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TrialSettings:
        """Coerce search-space values (numpy scalars too) to plain types; ``ValueError`` names a bad key."""
        require(config, ("l1", "l2", "lr", "batch_size"))
        settings = cls(
            l1=integer(config, "l1"),
            l2=integer(config, "l2"),
            lr=float(config["lr"]),
            batch_size=integer(config, "batch_size"),
            momentum=float(config.get("momentum", DEFAULT_MOMENTUM)),
            epochs=integer(config, "epochs", DEFAULT_EPOCHS),
            train_limit=optional_integer(config, "train_limit"),
            test_limit=optional_integer(config, "test_limit"),
            data_dir=resolve_data_dir(config.get("data_dir")),
            seed=optional_integer(config, "seed"),
            device=str(config.get("device", "auto")),
        )
        if settings.lr <= 0:
            raise invalid("lr", "> 0", settings.lr)
        if settings.momentum < 0:
            raise invalid("momentum", ">= 0", settings.momentum)
        at_least(settings, ("l1", "l2", "batch_size", "epochs"))
        if settings.train_limit is not None and settings.train_limit < 2:
            raise invalid("train_limit", ">= 2 (a training and a validation image)", settings.train_limit)
        at_least(settings, ("test_limit",))
        one_of("device", settings.device, ("auto", "cpu", "cuda"))
        return settings

    def torch_device(self) -> torch.device:
        """The device to train on: ``auto`` picks CUDA when the trial can see a GPU."""
        return get_device() if self.device == "auto" else torch.device(self.device)


def _data(data_dir: Path | None) -> CifarData:
    """The dataset for this process, loaded once (see ``_DATA_CACHE``)."""
    directory = resolve_data_dir(data_dir)
    if directory not in _DATA_CACHE:
        _DATA_CACHE[directory] = load_cifar10(directory)
    return _DATA_CACHE[directory]


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


def _score(
    model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device
) -> dict[str, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``uint8`` images, in large no-grad batches."""
    if len(labels) == 0:
        raise ValueError("cannot evaluate on an empty split")
    model.eval()
    correct = 0
    total_loss = 0.0
    with torch.no_grad():
        for xb, yb in zip(torch.split(images, EVAL_BATCH_SIZE), torch.split(labels, EVAL_BATCH_SIZE), strict=True):
            logits = model(normalize(xb.to(device)))
            target = yb.to(device)
            total_loss += float(F.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(dim=1) == target).sum())
    return {"loss": total_loss / len(labels), "accuracy": correct / len(labels)}


def _train_epoch(
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
) -> None:
    """One pass over the training images in a fresh random order, as the tutorial's shuffled DataLoader."""
    model.train()
    for batch in torch.split(torch.randperm(len(labels), generator=generator), batch_size):
        x = normalize(images[batch].to(device))
        y = labels[batch].to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
        optimizer.step()


def _restore(model: Net, checkpoint: Checkpoint, device: torch.device, source: str) -> int:
    """Load a reported checkpoint into ``model``; return the epoch it was taken after.

    Only the weights travel: SGD's momentum buffers restart, which is also what PBT wants when it hands the
    weights to a trial with a different ``lr``. ``l1``/``l2`` shape the weights, so a checkpoint of other
    widths is an error (PBT must not mutate them), not a silent partial load.
    """
    with checkpoint.as_directory() as directory:
        state = json.loads((Path(directory) / STATE_FILE).read_text())
        if (state.get("l1"), state.get("l2")) != (model.l1, model.l2):
            raise ValueError(
                f"checkpoint {checkpoint.path} holds a Net(l1={state.get('l1')}, l2={state.get('l2')}) but this trial "
                f"builds Net(l1={model.l1}, l2={model.l2}); l1 and l2 shape the weights and cannot change mid-trial"
            )
        state_dict = torch.load(Path(directory) / MODEL_FILE, map_location=device, weights_only=True)
    model.load_state_dict(state_dict)
    if state.get("source") != source:
        logger.warning("resuming from a checkpoint trained on %r data with %r data", state.get("source"), source)
    return int(state["epoch"])


def train(config: dict[str, Any]) -> None:
    """Train ``Net(l1, l2)``, reporting the metric keys and a checkpoint after every epoch.

    Resumes after the epoch of ``tune.get_checkpoint()`` when there is one (failure retries,
    ``Tuner.restore``, PBT exploits), so a trial never repeats an epoch it already reported.
    """
    settings = TrialSettings.from_config(config)
    device = settings.torch_device()
    data = _data(settings.data_dir)
    train_idx, val_idx = split_indices(len(data.train_labels), settings.train_limit)
    train_images, train_labels = data.train_images[train_idx], data.train_labels[train_idx]
    val_images, val_labels = data.train_images[val_idx], data.train_labels[val_idx]
    if settings.seed is not None:
        torch.manual_seed(settings.seed)
    model = Net(settings.l1, settings.l2).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum)

    start = 1
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        start = _restore(model, checkpoint, device, data.source) + 1

    generator = torch.Generator()
    for epoch in range(start, settings.epochs + 1):
        # Seeded per epoch, so a resumed trial draws the batches an uninterrupted one would have.
        if settings.seed is None:
            generator.seed()
        else:
            generator.manual_seed(settings.seed + epoch)
        _train_epoch(
            model=model,
            optimizer=optimizer,
            images=train_images,
            labels=train_labels,
            batch_size=settings.batch_size,
            generator=generator,
            device=device,
        )
        scores = _score(model, val_images, val_labels, device)
        with tempfile.TemporaryDirectory() as directory:
            # CPU tensors: the checkpoint then loads anywhere, with or without map_location.
            torch.save({k: v.cpu() for k, v in model.state_dict().items()}, Path(directory) / MODEL_FILE)
            state = {"epoch": epoch, "l1": settings.l1, "l2": settings.l2, "source": data.source}
            (Path(directory) / STATE_FILE).write_text(json.dumps(state))
            tune.report(
                {"loss": scores["loss"], "accuracy": scores["accuracy"], "epoch": epoch},
                checkpoint=Checkpoint.from_directory(directory),
            )


def load_checkpoint(path: str | os.PathLike[str]) -> Net:
    """The ``Net`` saved in a checkpoint directory (a local path or a storage URI such as ``s3://...``).

    Its widths come from ``state.json``. The model is on :func:`get_device` and in eval mode, ready for
    :func:`evaluate`.
    """
    device = get_device()
    with Checkpoint(os.fspath(path)).as_directory() as directory:
        model_file, state_file = Path(directory) / MODEL_FILE, Path(directory) / STATE_FILE
        for required in (model_file, state_file):
            if not required.is_file():
                raise FileNotFoundError(f"{path} is not a cifar_torch checkpoint: it has no {required.name}")
        state = json.loads(state_file.read_text())
        state_dict = torch.load(model_file, map_location=device, weights_only=True)
    model = Net(int(state["l1"]), int(state["l2"])).to(device)
    model.load_state_dict(state_dict)
    return model.eval()


def evaluate(model: torch.nn.Module, config: dict[str, Any]) -> dict[str, float]:
    """``accuracy`` and ``loss`` of ``model`` on the test split of the data ``config`` points at.

    Reads ``data_dir`` and ``test_limit`` from ``config`` (a trial's config works as is): the whole test split,
    or the first ``test_limit`` images of a fixed shuffle of it.
    """
    limit = optional_integer(config, "test_limit")
    data = _data(resolve_data_dir(config.get("data_dir")))
    idx = _test_indices(len(data.test_labels), limit)
    device = next(model.parameters()).device
    return _score(model, data.test_images[idx], data.test_labels[idx], device)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--l1", type=int, default=64, help="width of the first hidden layer")
    parser.add_argument("--l2", type=int, default=32, help="width of the second hidden layer")
    parser.add_argument("--lr", type=float, default=0.01, help="SGD learning rate")
    parser.add_argument("--batch-size", type=int, default=8, help="training batch size")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="epochs (= reports) per trial")
    parser.add_argument("--train-limit", type=int, default=None, help="use only this many training images")
    parser.add_argument("--test-limit", type=int, default=None, help="score only this many test images")
    parser.add_argument(
        "--data-dir",
        default=None,
        help=f"directory of the CIFAR-10 batch files (default: ${DATA_DIR_ENV}, else ~/data/cifar-10-batches-py)",
    )


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    return smoke.parse_args(
        argv,
        prog="python -m jobs.cifar_torch.trainable",
        description="One trial of the CIFAR-10 CNN on a local Ray (sweeps: kubetune run experiment.yaml).",
        smoke_help="one tiny CPU trial (1 epoch, train_limit 500, test_limit 100) to check the job end to end",
        add_arguments=_add_arguments,
    )


def _run(args: argparse.Namespace, storage_path: Path) -> int:
    """Run the trial through ``ray.tune.Tuner``, then score its checkpoint on the test split; 0 on success."""
    config: dict[str, Any] = {
        "l1": args.l1,
        "l2": args.l2,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "train_limit": args.train_limit,
        "test_limit": args.test_limit,
        "data_dir": str(resolve_data_dir(args.data_dir)),
    }
    if args.smoke_test:
        config.update(epochs=1, train_limit=500, test_limit=100, device="cpu")

    def summarize(result: Result, checkpoint: Checkpoint) -> dict[str, Any]:
        summary = smoke.metrics_and_source(METRIC_KEYS)(result, checkpoint)
        summary.update(test=evaluate(load_checkpoint(checkpoint.path), config))
        return summary

    return smoke.run_one_trial(
        train,
        config,
        name="cifar-torch",
        smoke_test=args.smoke_test,
        metric="loss",
        mode="min",
        storage_path=storage_path,
        summarize=summarize,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: one trial, printed as JSON (metrics, data source, checkpoint, test scores)."""
    args = _parse_args(argv)
    return smoke.in_storage(args.storage_path, "cifar-torch", lambda storage: _run(args, storage))


if __name__ == "__main__":
    raise SystemExit(main())
