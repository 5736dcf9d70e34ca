"""The booster's parameters: the tutorial's defaults, SageMaker-style static hyperparameters, and the device.

A trial's config mixes three kinds of keys. The trainable's own (:data:`TRAINABLE_KEYS`: ``num_round``,
``early_stopping_rounds``, ``checkpoint_frequency``, ``data_dir``, ``device``) are taken out; SageMaker
bookkeeping (:data:`IGNORED_KEYS` and names starting with ``_`` or ``sagemaker_``, such as
``_tuning_objective_metric``) is dropped with a log line; everything else goes to XGBoost as a parameter:
the searched ``eta``, ``min_child_weight``, ``alpha`` and ``max_depth``, and static ones such as ``objective``,
``subsample`` or ``gamma``.

SageMaker writes every hyperparameter as a string (``"100"``, ``"0.3"``), so :func:`coerce` turns numeric
strings into numbers, whether the SageMaker importer kept them quoted or not. ``eval_metric`` always includes
``auc`` (last, so ``early_stopping_rounds`` watches it): the experiment's metric is ``validation-auc``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger(__name__)

# Config keys the trainable reads itself; never passed to XGBoost.
TRAINABLE_KEYS = frozenset({"num_round", "early_stopping_rounds", "checkpoint_frequency", "data_dir", "device"})
# SageMaker hyperparameters with no XGBoost >= 2 meaning (`silent` was replaced by `verbosity` in XGBoost 1.0).
IGNORED_KEYS = frozenset({"silent"})
IGNORED_PREFIXES = ("_", "sagemaker_")

# The tutorial's fixed parameters; a trial's config overrides them.
DEFAULT_PARAMS: Mapping[str, Any] = {"objective": "binary:logistic", "eval_metric": "auc", "tree_method": "hist"}
OBJECTIVE_METRIC = "auc"
DEVICES = ("auto", "cpu", "cuda")

_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def coerce(value: Any) -> Any:
    """``"100"`` -> 100, ``"0.3"`` -> 0.3, ``"1e-3"`` -> 0.001; anything else unchanged (``"binary:logistic"``)."""
    if isinstance(value, str):
        text = value.strip()
        if _INT.match(text):
            return int(text)
        if _FLOAT.match(text):
            return float(text)
    return value


def _as_list(value: Any) -> list[str]:
    """``eval_metric`` as a list: XGBoost takes one name or several, SageMaker a comma-separated string."""
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def booster_params(config: Mapping[str, Any], *, device: str, nthread: int | None = None) -> dict[str, Any]:
    """XGBoost parameters for a trial: :data:`DEFAULT_PARAMS`, then the config's parameter keys, coerced.

    ``device`` is ``cpu`` or ``cuda`` (already resolved, see :func:`resolve_device`); ``nthread`` (the trial's
    CPUs) is set unless the config sets it. A legacy ``tree_method: gpu_hist`` becomes ``hist`` on ``cuda``, the
    XGBoost >= 2 spelling. Values that are not scalars raise ``ValueError`` naming the key.
    """
    params: dict[str, Any] = dict(DEFAULT_PARAMS)
    for key, value in config.items():
        if key in TRAINABLE_KEYS:
            continue
        if key in IGNORED_KEYS or key.startswith(IGNORED_PREFIXES):
            logger.info("ignoring config[%r]: not an XGBoost parameter", key)
            continue
        if key == "eval_metric":
            params[key] = _as_list(value)
            continue
        if not isinstance(value, str | int | float | bool):
            raise ValueError(f"config[{key!r}] must be a string or a number to pass to XGBoost, got {value!r}")
        params[key] = coerce(value)
    metrics = [m for m in _as_list(params["eval_metric"]) if m != OBJECTIVE_METRIC]
    params["eval_metric"] = [*metrics, OBJECTIVE_METRIC]
    if params.get("tree_method") == "gpu_hist":
        params["tree_method"] = "hist"
        device = "cuda"
    params["device"] = device
    if nthread is not None:
        params.setdefault("nthread", nthread)
    return params


def resolve_device(requested: str) -> str:
    """``cuda`` or ``cpu``: ``auto`` means ``cuda`` exactly when Ray assigned this trial a GPU.

    Not "when CUDA is visible": Ray no longer blanks ``CUDA_VISIBLE_DEVICES`` for CPU-only trials, so a CPU trial
    on a GPU node sees every GPU and would crowd the trials that were given one.
    """
    if requested not in DEVICES:
        raise ValueError(f"config['device'] must be one of {', '.join(DEVICES)}, got {requested!r}")
    if requested != "auto":
        return requested
    return "cuda" if trial_gpu_ids() else "cpu"


def trial_gpu_ids() -> list[str]:
    """``ray.get_gpu_ids()`` inside a Ray trial process; ``[]`` anywhere else (a plain call, a test, the driver)."""
    import ray

    if not ray.is_initialized() or ray.get_runtime_context().get_actor_id() is None:
        return []
    return [str(i) for i in ray.get_gpu_ids()]


def trial_cpus() -> int | None:
    """Whole CPUs Ray assigned to this trial's process, or ``None`` outside a Ray actor."""
    import ray

    if not ray.is_initialized() or ray.get_runtime_context().get_actor_id() is None:
        return None
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")  # type: ignore[no-untyped-call]
    return max(1, int(cpus)) if cpus else None
