"""Ray Tune function trainable: the SageMaker XGBoost direct-marketing tutorial, tuned as its HPO notebook tunes it.

Metric keys, reported after every boosting round by Ray's XGBoost callback (fixed: the SageMaker importer maps
the tuning objective ``validation:auc`` to ``validation-auc``, and the dashboards and ``kubetune best`` use it):

``validation-auc``
    float in [0, 1]: ROC AUC on the validation split (20% of the rows), the experiment's metric, ``mode: max``.
``train-auc``
    float: the same on the training split (70%); the gap to ``validation-auc`` shows over-fitting.
``<split>-<metric>``
    one more pair for every other ``eval_metric`` the config asks for (``validation-logloss``, …).

``training_iteration`` counts the rounds. Checkpoints (``model.ubj``, a Booster; written by Ray's
``TuneReportCheckpointCallback``) come with every round by default, so with the experiment's
``checkpoint: {numToKeep: 1}`` the best round's booster is the one kept. With ``checkpoint_frequency`` N > 1
they come every N rounds and after the last one, which Ray's callback then reports a second time (one extra
``training_iteration``) unless it was an N-th round. The booster carries the data
it was trained on as its ``data_source`` attribute (``bank-additional-full`` or ``synthetic``).

Config keys: XGBoost parameters (see :mod:`jobs.bank_xgboost.model`: the searched ``eta``, ``min_child_weight``,
``alpha``, ``max_depth`` and any static ones, numeric strings coerced), plus the trainable's own: ``num_round``
(100 boosting rounds), ``early_stopping_rounds`` (none), ``checkpoint_frequency`` (1: every round),
``data_dir`` (default ``$KUBETUNE_DATA_DIR``, then ``~/data/bank-marketing``; a directory, the CSV, or a URI) and
``device`` ("auto": CUDA exactly when Ray gave the trial a GPU; "cpu"; "cuda"). ``nthread`` defaults to the
trial's CPUs.

``load_checkpoint(path)`` and ``evaluate(model, config)`` are the convention ``kubetune best`` calls.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xgboost as xgb
from ray import tune
from ray.tune import Checkpoint, Result
from ray.tune.integration.xgboost import TuneReportCheckpointCallback

from jobs import smoke
from jobs.bank_xgboost.data import DATA_DIR_ENV, BankData, load_bank, resolve_location
from jobs.bank_xgboost.model import (
    DEVICES,
    TRAINABLE_KEYS,
    booster_params,
    coerce,
    resolve_device,
    trial_cpus,
)

logger = logging.getLogger(__name__)

MODEL_FILE = TuneReportCheckpointCallback.CHECKPOINT_NAME  # "model.ubj"
METRIC = "validation-auc"
SOURCE_ATTR = "data_source"
EVALS = ("train", "validation")

DEFAULT_NUM_ROUND = 100
DEFAULT_CHECKPOINT_FREQUENCY = 1

# One prepared dataset per location per process: with `reuse_actors` (CPU trials) the next trial in the same
# process skips the CSV parse and the one-hot encoding (and logs the fallback warning only once).
_DATA_CACHE: dict[str, BankData] = {}


@dataclass(frozen=True)
class TrialSettings:
    """A trial's config, parsed and checked once, so that a bad value fails the trial at once with its key."""

    config: Mapping[str, Any] = field(repr=False)
    num_round: int = DEFAULT_NUM_ROUND
    early_stopping_rounds: int | None = None
    checkpoint_frequency: int = DEFAULT_CHECKPOINT_FREQUENCY
    data_dir: str | None = None
    device: str = "auto"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TrialSettings:
        """The trainable's keys coerced (``"100"`` is 100, as SageMaker writes it); ``ValueError`` names a bad key."""
        own = {key: coerce(config[key]) for key in TRAINABLE_KEYS if key in config}
        for key in ("num_round", "early_stopping_rounds", "checkpoint_frequency"):
            value = own.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"config[{key!r}] must be an integer >= 1, got {config[key]!r}")
        settings = cls(
            config=dict(config),
            num_round=own.get("num_round", DEFAULT_NUM_ROUND),
            early_stopping_rounds=own.get("early_stopping_rounds"),
            checkpoint_frequency=own.get("checkpoint_frequency", DEFAULT_CHECKPOINT_FREQUENCY),
            data_dir=resolve_location(own.get("data_dir")),
            device=str(own.get("device", "auto")),
        )
        if settings.device not in DEVICES:
            raise ValueError(f"config['device'] must be one of {', '.join(DEVICES)}, got {settings.device!r}")
        booster_params(settings.config, device="cpu")  # fail now on a parameter that cannot reach XGBoost
        return settings

    def params(self, *, device: str, nthread: int | None) -> dict[str, Any]:
        """The XGBoost parameters for this trial on ``device``."""
        return booster_params(self.config, device=device, nthread=nthread)


def _data(data_dir: str | None) -> BankData:
    """The prepared splits for this process, loaded once (see ``_DATA_CACHE``)."""
    location = resolve_location(data_dir)
    if location not in _DATA_CACHE:
        _DATA_CACHE[location] = load_bank(location)
    return _DATA_CACHE[location]


class _TagSource(xgb.callback.TrainingCallback):
    """Stores the data source in the booster's attributes, which ``model.ubj`` keeps."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self._source = source

    def before_training(self, model: xgb.Booster) -> xgb.Booster:
        model.set_attr(**{SOURCE_ATTR: self._source})
        return model


def _dmatrix(data: BankData, split: str) -> xgb.DMatrix:
    features, labels = data.xy(split)
    return xgb.DMatrix(features, label=labels)


def train(config: dict[str, Any]) -> None:
    """Boost up to ``num_round`` rounds, reporting the metric keys every round and checkpoints as configured.

    Resumes from ``tune.get_checkpoint()`` when there is one (failure retries, ``Tuner.restore``, PBT exploits):
    boosting continues from the checkpoint's rounds, so a trial never repeats a round it already reported.
    """
    settings = TrialSettings.from_config(config)
    device = resolve_device(settings.device)
    params = settings.params(device=device, nthread=trial_cpus())
    data = _data(settings.data_dir)
    dtrain, dvalidation = _dmatrix(data, "train"), _dmatrix(data, "validation")

    booster: xgb.Booster | None = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        booster = TuneReportCheckpointCallback.get_model(checkpoint, filename=MODEL_FILE)
        if booster.attr(SOURCE_ATTR) != data.source:
            logger.warning(
                "resuming from a booster trained on %r data with %r data", booster.attr(SOURCE_ATTR), data.source
            )
    remaining = settings.num_round - (booster.num_boosted_rounds() if booster is not None else 0)
    if remaining <= 0:
        return
    reported = [f"{split}-{metric}" for split in EVALS for metric in params["eval_metric"]]
    logger.info("training on %s with %s", device, {k: v for k, v in params.items() if k != "eval_metric"})
    xgb.train(
        params,
        dtrain,
        num_boost_round=remaining,
        evals=[(dtrain, EVALS[0]), (dvalidation, EVALS[1])],
        xgb_model=booster,
        early_stopping_rounds=settings.early_stopping_rounds,
        verbose_eval=False,
        callbacks=[
            _TagSource(data.source),
            TuneReportCheckpointCallback(
                metrics={key: key for key in reported},
                filename=MODEL_FILE,
                frequency=settings.checkpoint_frequency,
                # Every round checkpointed: nothing left for the end. Otherwise the callback adds the last round's
                # checkpoint, reporting that round a second time when it was not already checkpointed: it
                # counts rounds from 0 in every xgb.train call, so after a resume it cannot tell.
                checkpoint_at_end=settings.checkpoint_frequency > 1,
            ),
        ],
    )


def load_checkpoint(path: str | os.PathLike[str]) -> xgb.Booster:
    """The Booster saved in a checkpoint directory (a local path or a URI such as ``s3://...``), for the CPU."""
    with Checkpoint(os.fspath(path)).as_directory() as directory:
        model_file = Path(directory) / MODEL_FILE
        if not model_file.is_file():
            raise FileNotFoundError(f"{path} is not a bank_xgboost checkpoint: it has no {MODEL_FILE}")
        booster = xgb.Booster(model_file=str(model_file))
    booster.set_param({"device": "cpu"})
    return booster


def evaluate(model: xgb.Booster, config: dict[str, Any]) -> dict[str, float]:
    """``test-auc``: ROC AUC of ``model`` on the test split (10% of the rows) of the data ``config`` points at.

    Only ``data_dir`` is read from ``config`` (a trial's config works as is). One-hot columns the model knows but
    the data lacks (a category absent from this file) are zeros, as they would have been.
    """
    from sklearn.metrics import roc_auc_score

    data = _data(config.get("data_dir"))
    features, labels = data.xy("test")
    if model.feature_names is not None:
        features = features.reindex(columns=model.feature_names, fill_value=0)
    scores = model.predict(xgb.DMatrix(features))
    return {"test-auc": float(roc_auc_score(labels, scores))}


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    # The tutorial's training-job hyperparameters.
    parser.add_argument("--eta", type=float, default=0.2, help="learning rate (shrinkage per round)")
    parser.add_argument("--min-child-weight", type=float, default=6.0, help="minimum hessian sum in a leaf")
    parser.add_argument("--alpha", type=float, default=0.0, help="L1 regularisation of the leaf weights")
    parser.add_argument("--max-depth", type=int, default=5, help="maximum tree depth")
    parser.add_argument("--num-round", type=int, default=DEFAULT_NUM_ROUND, help="boosting rounds (= reports)")
    parser.add_argument(
        "--data-dir",
        default=None,
        help=f"directory, file or URI of the CSV (default: ${DATA_DIR_ENV}, else ~/data/bank-marketing)",
    )


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    return smoke.parse_args(
        argv,
        prog="python -m jobs.bank_xgboost.trainable",
        description="One XGBoost trial on the bank-marketing table on a local Ray (sweeps: kubetune run FILE).",
        smoke_help="one tiny CPU trial (5 rounds) to check the job end to end",
        add_arguments=_add_arguments,
    )


def _run(args: argparse.Namespace, storage_path: Path) -> int:
    """Run the trial through ``ray.tune.Tuner`` and print what it reported and its test AUC; 0 on success."""
    config: dict[str, Any] = {
        "eta": args.eta,
        "min_child_weight": args.min_child_weight,
        "alpha": args.alpha,
        "max_depth": args.max_depth,
        "num_round": args.num_round,
        "data_dir": resolve_location(args.data_dir),
    }
    if args.smoke_test:
        config.update(num_round=5, device="cpu")

    def summarize(result: Result, checkpoint: Checkpoint) -> dict[str, Any]:
        booster = load_checkpoint(checkpoint.path)
        summary = smoke.reported(result, (METRIC, "train-auc", "training_iteration"))
        summary.update(evaluate(booster, config))
        summary.update(
            source=booster.attr(SOURCE_ATTR), rounds=booster.num_boosted_rounds(), checkpoint=checkpoint.path
        )
        return summary

    return smoke.run_one_trial(
        train,
        config,
        name="bank-xgboost",
        smoke_test=args.smoke_test,
        metric=METRIC,
        mode="max",
        storage_path=storage_path,
        summarize=summarize,
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=1, checkpoint_score_attribute=METRIC, checkpoint_score_order="max"
        ),
        best_checkpoint=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: one trial, printed as JSON (metric keys, test AUC, data source, checkpoint)."""
    args = _parse_args(argv)
    return smoke.in_storage(args.storage_path, "bank-xgboost", lambda storage: _run(args, storage))


if __name__ == "__main__":
    raise SystemExit(main())
