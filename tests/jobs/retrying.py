"""A trial that fails once mid-run and is retried by Tune: the jobs' resume-from-checkpoint tests share it.

The test module's wrapper calls :func:`fail_once` with its job's ``train``, and :func:`run_retried` runs it in a
real ``tune.Tuner`` that allows one failure. Trial workers cannot import the test modules (or this one), so both
are shipped to them by value; the jobs' ``train`` travels by reference.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

MARKER = "failed-once"


def fail_once(
    train: Callable[[dict[str, Any]], None], config: dict[str, Any], first_run: Mapping[str, Any], failure: str
) -> None:
    """The first time, ``train`` with ``first_run`` overriding ``config``, then crash; afterwards plain ``train``.

    ``config["marker"]`` is the file that remembers the first time across the trial's processes.
    """
    marker = Path(config["marker"])
    if not marker.exists():
        marker.touch()
        train({**config, **first_run})
        raise RuntimeError(failure)
    train(config)


def run_retried(
    trainable: Callable[[dict[str, Any]], None],
    param_space: dict[str, Any],
    *,
    metric: str,
    mode: str,
    name: str,
    storage_path: Path,
) -> Any:
    """The ``ray.tune.Result`` of ``trainable`` (one CPU, one failure allowed) on ``param_space`` plus the marker.

    Asserts that the trial did fail once (the marker exists) and that its retry succeeded.
    """
    import ray.cloudpickle
    from ray import tune

    modules = [sys.modules[trainable.__module__], sys.modules[__name__]]
    for module in modules:
        ray.cloudpickle.register_pickle_by_value(module)  # type: ignore[no-untyped-call]
    try:
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": 1}),
            param_space={**param_space, "marker": str(storage_path / MARKER)},
            tune_config=tune.TuneConfig(metric=metric, mode=mode),
            run_config=tune.RunConfig(
                name=name,
                storage_path=str(storage_path),
                failure_config=tune.FailureConfig(max_failures=1),
                verbose=0,
            ),
        )
        result = tuner.fit()[0]
    finally:
        for module in modules:
            ray.cloudpickle.unregister_pickle_by_value(module)  # type: ignore[no-untyped-call]

    assert result.error is None
    assert (storage_path / MARKER).exists()  # the failure really happened
    return result
