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

Config keys: :class:`TrialSettings`. Every key it does not declare is an XGBoost parameter (see
:mod:`jobs.bank_xgboost.model`: static ones such as ``objective``, numeric strings coerced, SageMaker bookkeeping
dropped); ``nthread`` defaults to the trial's CPUs.

``load_checkpoint(path)`` and ``evaluate(model, config)`` are the convention ``kubetune best`` calls
(:mod:`jobs.contract`).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import xgboost as xgb
from ray import tune
from ray.tune import Checkpoint, Result
from ray.tune.integration.xgboost import TuneReportCheckpointCallback

from jobs import smoke
from jobs.bank_xgboost.data import DATA_DIR_ENV, BankData, load_bank, resolve_location
from jobs.bank_xgboost.model import DEVICES, booster_params, resolve_device, trial_cpus
from jobs.settings import Settings, extra_keys, setting

logger = logging.getLogger(__name__)

MODEL_FILE = TuneReportCheckpointCallback.CHECKPOINT_NAME  # "model.ubj"
METRIC = "validation-auc"
# Reported after every round (one pair more for every other eval_metric the config asks for).
METRIC_KEYS = (METRIC, "train-auc")
SOURCE_ATTR = "data_source"
EVALS = ("train", "validation")


class TrialSettings(Settings):
    """A trial's config, parsed and checked once, so that a bad value fails the trial at once with its key.

    The ``booster`` group are the tutorial's tuned XGBoost parameters (unset: XGBoost's defaults; the command
    line's defaults are the tutorial's training-job values); :attr:`xgboost` holds every other XGBoost parameter.
    """

    eta: float | None = setting(default=None, example=0.2, help="learning rate (shrinkage per round)", group="booster")
    min_child_weight: float | None = setting(
        default=None, example=6.0, help="minimum hessian sum in a leaf", group="booster"
    )
    alpha: float | None = setting(
        default=None, example=0.0, help="L1 regularisation of the leaf weights", group="booster"
    )
    max_depth: int | None = setting(default=None, example=5, help="maximum tree depth", group="booster")
    num_round: int = setting(default=100, help="boosting rounds (= reports)", at_least=1)
    early_stopping_rounds: int | None = setting(
        default=None, help="stop when validation-auc has not improved for this many rounds (default: never)", at_least=1
    )
    checkpoint_frequency: int = setting(default=1, help="checkpoint every N rounds (and after the last)", at_least=1)
    data_dir: str | None = setting(
        default=None,
        help=f"directory, file or URI of the CSV (default: ${DATA_DIR_ENV}, else ~/data/bank-marketing)",
        resolve=resolve_location,
    )
    device: str = setting(default="auto", help="auto: cuda exactly when Ray gave the trial a GPU", one_of=DEVICES)
    xgboost: Mapping[str, Any] = extra_keys(default_factory=dict, help="every other key: an XGBoost parameter")

    def check(self) -> None:
        self.params(device="cpu", nthread=None)  # fail now on a parameter that cannot reach XGBoost

    def params(self, *, device: str, nthread: int | None) -> dict[str, Any]:
        """The XGBoost parameters for this trial on ``device``."""
        booster = {key: value for key, value in self.group("booster").items() if value is not None}
        return booster_params({**booster, **self.xgboost}, device=device, nthread=nthread)


@functools.cache
def _data(location: str) -> BankData:
    """The prepared splits, loaded once per process: with ``reuse_actors`` (CPU trials) the next trial in the same
    process skips the CSV parse and the one-hot encoding (and logs the fallback warning only once)."""
    return load_bank(location)


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
    data = _data(resolve_location(settings.data_dir))
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

    data = _data(resolve_location(TrialSettings.read(config, "data_dir")))
    features, labels = data.xy("test")
    if model.feature_names is not None:
        features = features.reindex(columns=model.feature_names, fill_value=0)
    scores = model.predict(xgb.DMatrix(features))
    return {"test-auc": float(roc_auc_score(labels, scores))}


def _summarize(result: Result, checkpoint: Checkpoint) -> dict[str, Any]:
    """The reported AUCs, the booster's test AUC, its data source and rounds, and the checkpoint."""
    booster = load_checkpoint(checkpoint.path)
    summary = smoke.reported(result, (*METRIC_KEYS, "training_iteration"))
    summary.update(evaluate(booster, result.config or {}))
    summary.update(source=booster.attr(SOURCE_ATTR), rounds=booster.num_boosted_rounds(), checkpoint=checkpoint.path)
    return summary


COMMAND = smoke.Command(
    name="bank-xgboost",
    description="One XGBoost trial on the bank-marketing table on a local Ray (sweeps: kubetune run FILE).",
    settings=TrialSettings,
    smoke={"num_round": 5, "device": "cpu"},
    metric=METRIC,
    mode="max",
    summarize=_summarize,
    checkpoint_config=tune.CheckpointConfig(
        num_to_keep=1, checkpoint_score_attribute=METRIC, checkpoint_score_order="max"
    ),
    best_checkpoint=True,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: one trial, printed as JSON (metric keys, test AUC, data source, checkpoint)."""
    return smoke.main(COMMAND, train, argv)


if __name__ == "__main__":
    raise SystemExit(main())
