"""What bench/search.py tunes: two reference jobs on small real data and a standard multi-fidelity function.

* ``hartmann`` / ``hartmann_good`` — the multi-fidelity Hartmann 6-D function (:mod:`bench.search_lib.hartmann`)
  with mfpbench's default and ``good`` presets: one report per fidelity, nothing to compute, so a run of hundreds
  of trials costs only Ray's bookkeeping. Metric ``value`` (min); optimum -3.32237.
* ``bank_xgboost`` — ``jobs.bank_xgboost.trainable:train`` on the job's synthetic bank table (10,000 rows with the
  UCI columns), one report per boosting round. Metric ``validation-auc`` (max).
* ``mnist_torch`` — ``jobs.mnist_torch.trainable:train`` on scikit-learn's digits (the job's fallback, forced by an
  empty data directory so every machine measures the same task): 256 training samples per epoch, 256 test samples
  scored per report. Metric ``mean_accuracy`` (max).

Each reference job keeps its own search space (``jobs/<name>/experiment.yaml``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.search_lib import hartmann


@dataclass(frozen=True)
class Workload:
    name: str
    #: One line for tables and plot titles.
    label: str
    trainable: str
    metric: str
    mode: str
    space: dict[str, Any]
    #: Fixed config for a run whose trials last at most ``max_t`` iterations; ``data_dir`` is an empty directory.
    config: Callable[[int, str], dict[str, Any]]
    #: The known optimum of the metric, when there is one (plotted as regret).
    optimum: float | None = None


def _mnist_config(max_t: int, data_dir: str) -> dict[str, Any]:
    return {
        "epochs": max_t,
        "epoch_size": 256,
        "test_size": 256,
        "batch_size": 32,
        "data_dir": data_dir,
        "download": False,
        "device": "cpu",
        "seed": 0,
    }


def _bank_config(max_t: int, data_dir: str) -> dict[str, Any]:
    return {
        "num_round": max_t,
        # One checkpoint at the end of a full trial (every round would dominate the cost of a round).
        "checkpoint_frequency": max_t,
        "objective": "binary:logistic",
        "eval_metric": "auc",
        "nthread": 1,
        "data_dir": data_dir,
        "device": "cpu",
    }


def _hartmann_config(preset: str) -> Callable[[int, str], dict[str, Any]]:
    def config(max_t: int, data_dir: str) -> dict[str, Any]:
        return {"max_t": max_t, "preset": preset}

    return config


WORKLOADS: dict[str, Workload] = {
    "hartmann": Workload(
        name="hartmann",
        label="Hartmann 6-D, multi-fidelity (mfpbench mfh6: bias 0.5, noise 0.1)",
        trainable="bench.search_lib.hartmann:train",
        metric="value",
        mode="min",
        space=hartmann.SPACE,
        config=_hartmann_config("mfh6"),
        optimum=hartmann.OPTIMUM,
    ),
    "hartmann_good": Workload(
        name="hartmann_good",
        label="Hartmann 6-D, multi-fidelity (mfpbench mfh6_good: bias 2.5, noise 2.0)",
        trainable="bench.search_lib.hartmann:train",
        metric="value",
        mode="min",
        space=hartmann.SPACE,
        config=_hartmann_config("mfh6_good"),
        optimum=hartmann.OPTIMUM,
    ),
    "bank_xgboost": Workload(
        name="bank_xgboost",
        label="bank XGBoost (validation AUC)",
        trainable="jobs.bank_xgboost.trainable:train",
        metric="validation-auc",
        mode="max",
        # jobs/bank_xgboost/experiment.yaml's space (imported from the SageMaker tuning job).
        space={
            "eta": {"uniform": [0.0, 1.0]},
            "min_child_weight": {"uniform": [1.0, 10.0]},
            "alpha": {"uniform": [0.0, 2.0]},
            "max_depth": {"randint": [1, 10]},
        },
        config=_bank_config,
    ),
    "mnist_torch": Workload(
        name="mnist_torch",
        label="digits ConvNet (test accuracy)",
        trainable="jobs.mnist_torch.trainable:train",
        metric="mean_accuracy",
        mode="max",
        # jobs/mnist_torch/experiment.yaml's space.
        space={"lr": {"loguniform": [1.0e-4, 1.0e-1]}, "momentum": {"uniform": [0.1, 0.9]}},
        config=_mnist_config,
    ),
}
