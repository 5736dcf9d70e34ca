"""Run a benchmark's Ray Tune trainable in-process, without Ray, for Optuna used directly.

The trainables report through ``ray.tune`` (``tune.report``, and for XGBoost Ray's
``TuneReportCheckpointCallback``). :func:`run_trial` swaps those names in the trainable's module for stand-ins
that hand each reported metric to a per-thread callback, so the very same training code runs epoch by epoch (or
round by round, or fidelity by fidelity) under Optuna, and the callback's ``False`` stops the trial (a pruned
trial or a spent budget). Only the metric travels: nothing is checkpointed (Ray's side checkpoints each MNIST
epoch, as the trainable always does, and each XGBoost trial once at its end).
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Callable
from typing import Any

Report = Callable[[float], bool]

_local = threading.local()
_patch_lock = threading.Lock()
_patched: set[str] = set()


class _Stop(Exception):
    """Raised out of a report to end the trial early."""


def _deliver(value: float) -> None:
    if not _local.report(value):
        raise _Stop


class _Tune:
    """The ``ray.tune`` names the trainables use."""

    @staticmethod
    def get_checkpoint() -> None:
        return None

    @staticmethod
    def report(metrics: dict[str, Any], checkpoint: Any = None) -> None:
        _deliver(float(metrics[_local.metric]))


def _xgb_callback() -> type:
    import xgboost as xgb

    class ReportCallback(xgb.callback.TrainingCallback):
        """Ray's ``TuneReportCheckpointCallback`` minus Ray: the metric of every round."""

        CHECKPOINT_NAME = "model.ubj"

        def __init__(self, metrics: dict[str, str], **_: Any) -> None:
            super().__init__()
            self._metrics = metrics

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            split, _, name = _local.metric.partition("-")
            _deliver(float(evals_log[split][name][-1]))
            return False

    return ReportCallback


def _module(name: str) -> Any:
    module: Any = importlib.import_module(name)
    with _patch_lock:
        if name not in _patched:
            module.tune = _Tune
            if hasattr(module, "TuneReportCheckpointCallback"):
                module.TuneReportCheckpointCallback = _xgb_callback()
            _patched.add(name)
    return module


def run_trial(trainable: str, config: dict[str, Any], metric: str, report: Report) -> None:
    """Run ``trainable`` (``module:function``) on ``config``, calling ``report(value)`` per iteration until it says
    stop.

    The trainable's module is patched for good in this process (the benchmark's driver, which runs Ray trials in
    worker processes only).
    """
    module_name, _, function = trainable.partition(":")
    module = _module(module_name)
    _local.report, _local.metric = report, metric
    with contextlib.suppress(_Stop):
        getattr(module, function)(config)


def suggest(trial: Any, space: dict[str, Any]) -> dict[str, Any]:
    """The kubetune search-space dimensions the workloads use, as Optuna suggestions (randint bounds inclusive)."""
    out: dict[str, Any] = {}
    for key, dim in space.items():
        ((kind, args),) = dim.items()
        if kind == "uniform":
            out[key] = trial.suggest_float(key, args[0], args[1])
        elif kind == "loguniform":
            out[key] = trial.suggest_float(key, args[0], args[1], log=True)
        elif kind == "randint":
            out[key] = trial.suggest_int(key, args[0], args[1])
        elif kind == "choice":
            out[key] = trial.suggest_categorical(key, args)
        else:
            raise ValueError(f"{key}: {kind} dimensions are not supported here")
    return out
