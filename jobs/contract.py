"""The reference jobs keep kubetune's trainable-module contract (:mod:`kubetune.engine.contract`): mypy checks
each of them against :class:`~kubetune.engine.contract.Job` here; nothing is imported at run time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubetune.engine.contract import Evaluable, Job, functions, missing

__all__ = ["Evaluable", "Job", "functions", "missing"]

if TYPE_CHECKING:  # mypy checks each reference job against the protocol; nothing is imported at run time
    from jobs.bank_xgboost import trainable as bank_xgboost
    from jobs.cifar_torch import trainable as cifar_torch
    from jobs.lyrics_lstm import trainable as lyrics_lstm
    from jobs.mnist_keras import trainable as mnist_keras
    from jobs.mnist_torch import trainable as mnist_torch

    REFERENCE_JOBS: tuple[Job, ...] = (bank_xgboost, cifar_torch, lyrics_lstm, mnist_keras, mnist_torch)
