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

Checkpoint layout, one per epoch (``Checkpoint.from_directory``; the experiment's ``checkpoint.numToKeep``
decides how many survive)::

    model.pt     the ConvNet's state_dict, CPU tensors (torch.save; load with weights_only=True)
    state.json   {"epoch": <int>, "source": "mnist-idx" | "sklearn-digits"}

Config keys (anything else is ignored): ``lr`` and ``momentum`` (required), ``epochs`` (10), ``batch_size``
(64), ``epoch_size`` (512 training samples per epoch, as in the tutorial), ``test_size`` (256), ``data_dir``
(default ``$KUBETUNE_DATA_DIR``, then ``~/data/mnist``; use an absolute path, trials do not run where the
driver started), ``download`` (true: fetch missing IDX files), ``seed`` (none: fix it for reproducible
trials), ``device`` ("auto": CUDA when visible, else CPU; "cpu" forces the CPU).

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
from ray.tune import Checkpoint

from jobs import smoke
from jobs.mnist_torch.data import DATA_DIR_ENV, MnistData, load_mnist, normalize, resolve_data_dir
from jobs.mnist_torch.model import ConvNet, get_device
from jobs.settings import at_least, invalid, one_of, require

logger = logging.getLogger(__name__)

MODEL_FILE = "model.pt"
STATE_FILE = "state.json"
METRIC_KEYS = ("mean_accuracy", "loss", "epoch")

DEFAULT_EPOCHS = 10
DEFAULT_BATCH_SIZE = 64
DEFAULT_EPOCH_SIZE = 512
DEFAULT_TEST_SIZE = 256
# Seed of the permutation that picks the `test_size` evaluation samples; shared by all trials on purpose.
EVAL_SEED = 0
# Evaluation batch size: large batches, no gradients, bounded memory on the full 10k test split.
EVAL_BATCH_SIZE = 1000

# One dataset per (directory, download) per process: cheap to keep, and with `reuse_actors` the next trial in
# the same process skips the parse (and logs the fallback warning only once).
_DATA_CACHE: dict[tuple[Path, bool], MnistData] = {}


@dataclass(frozen=True)
class TrialSettings:
    """A trial's config, parsed and checked once, so that a bad value fails the trial at once with its key."""

    lr: float
    momentum: float
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    epoch_size: int = DEFAULT_EPOCH_SIZE
    test_size: int = DEFAULT_TEST_SIZE
    data_dir: Path | None = None
    download: bool = True
    seed: int | None = None
    device: str = "auto"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TrialSettings:
        """Coerce search-space values (numpy scalars too) to plain types; ``ValueError`` names a bad key."""
        require(config, ("lr", "momentum"))
        settings = cls(
            lr=float(config["lr"]),
            momentum=float(config["momentum"]),
            epochs=int(config.get("epochs", DEFAULT_EPOCHS)),
            batch_size=int(config.get("batch_size", DEFAULT_BATCH_SIZE)),
            epoch_size=int(config.get("epoch_size", DEFAULT_EPOCH_SIZE)),
            test_size=int(config.get("test_size", DEFAULT_TEST_SIZE)),
            data_dir=resolve_data_dir(config.get("data_dir")),
            download=bool(config.get("download", True)),
            seed=None if config.get("seed") is None else int(config["seed"]),
            device=str(config.get("device", "auto")),
        )
        if settings.lr <= 0:
            raise invalid("lr", "> 0", settings.lr)
        if settings.momentum < 0:
            raise invalid("momentum", ">= 0", settings.momentum)
        at_least(settings, ("epochs", "batch_size", "epoch_size", "test_size"))
        one_of("device", settings.device, ("auto", "cpu", "cuda"))
        return settings

    def torch_device(self) -> torch.device:
        """The device to train on: ``auto`` picks CUDA when the trial can see a GPU."""
        return get_device() if self.device == "auto" else torch.device(self.device)


def _data(data_dir: Path | None, download: bool) -> MnistData:
    """The dataset for this process, loaded once (see ``_DATA_CACHE``)."""
    directory = resolve_data_dir(data_dir)
    key = (directory, download)
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = load_mnist(directory, download=download)
    return _DATA_CACHE[key]


def _score(
    model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device
) -> dict[str, float]:
    """Accuracy and mean NLL of ``model`` on ``uint8`` images, in large no-grad batches."""
    if len(labels) == 0:
        raise ValueError("cannot evaluate on an empty test split")
    model.eval()
    correct = 0
    total_loss = 0.0
    with torch.no_grad():
        for xb, yb in zip(torch.split(images, EVAL_BATCH_SIZE), torch.split(labels, EVAL_BATCH_SIZE), strict=True):
            output = model(normalize(xb).to(device))
            target = yb.to(device)
            total_loss += float(F.nll_loss(output, target, reduction="sum"))
            correct += int((output.argmax(dim=1) == target).sum())
    return {"mean_accuracy": correct / len(labels), "loss": total_loss / len(labels)}


def _train_epoch(
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    data: MnistData,
    settings: TrialSettings,
    generator: torch.Generator,
    device: torch.device,
) -> None:
    """One tutorial "epoch": ``epoch_size`` random training samples (all of them if the split is smaller)."""
    model.train()
    indices = torch.randperm(len(data.train_labels), generator=generator)[: settings.epoch_size]
    for batch in torch.split(indices, settings.batch_size):
        x = normalize(data.train_images[batch]).to(device)
        y = data.train_labels[batch].to(device)
        optimizer.zero_grad()
        loss = F.nll_loss(model(x), y)
        loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
        optimizer.step()


def _restore(model: torch.nn.Module, checkpoint: Checkpoint, device: torch.device, source: str) -> int:
    """Load a reported checkpoint into ``model``; return the epoch it was taken after.

    Only the weights travel: SGD's momentum buffers restart, which is also what PBT wants when it hands the
    weights to a trial with a different ``lr`` and ``momentum``.
    """
    with checkpoint.as_directory() as directory:
        state_dict = torch.load(Path(directory) / MODEL_FILE, map_location=device, weights_only=True)
        state = json.loads((Path(directory) / STATE_FILE).read_text())
    model.load_state_dict(state_dict)
    if state.get("source") != source:
        logger.warning("resuming from a checkpoint trained on %r data with %r data", state.get("source"), source)
    return int(state["epoch"])


def train(config: dict[str, Any]) -> None:
    """Train the ConvNet, reporting the metric keys and a checkpoint after every epoch.

    Resumes after the epoch of ``tune.get_checkpoint()`` when there is one (failure retries,
    ``Tuner.restore``, PBT exploits), so a trial never repeats an epoch it already reported.
    """
    settings = TrialSettings.from_config(config)
    device = settings.torch_device()
    data = _data(settings.data_dir, settings.download)
    if settings.seed is not None:
        torch.manual_seed(settings.seed)
    model = ConvNet().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum)

    start = 1
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        start = _restore(model, checkpoint, device, data.source) + 1

    eval_order = torch.randperm(len(data.test_labels), generator=torch.Generator().manual_seed(EVAL_SEED))
    eval_idx = eval_order[: settings.test_size]
    generator = torch.Generator()
    for epoch in range(start, settings.epochs + 1):
        # Seeded per epoch, so a resumed trial draws the batches an uninterrupted one would have.
        if settings.seed is None:
            generator.seed()
        else:
            generator.manual_seed(settings.seed + epoch)
        _train_epoch(model=model, optimizer=optimizer, data=data, settings=settings, generator=generator, device=device)
        scores = _score(model, data.test_images[eval_idx], data.test_labels[eval_idx], device)
        with tempfile.TemporaryDirectory() as directory:
            # CPU tensors: the checkpoint then loads anywhere, with or without map_location.
            torch.save({k: v.cpu() for k, v in model.state_dict().items()}, Path(directory) / MODEL_FILE)
            (Path(directory) / STATE_FILE).write_text(json.dumps({"epoch": epoch, "source": data.source}))
            tune.report(
                {"mean_accuracy": scores["mean_accuracy"], "loss": scores["loss"], "epoch": epoch},
                checkpoint=Checkpoint.from_directory(directory),
            )


def load_checkpoint(path: str | os.PathLike[str]) -> ConvNet:
    """The ConvNet saved in a checkpoint directory (a local path or a storage URI such as ``s3://...``).

    The model is on :func:`get_device` and in eval mode, ready for :func:`evaluate`.
    """
    device = get_device()
    with Checkpoint(os.fspath(path)).as_directory() as directory:
        model_file = Path(directory) / MODEL_FILE
        if not model_file.is_file():
            raise FileNotFoundError(f"{path} is not a mnist_torch checkpoint: it has no {MODEL_FILE}")
        state_dict = torch.load(model_file, map_location=device, weights_only=True)
    model = ConvNet().to(device)
    model.load_state_dict(state_dict)
    return model.eval()


def evaluate(model: torch.nn.Module, config: dict[str, Any]) -> dict[str, float]:
    """``mean_accuracy`` and ``loss`` of ``model`` on the whole test split of the data ``config`` points at.

    Only ``data_dir`` and ``download`` are read from ``config`` (a trial's config works as is).
    """
    data = _data(resolve_data_dir(config.get("data_dir")), bool(config.get("download", True)))
    device = next(model.parameters()).device
    return _score(model, data.test_images, data.test_labels, device)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lr", type=float, default=0.01, help="SGD learning rate")
    parser.add_argument("--momentum", type=float, default=0.5, help="SGD momentum")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="epochs (= reports) per trial")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="training batch size")
    parser.add_argument("--epoch-size", type=int, default=DEFAULT_EPOCH_SIZE, help="training samples per epoch")
    parser.add_argument("--test-size", type=int, default=DEFAULT_TEST_SIZE, help="test samples scored per epoch")
    parser.add_argument(
        "--data-dir",
        default=None,
        help=f"directory of the MNIST IDX files (default: ${DATA_DIR_ENV}, else ~/data/mnist)",
    )
    parser.add_argument(
        "--no-download",
        action="store_true",
        help="never download; fall back to the digits when files are missing",
    )


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    return smoke.parse_args(
        argv,
        prog="python -m jobs.mnist_torch.trainable",
        description="One trial of the MNIST ConvNet on a local Ray (sweeps: kubetune run experiment.yaml).",
        smoke_help="one tiny CPU trial (1 epoch, epoch_size 64, test_size 64) to check the job end to end",
        add_arguments=_add_arguments,
    )


def _run(args: argparse.Namespace, storage_path: Path) -> int:
    """Run the trial through ``ray.tune.Tuner`` and print what it reported; 0 on success."""
    config: dict[str, Any] = {
        "lr": args.lr,
        "momentum": args.momentum,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "epoch_size": args.epoch_size,
        "test_size": args.test_size,
        "data_dir": str(resolve_data_dir(args.data_dir)),
        "download": not args.no_download,
    }
    if args.smoke_test:
        config.update(epochs=1, epoch_size=64, test_size=64, device="cpu")

    return smoke.run_one_trial(
        train,
        config,
        name="mnist-torch",
        smoke_test=args.smoke_test,
        metric="mean_accuracy",
        mode="max",
        storage_path=storage_path,
        summarize=smoke.metrics_and_source(METRIC_KEYS),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: one trial, printed as JSON (metric keys, data source, checkpoint path)."""
    args = _parse_args(argv)
    return smoke.in_storage(args.storage_path, "mnist-torch", lambda storage: _run(args, storage))


if __name__ == "__main__":
    raise SystemExit(main())
