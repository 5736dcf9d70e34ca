"""A trial that fails once mid-run and is retried by Tune: the contract's resume-from-checkpoint test.

:func:`run_retried` runs :func:`fail_once` in a real ``tune.Tuner`` that allows one failure. The first time,
``fail_once`` trains the job for ``first_run`` (fewer iterations) and then crashes; the retry trains the job on
its whole config and must pick up from the checkpoint the first run left. Trial workers cannot import the test
modules, so this one is shipped to them by value; the job's ``train`` is imported there by name.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MARKER = "failed-once"
# The keys this wrapper adds to the job's config; removed before the job sees it (a job rejects unknown keys).
_JOB, _MARKER, _FIRST_RUN = "_test_job", "_test_marker", "_test_first_run"


def fail_once(config: dict[str, Any]) -> None:
    """The first time, the job's ``train`` with ``first_run`` overriding its config, then a crash; then plain ``train``.

    The marker file remembers the first time across the trial's processes.
    """
    train = importlib.import_module(f"jobs.{config[_JOB]}.trainable").train
    own = {key: value for key, value in config.items() if key not in (_JOB, _MARKER, _FIRST_RUN)}
    marker = Path(config[_MARKER])
    if not marker.exists():
        marker.touch()
        train({**own, **config[_FIRST_RUN]})
        raise RuntimeError("injected failure after the first run")
    train(own)


def run_retried(
    job: str,
    config: Mapping[str, Any],
    *,
    first_run: Mapping[str, Any],
    metric: str,
    mode: str,
    storage_path: Path,
) -> Any:
    """The ``ray.tune.Result`` of ``job`` (one CPU, one failure allowed) after a first run that crashed.

    Asserts that the trial did fail once (the marker exists) and that its retry succeeded.
    """
    import ray.cloudpickle
    from ray import tune

    module = sys.modules[__name__]
    ray.cloudpickle.register_pickle_by_value(module)  # type: ignore[no-untyped-call]
    try:
        tuner = tune.Tuner(
            tune.with_resources(fail_once, {"cpu": 1}),
            param_space={**config, _JOB: job, _MARKER: str(storage_path / MARKER), _FIRST_RUN: dict(first_run)},
            tune_config=tune.TuneConfig(metric=metric, mode=mode),
            run_config=tune.RunConfig(
                name=f"{job}-retry",
                storage_path=str(storage_path),
                failure_config=tune.FailureConfig(max_failures=1),
                verbose=0,
            ),
        )
        result = tuner.fit()[0]
    finally:
        ray.cloudpickle.unregister_pickle_by_value(module)  # type: ignore[no-untyped-call]

    assert result.error is None
    assert (storage_path / MARKER).exists()  # the failure really happened
    return result
