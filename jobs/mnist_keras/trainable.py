"""Ray Tune function trainable: the Keras MNIST CNN of Ray's ``tune_mnist_keras`` example.

Reporting and checkpointing go through Ray's own Keras callback,
``ray.tune.integration.keras.TuneReportCheckpointCallback`` (not the ``ray.train`` / ``ray.air`` ones, which
call ``ray.train.report`` and fail inside Tune), once per epoch. Metric keys (fixed: the experiment files, the
dashboards and ``kubetune best`` rely on them):

``mean_accuracy``
    float in [0, 1]: Keras' ``val_accuracy`` (the experiments' ``metric``, ``mode: max``).
``loss``
    float: Keras' ``val_loss``, mean sparse categorical cross-entropy.
``epoch``
    int, 1-based: the epoch just finished. A resumed trial continues from its checkpoint's epoch, so it still
    equals ``training_iteration``.

As in the example, validation is the test split (all of it, or ``test_limit`` images).

Checkpoint layout, one per epoch (written by the callback; the experiment's ``checkpoint.numToKeep`` decides
how many survive)::

    model.keras   the whole compiled model (keras.saving; load_checkpoint() loads it)
    state.json    {"epoch": <int>, "source": "mnist-idx" | "sklearn-digits"}

A trial that starts from a checkpoint (a failure retry, ``Tuner.restore``, a PBT pause or exploit) builds the
model its own config describes, copies the checkpoint's weights into it and trains on from the next epoch.
So PBT's new ``lr``, ``momentum`` and dropout rates take effect; SGD's momentum buffers restart from zero.
``kernel1``, ``kernel2``, ``poolsize`` and ``hidden`` shape the weights and cannot change mid-trial: a
checkpoint of another shape fails the trial with a message saying so.

Config keys (anything else is ignored): ``kernel1``, ``kernel2``, ``poolsize``, ``hidden``, ``dropout1``,
``dropout2``, ``lr``, ``momentum`` (required: the example's model), ``epochs`` (10), ``batch_size`` (128),
``train_limit`` / ``test_limit`` (none: use only the first N images of each split, for smoke runs),
``data_dir`` (default ``$KUBETUNE_DATA_DIR``, then ``~/data/mnist``; use an absolute path), ``download``
(true: fetch missing IDX files), ``seed`` (none: fix it for reproducible trials).

``load_checkpoint(path)`` and ``evaluate(model, config)`` are the convention ``kubetune best`` calls.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
from ray import tune
from ray.train.tensorflow import TensorflowCheckpoint
from ray.tune import Checkpoint
from ray.tune.integration.keras import TuneReportCheckpointCallback

from jobs import smoke
from jobs.mnist_keras.data import DATA_DIR_ENV, MnistArrays, load_mnist_arrays, resolve_data_dir
from jobs.mnist_keras.model import build_model, enable_gpu_memory_growth
from jobs.settings import at_least, integer, invalid, optional_integer, require

logger = logging.getLogger(__name__)

MODEL_FILE = "model.keras"  # the name TuneReportCheckpointCallback saves the model under
STATE_FILE = "state.json"
METRIC_KEYS = ("mean_accuracy", "loss", "epoch")
# Reported key -> Keras log key, as TuneReportCheckpointCallback takes them ("epoch" is added by _TuneReport).
REPORTED_METRICS = {"mean_accuracy": "val_accuracy", "loss": "val_loss", "epoch": "epoch"}
# The hyperparameters that fix the weights' shapes.
ARCHITECTURE_KEYS = ("kernel1", "kernel2", "poolsize", "hidden")

DEFAULT_EPOCHS = 10
DEFAULT_BATCH_SIZE = 128
# Evaluation batch size: large batches, bounded memory on the full 10k test split.
EVAL_BATCH_SIZE = 1000

# One dataset per (directory, download) per process: with `reuse_actors` the next trial in the same process
# skips the parse (and logs the fallback warning only once).
_DATA_CACHE: dict[tuple[Path, bool], MnistArrays] = {}


@dataclass(frozen=True)
class TrialSettings:
    """A trial's config, parsed and checked once, so that a bad value fails the trial at once with its key."""

    kernel1: int
    kernel2: int
    poolsize: int
    hidden: int
    dropout1: float
    dropout2: float
    lr: float
    momentum: float
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    train_limit: int | None = None
    test_limit: int | None = None
    data_dir: Path | None = None
    download: bool = True
    seed: int | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TrialSettings:
        """Coerce search-space values (numpy scalars too) to plain types; ``ValueError`` names a bad key."""
        require(config, (*ARCHITECTURE_KEYS, "dropout1", "dropout2", "lr", "momentum"))
        settings = cls(
            kernel1=integer(config, "kernel1"),
            kernel2=integer(config, "kernel2"),
            poolsize=integer(config, "poolsize"),
            hidden=integer(config, "hidden"),
            dropout1=float(config["dropout1"]),
            dropout2=float(config["dropout2"]),
            lr=float(config["lr"]),
            momentum=float(config["momentum"]),
            epochs=integer(config, "epochs", DEFAULT_EPOCHS),
            batch_size=integer(config, "batch_size", DEFAULT_BATCH_SIZE),
            train_limit=optional_integer(config, "train_limit"),
            test_limit=optional_integer(config, "test_limit"),
            data_dir=resolve_data_dir(config.get("data_dir")),
            download=bool(config.get("download", True)),
            seed=optional_integer(config, "seed"),
        )
        at_least(settings, (*ARCHITECTURE_KEYS, "epochs", "batch_size"))
        for key in ("dropout1", "dropout2"):
            if not 0.0 <= getattr(settings, key) < 1.0:
                raise invalid(key, "in [0, 1)", getattr(settings, key))
        if settings.lr <= 0:
            raise invalid("lr", "> 0", settings.lr)
        if settings.momentum < 0:
            raise invalid("momentum", ">= 0", settings.momentum)
        at_least(settings, ("train_limit", "test_limit"))
        return settings

    def hyperparameters(self) -> dict[str, Any]:
        """The keyword arguments of :func:`jobs.mnist_keras.model.build_model`."""
        return {
            "kernel1": self.kernel1,
            "kernel2": self.kernel2,
            "poolsize": self.poolsize,
            "dropout1": self.dropout1,
            "dropout2": self.dropout2,
            "hidden": self.hidden,
            "lr": self.lr,
            "momentum": self.momentum,
        }


def _data(data_dir: Path | None, download: bool) -> MnistArrays:
    """The dataset for this process, loaded once (see ``_DATA_CACHE``)."""
    directory = resolve_data_dir(data_dir)
    key = (directory, download)
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = load_mnist_arrays(directory, download=download)
    return _DATA_CACHE[key]


class _TuneReport(TuneReportCheckpointCallback):
    """Ray's Keras callback, plus the 1-based ``epoch`` in every report and a ``state.json`` in every checkpoint.

    The stock callback's checkpoint holds only ``model.keras``; a resumed trial also needs to know which epoch
    it holds, and a reader which data it was trained on.
    """

    def __init__(self, *, source: str) -> None:
        super().__init__(metrics=REPORTED_METRICS, checkpoint_on="epoch_end")
        self._source = source

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        super().on_epoch_end(epoch, {**(logs or {}), "epoch": epoch + 1})  # type: ignore[no-untyped-call]

    def _save_and_report_checkpoint(self, metrics: dict[str, Any], checkpoint: TensorflowCheckpoint) -> None:
        state = {"epoch": int(metrics["epoch"]), "source": self._source}
        (Path(checkpoint.path) / STATE_FILE).write_text(json.dumps(state))
        super()._save_and_report_checkpoint(metrics, checkpoint)


def _restore(model: Any, checkpoint: Checkpoint, settings: TrialSettings, source: str) -> int:
    """Copy a reported checkpoint's weights into ``model``; return the epoch it was taken after."""
    with checkpoint.as_directory() as directory:
        state_file = Path(directory) / STATE_FILE
        if not state_file.is_file():
            raise FileNotFoundError(f"checkpoint {checkpoint.path} has no {STATE_FILE}: not a mnist_keras checkpoint")
        state = json.loads(state_file.read_text())
        saved = keras.models.load_model(Path(directory) / MODEL_FILE, compile=False)
    saved_shapes = [tuple(w.shape) for w in saved.weights]
    shapes = [tuple(w.shape) for w in model.weights]
    if saved_shapes != shapes:
        architecture = ", ".join(f"{key}={getattr(settings, key)}" for key in ARCHITECTURE_KEYS)
        raise ValueError(
            f"checkpoint {checkpoint.path} holds weights of other shapes than this trial's model ({architecture}): "
            f"{', '.join(ARCHITECTURE_KEYS)} cannot change mid-trial, so PBT must not mutate them "
            "(fix them in `config`)"
        )
    model.set_weights(saved.get_weights())
    if state.get("source") != source:
        logger.warning("resuming from a checkpoint trained on %r data with %r data", state.get("source"), source)
    return int(state["epoch"])


def train(config: dict[str, Any]) -> None:
    """Train the CNN with ``model.fit``; the callback reports the metric keys and a checkpoint every epoch.

    GPU memory growth is switched on before anything touches TensorFlow (see
    :func:`jobs.mnist_keras.model.enable_gpu_memory_growth`). Resumes after the epoch of
    ``tune.get_checkpoint()`` when there is one, so a trial never repeats an epoch it already reported.
    """
    enable_gpu_memory_growth()
    settings = TrialSettings.from_config(config)
    data = _data(settings.data_dir, settings.download)
    keras.backend.clear_session()  # drop the graphs of an earlier trial in this (reused) process
    if settings.seed is not None:
        keras.utils.set_random_seed(settings.seed)
    model = build_model(**settings.hyperparameters())

    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        start = _restore(model, checkpoint, settings, data.source)
    if start >= settings.epochs:
        return

    test_images, test_labels = data.test_images[: settings.test_limit], data.test_labels[: settings.test_limit]
    model.fit(
        data.train_images[: settings.train_limit],
        data.train_labels[: settings.train_limit],
        batch_size=settings.batch_size,
        epochs=settings.epochs,
        initial_epoch=start,  # Keras counts from 0: the epoch after the checkpoint's
        validation_data=(test_images, test_labels),
        callbacks=[_TuneReport(source=data.source)],
        verbose=0,
    )


def load_checkpoint(path: str | os.PathLike[str]) -> Any:
    """The compiled Keras model saved in a checkpoint directory (a local path or a storage URI such as ``s3://``).

    Enables GPU memory growth first, as a trial does.
    """
    enable_gpu_memory_growth()
    with Checkpoint(os.fspath(path)).as_directory() as directory:
        model_file = Path(directory) / MODEL_FILE
        if not model_file.is_file():
            raise FileNotFoundError(f"{path} is not a mnist_keras checkpoint: it has no {MODEL_FILE}")
        return keras.models.load_model(model_file)


def evaluate(model: Any, config: dict[str, Any]) -> dict[str, float]:
    """``mean_accuracy`` and ``loss`` of a compiled ``model`` on the test split of the data ``config`` points at.

    Reads ``data_dir``, ``download`` and ``test_limit`` from ``config`` (a trial's config works as is): the whole
    test split, or its first ``test_limit`` images.
    """
    limit = optional_integer(config, "test_limit")
    data = _data(resolve_data_dir(config.get("data_dir")), bool(config.get("download", True)))
    if len(data.test_labels[:limit]) == 0:
        raise ValueError("cannot evaluate on an empty test split")
    scores = model.evaluate(
        data.test_images[:limit], data.test_labels[:limit], batch_size=EVAL_BATCH_SIZE, verbose=0, return_dict=True
    )
    return {"mean_accuracy": float(scores["accuracy"]), "loss": float(scores["loss"])}


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kernel1", type=int, default=3, help="kernel size of the first convolution")
    parser.add_argument("--kernel2", type=int, default=3, help="kernel size of the second convolution")
    parser.add_argument("--poolsize", type=int, default=2, help="max-pooling size")
    parser.add_argument("--dropout1", type=float, default=0.25, help="dropout after the pooling")
    parser.add_argument("--dropout2", type=float, default=0.5, help="dropout after the hidden layer")
    parser.add_argument("--hidden", type=int, default=128, help="width of the hidden dense layer")
    parser.add_argument("--lr", type=float, default=0.01, help="SGD learning rate")
    parser.add_argument("--momentum", type=float, default=0.5, help="SGD momentum")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="epochs (= reports) per trial")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="training batch size")
    parser.add_argument("--train-limit", type=int, default=None, help="train on only this many images")
    parser.add_argument("--test-limit", type=int, default=None, help="validate on only this many test images")
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
        prog="python -m jobs.mnist_keras.trainable",
        description="One trial of the Keras MNIST CNN on a local Ray (sweeps: kubetune run experiment.yaml).",
        smoke_help=(
            "one tiny CPU trial (1 epoch, train_limit 512, test_limit 128, hidden 16) to check the job end to end"
        ),
        add_arguments=_add_arguments,
    )


def _run(args: argparse.Namespace, storage_path: Path) -> int:
    """Run the trial through ``ray.tune.Tuner`` and print what it reported; 0 on success."""
    config: dict[str, Any] = {
        "kernel1": args.kernel1,
        "kernel2": args.kernel2,
        "poolsize": args.poolsize,
        "dropout1": args.dropout1,
        "dropout2": args.dropout2,
        "hidden": args.hidden,
        "lr": args.lr,
        "momentum": args.momentum,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "train_limit": args.train_limit,
        "test_limit": args.test_limit,
        "data_dir": str(resolve_data_dir(args.data_dir)),
        "download": not args.no_download,
    }
    if args.smoke_test:
        config.update(epochs=1, train_limit=512, test_limit=128, hidden=16)

    return smoke.run_one_trial(
        train,
        config,
        name="mnist-keras",
        smoke_test=args.smoke_test,
        metric="mean_accuracy",
        mode="max",
        storage_path=storage_path,
        summarize=smoke.metrics_and_source(METRIC_KEYS),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: one trial, printed as JSON (metric keys, data source, checkpoint path)."""
    args = _parse_args(argv)
    return smoke.in_storage(args.storage_path, "mnist-keras", lambda storage: _run(args, storage))


if __name__ == "__main__":
    raise SystemExit(main())
