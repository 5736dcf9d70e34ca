"""Ray Tune function trainable: the tutorial's two-layer LSTM lyrics generator, tuned for lr and layer sizes.

Metric keys, reported once per epoch by Ray's Keras callback (fixed: ``experiment.yaml``, the dashboards and
``kubetune best`` rely on them):

``val_loss``
    float: mean next-word cross-entropy on the validation sentences (padding masked), the same sentences in every
    trial and every epoch. The experiment's metric, ``mode: min``.
``loss``
    float: the same on the training sentences, averaged over the epoch.
``epoch``
    int, 1-based: the epoch just finished. A resumed trial continues from its checkpoint's epoch, so after a
    failure retry or a restore it still equals ``training_iteration``.

Checkpoint layout, one per epoch (the experiment's ``checkpoint.numToKeep`` decides how many survive; ranked by
``val_loss``)::

    model.keras      the compiled model with its optimizer state (written by Ray's TuneReportCheckpointCallback)
    vocab.json       {"tokens": [...]}: id -> token, the first four <pad> <unk> <start> <end>
    state.json       {"epoch": <int>, "source": "lyrics-files" | "builtin-corpus"}
    .metadata.json   Ray's own (names model.keras)

Config keys: :class:`TrialSettings` (any other key is an error naming it).

``load_checkpoint(path)`` and ``evaluate(model, config)`` are the convention ``kubetune best`` calls
(:mod:`jobs.contract`); ``generate`` continues a line of lyrics with a trained model.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
from ray import tune
from ray.tune import Checkpoint, Result
from ray.tune.integration.keras import TuneReportCheckpointCallback

from jobs import smoke
from jobs.lyrics_lstm.data import (
    DATA_DIR_ENV,
    DEFAULT_VOCAB_SIZE,
    MAX_TOKENS,
    VAL_FRACTION,
    LyricsCorpus,
    Vocabulary,
    load_lyrics,
    next_word_pairs,
    resolve_data_dir,
)
from jobs.lyrics_lstm.model import build_model, enable_memory_growth, generate
from jobs.settings import Settings, setting

__all__ = [
    "METRIC_KEYS",
    "MODEL_FILE",
    "STATE_FILE",
    "VOCAB_FILE",
    "LyricsModel",
    "TrialSettings",
    "evaluate",
    "generate",
    "load_checkpoint",
    "main",
    "train",
]

logger = logging.getLogger(__name__)

MODEL_FILE = "model.keras"  # the name Ray's Keras callback writes
VOCAB_FILE = "vocab.json"
STATE_FILE = "state.json"
METRIC_KEYS = ("val_loss", "loss", "epoch")

# Evaluation batch size: no gradients, so larger than training batches; bounded memory on a big validation set.
EVAL_BATCH_SIZE = 512


class TrialSettings(Settings):
    """A trial's config, parsed and checked once, so that a bad value fails the trial at once with its key."""

    lr: float = setting(help="Adam learning rate", example=1e-3, above=0)
    embedding_size: int = setting(help="word embedding size", example=256, at_least=1)
    hidden_size: int = setting(help="units of each LSTM layer", example=1024, at_least=1)
    epochs: int = setting(default=10, help="epochs (= reports) per trial", at_least=1)
    batch_size: int = setting(default=256, help="training batch size (the tutorial's)", at_least=1)
    data_dir: str | None = setting(
        default=None,
        help=f"directory or URI of the *.txt lyrics (default: ${DATA_DIR_ENV}, else ~/data/lyrics)",
        resolve=resolve_data_dir,
    )
    vocab_size: int = setting(
        default=DEFAULT_VOCAB_SIZE, help="vocabulary ids, 4 reserved", at_least=5, why="4 reserved ids and a word"
    )
    train_limit: int | None = setting(
        default=None,
        help="cap the training sentences, and the validation ones in proportion (default: all)",
        at_least=1,
    )
    seed: int | None = setting(default=None, help="seed for reproducible initialisation and batches (default: none)")
    device: str = setting(
        default="auto", help="auto: a GPU when TensorFlow sees one; cpu hides the GPUs", one_of=("auto", "cpu")
    )


@dataclass(frozen=True)
class LyricsModel:
    """What :func:`load_checkpoint` returns: the Keras model and the vocabulary its ids belong to."""

    model: keras.Model
    vocabulary: Vocabulary
    epoch: int
    source: str

    def generate(self, seed_text: str, n_words: int, **kwargs: Any) -> str:
        """:func:`jobs.lyrics_lstm.model.generate` with this model and vocabulary."""
        return generate(self.model, self.vocabulary, seed_text, n_words, **kwargs)


@functools.cache
def _corpus(location: str) -> LyricsCorpus:
    """The corpus, loaded once per process: with ``reuse_actors`` the next trial in the same process skips the read
    and the cleaning (and logs the fallback warning only once)."""
    return load_lyrics(location)


def _splits(corpus: LyricsCorpus, train_limit: int | None) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """The fixed train/validation split; ``train_limit`` caps both, keeping their 80/20 proportion."""
    train, val = corpus.split()
    if train_limit is not None:
        train = train[:train_limit]
        val = val[: max(1, math.ceil(train_limit * VAL_FRACTION / (1 - VAL_FRACTION)))]
    return train, val


def _setup_devices(device: str) -> None:
    """TensorFlow device settings, all of which only work before TensorFlow's first op: call first in a trial.

    ``cpu`` hides the GPUs (a CPU trial on a GPU node would otherwise take one: Ray no longer blanks
    ``CUDA_VISIBLE_DEVICES``). TensorFlow's op threads are capped at the trial's CPUs, so trials packed on one
    node do not each start a thread per core.
    """
    import tensorflow as tf

    if device == "cpu":
        try:
            tf.config.set_visible_devices([], "GPU")
        except RuntimeError as e:  # already initialised, e.g. a reused trial process: keep what it has
            logger.warning("cannot hide the GPUs from TensorFlow: %s", e)
    else:
        enable_memory_growth()
    cpus = _trial_cpus()
    if cpus is not None and tf.config.threading.get_intra_op_parallelism_threads() != cpus:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(cpus)
        except RuntimeError as e:
            logger.warning("cannot limit TensorFlow to the trial's %d CPUs: %s", cpus, e)


def _trial_cpus() -> int | None:
    """Whole CPUs Ray assigned to this trial's process, or ``None`` outside a Ray actor (a plain call, a test)."""
    import ray

    if not ray.is_initialized() or ray.get_runtime_context().get_actor_id() is None:
        return None
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")  # type: ignore[no-untyped-call]
    return max(1, int(cpus)) if cpus else None


class _ReportCheckpoint(TuneReportCheckpointCallback):
    """Ray's Keras callback, with ``epoch`` among the metrics and the vocabulary and state in every checkpoint."""

    def __init__(self, *, vocabulary: Vocabulary, source: str) -> None:
        super().__init__(
            metrics={key: key for key in METRIC_KEYS}, report_metrics_on="epoch_end", checkpoint_on="epoch_end"
        )
        self._vocabulary_json = vocabulary.to_json()
        self._source = source
        self._epoch = 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        # Keras counts from 0, and from `initial_epoch` on a resumed trial: epoch + 1 is the absolute epoch.
        self._epoch = epoch + 1
        super().on_epoch_end(epoch, {**(logs or {}), "epoch": self._epoch})  # type: ignore[no-untyped-call]

    def _save_and_report_checkpoint(self, metrics: dict[str, Any], checkpoint: Any) -> None:
        # The hook Ray's callback calls with the temporary directory that holds model.keras (and removes after).
        # Reported as a plain `ray.tune.Checkpoint` of that directory: Ray's own implementation passes its
        # deprecated `TensorflowCheckpoint`, which makes Tune log two RayDeprecationWarnings every epoch.
        directory = Path(checkpoint.path)
        (directory / VOCAB_FILE).write_text(self._vocabulary_json, encoding="utf-8")
        (directory / STATE_FILE).write_text(json.dumps({"epoch": self._epoch, "source": self._source}))
        tune.report(metrics, checkpoint=Checkpoint.from_directory(directory))


def _read_checkpoint(directory: Path, *, origin: str) -> LyricsModel:
    """The model, vocabulary and state of a checkpoint directory; ``origin`` names it in errors."""
    missing = [name for name in (MODEL_FILE, VOCAB_FILE, STATE_FILE) if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{origin} is not a lyrics_lstm checkpoint: it has no {', '.join(missing)}")
    model = keras.models.load_model(directory / MODEL_FILE)
    vocabulary = Vocabulary.from_json((directory / VOCAB_FILE).read_text(encoding="utf-8"))
    state = json.loads((directory / STATE_FILE).read_text())
    return LyricsModel(model=model, vocabulary=vocabulary, epoch=int(state["epoch"]), source=str(state["source"]))


def train(config: dict[str, Any]) -> None:
    """Train the LSTM, reporting the metric keys and a checkpoint after every epoch.

    Resumes after the epoch of ``tune.get_checkpoint()`` when there is one (failure retries, ``Tuner.restore``,
    PBT exploits) with the checkpoint's weights, optimizer state and vocabulary, so a trial never repeats an epoch
    it already reported. PBT's new ``lr`` is applied to the restored optimizer; new layer sizes cannot be.
    """
    settings = TrialSettings.from_config(config)  # pure Python: may run before the device set-up
    _setup_devices(settings.device)
    corpus = _corpus(resolve_data_dir(settings.data_dir))
    if settings.seed is not None:
        keras.utils.set_random_seed(settings.seed)

    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            restored = _read_checkpoint(Path(directory), origin=str(checkpoint.path))
        if restored.source != corpus.source:
            logger.warning("resuming from a checkpoint trained on %r text with %r text", restored.source, corpus.source)
        model, vocabulary, start = restored.model, restored.vocabulary, restored.epoch
        model.optimizer.learning_rate.assign(settings.lr)
    else:
        vocabulary = Vocabulary.build(corpus.sentences, size=settings.vocab_size)
        model = build_model(
            vocab_size=len(vocabulary),
            embedding_size=settings.embedding_size,
            hidden_size=settings.hidden_size,
            lr=settings.lr,
        )

    train_sentences, val_sentences = _splits(corpus, settings.train_limit)
    x_train, y_train = next_word_pairs(vocabulary.encode(train_sentences, length=MAX_TOKENS))
    x_val, y_val = next_word_pairs(vocabulary.encode(val_sentences, length=MAX_TOKENS))
    model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        batch_size=settings.batch_size,
        epochs=settings.epochs,
        initial_epoch=start,
        shuffle=True,
        verbose=0,
        callbacks=[_ReportCheckpoint(vocabulary=vocabulary, source=corpus.source)],
    )


def load_checkpoint(path: str | os.PathLike[str]) -> LyricsModel:
    """The model and vocabulary saved in a checkpoint directory (a local path or a URI such as ``s3://...``)."""
    enable_memory_growth()
    with Checkpoint(os.fspath(path)).as_directory() as directory:
        return _read_checkpoint(Path(directory), origin=os.fspath(path))


def evaluate(model: LyricsModel, config: dict[str, Any]) -> dict[str, float]:
    """``val_loss`` of ``model`` on the validation split of the text ``config`` points at.

    Reads ``data_dir`` and ``train_limit`` from ``config`` (a trial's config works as is, and then scores the
    very sentences the trial reported on), and encodes them with the checkpoint's own vocabulary.
    """
    corpus = _corpus(resolve_data_dir(TrialSettings.read(config, "data_dir")))
    _, val_sentences = _splits(corpus, TrialSettings.read(config, "train_limit"))
    x_val, y_val = next_word_pairs(model.vocabulary.encode(val_sentences, length=MAX_TOKENS))
    scores = model.model.evaluate(x_val, y_val, batch_size=EVAL_BATCH_SIZE, verbose=0, return_dict=True)
    return {"val_loss": float(scores["loss"])}


def _summarize(result: Result, checkpoint: Checkpoint) -> dict[str, Any]:
    """The reported metrics, the data source, the vocabulary's size, a generated line and the checkpoint."""
    trained = load_checkpoint(checkpoint.path)
    summary = smoke.reported(result, METRIC_KEYS)
    summary.update(
        source=trained.source,
        vocabulary=len(trained.vocabulary),
        sample=trained.generate("i", 10),
        checkpoint=checkpoint.path,
    )
    return summary


COMMAND = smoke.Command(
    name="lyrics-lstm",
    description="One trial of the LSTM lyrics generator on a local Ray (sweeps: kubetune run experiment.yaml).",
    settings=TrialSettings,
    smoke={"epochs": 1, "train_limit": 256, "embedding_size": 32, "hidden_size": 32, "batch_size": 64, "device": "cpu"},
    metric="val_loss",
    mode="min",
    summarize=_summarize,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: one trial, printed as JSON (metric keys, data source, a sample, checkpoint path)."""
    return smoke.main(COMMAND, train, argv)


if __name__ == "__main__":
    raise SystemExit(main())
