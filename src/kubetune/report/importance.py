"""Hyperparameter importance: Optuna's default evaluator (PED-ANOVA) over the run's finished trials.

The trials become an in-memory Optuna study (:func:`optuna.trial.create_trial` and ``study.add_trials``), each with
its parameters, their distributions (:mod:`kubetune.report.space`) and its objective (the best value it reported).
Only finished trials count, as Optuna counts only COMPLETE ones: a trial the scheduler stopped early was judged on
less training, and an errored one has no final value. Finished is the ``finished`` reason in the results file, or
Ray's TERMINATED for a results file that predates reasons (which then includes early stops: Ray cannot tell).

PED-ANOVA needs no scikit-learn (fANOVA would), which keeps the report within kubetune's core dependencies. It
compares the best trials with all of them, so it needs a few finished trials: with fewer, or with no parameter that
varies, the report says so instead of showing numbers that mean nothing.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kubetune.report.figures import objective
from kubetune.report.reading import Run

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

#: How a trial that counts for importance ended: the finished reason, else Ray's state without reasons.
FINISHED = frozenset({"finished", "TERMINATED"})
#: Fewer finished trials than this and importance is not computed.
MIN_TRIALS = 3


def importance(run: Run, dists: dict[str, BaseDistribution]) -> dict[str, Any]:
    """``{"params": [[name, importance], ...] (most important first), "trials": n, "note": why-empty-or-""}``."""
    import optuna

    varying = {name: dist for name, dist in dists.items() if not dist.single()}
    done = [
        (trial, value)
        for trial in run.trials
        if trial.ending in FINISHED
        and (value := objective(trial, run.summary.metric, run.summary.mode)) is not None
        and all(name in trial.params for name in varying)
    ]
    note = ""
    if not varying:
        note = "no hyperparameter varies between the trials"
    elif len(done) < MIN_TRIALS:
        note = f"needs {MIN_TRIALS} finished trials that reported {run.summary.metric}; this run has {len(done)}"
    if note:
        return {"params": [], "trials": len(done), "note": note}
    try:
        with _quiet_optuna():
            study = optuna.create_study(direction="maximize" if run.summary.mode == "max" else "minimize")
            study.add_trials(
                [
                    optuna.trial.create_trial(
                        params={name: trial.params[name] for name in varying}, distributions=varying, value=value
                    )
                    for trial, value in done
                ]
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                found = optuna.importance.get_param_importances(study)
    except ValueError as e:  # a value outside its distribution: the spec given is not the run's
        return {"params": [], "trials": len(done), "note": f"cannot weigh the hyperparameters: {e}"}
    ranked = sorted(found.items(), key=lambda item: -item[1])
    return {"params": [[name, round(float(value), 6)] for name, value in ranked], "trials": len(done), "note": ""}


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna logs each new study at INFO: keep the command's output to its own lines."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)
