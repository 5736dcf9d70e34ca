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

Config keys: :class:`TrialSettings` (any other key is an error naming it).

``load_checkpoint(path)`` and ``evaluate(model, config)`` are the convention ``kubetune best`` calls
(:mod:`jobs.contract`).
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Sequence
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
from jobs.settings import Settings, setting

logger = logging.getLogger(__name__)

MODEL_FILE = "model.keras"  # the name TuneReportCheckpointCallback saves the model under
STATE_FILE = "state.json"
METRIC_KEYS = ("mean_accuracy", "loss", "epoch")
# Reported key -> Keras log key, as TuneReportCheckpointCallback takes them ("epoch" is added by _TuneReport).
REPORTED_METRICS = {"mean_accuracy": "val_accuracy", "loss": "val_loss", "epoch": "epoch"}
# Evaluation batch size: large batches, bounded memory on the full 10k test split.
EVAL_BATCH_SIZE = 1000


class TrialSettings(Settings):
    """A trial's config, parsed and checked once, so that a bad value fails the trial at once with its key.

    ``architecture`` fixes the weights' shapes; ``training`` is what PBT may change mid-trial.
    """

    kernel1: int = setting(help="kernel size of the first convolution", example=3, at_least=1, group="architecture")
    kernel2: int = setting(help="kernel size of the second convolution", example=3, at_least=1, group="architecture")
    poolsize: int = setting(help="max-pooling size", example=2, at_least=1, group="architecture")
    hidden: int = setting(help="width of the hidden dense layer", example=128, at_least=1, group="architecture")
    dropout1: float = setting(help="dropout after the pooling", example=0.25, at_least=0, below=1, group="training")
    dropout2: float = setting(help="dropout after the hidden layer", example=0.5, at_least=0, below=1, group="training")
    lr: float = setting(help="SGD learning rate", example=0.01, above=0, group="training")
    momentum: float = setting(help="SGD momentum", example=0.5, at_least=0, group="training")
    epochs: int = setting(default=10, help="epochs (= reports) per trial", at_least=1)
    batch_size: int = setting(default=128, help="training batch size", at_least=1)
    train_limit: int | None = setting(default=None, help="train on only the first N images (default: all)", at_least=1)
    test_limit: int | None = setting(
        default=None, help="validate (and evaluate) on only the first N test images (default: all)", at_least=1
    )
    data_dir: Path | None = setting(
        default=None,
        help=f"directory of the MNIST IDX files (default: ${DATA_DIR_ENV}, else ~/data/mnist)",
        resolve=resolve_data_dir,
    )
    download: bool = setting(default=True, help="download missing IDX files before falling back to the digits")
    seed: int | None = setting(default=None, help="keras.utils.set_random_seed for reproducible trials (default: none)")


# The hyperparameters that fix the weights' shapes.
ARCHITECTURE_KEYS = TrialSettings.keys("architecture")


@functools.cache
def _data(directory: Path, download: bool) -> MnistArrays:
    """The dataset, loaded once per process: with ``reuse_actors`` the next trial in the same process skips the
    parse (and logs the fallback warning only once)."""
    return load_mnist_arrays(directory, download=download)


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
    data = _data(resolve_data_dir(settings.data_dir), settings.download)
    keras.backend.clear_session()  # drop the graphs of an earlier trial in this (reused) process
    if settings.seed is not None:
        keras.utils.set_random_seed(settings.seed)
    model = build_model(**settings.group("architecture"), **settings.group("training"))

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
    limit = TrialSettings.read(config, "test_limit")
    data = _data(resolve_data_dir(TrialSettings.read(config, "data_dir")), TrialSettings.read(config, "download"))
    if len(data.test_labels[:limit]) == 0:
        raise ValueError("cannot evaluate on an empty test split")
    scores = model.evaluate(
        data.test_images[:limit], data.test_labels[:limit], batch_size=EVAL_BATCH_SIZE, verbose=0, return_dict=True
    )
    return {"mean_accuracy": float(scores["accuracy"]), "loss": float(scores["loss"])}


COMMAND = smoke.Command(
    name="mnist-keras",
    description="One trial of the Keras MNIST CNN on a local Ray (sweeps: kubetune run experiment.yaml).",
    settings=TrialSettings,
    smoke={"epochs": 1, "train_limit": 512, "test_limit": 128, "hidden": 16},
    metric="mean_accuracy",
    mode="max",
    summarize=smoke.metrics_and_source(METRIC_KEYS),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: one trial, printed as JSON (metric keys, data source, checkpoint path)."""
    return smoke.main(COMMAND, train, argv)


if __name__ == "__main__":
    raise SystemExit(main())
