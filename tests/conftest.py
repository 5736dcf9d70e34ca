"""Shared fixtures: one local Ray per test session for the tests that run real Tune experiments."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """A 2-CPU local Ray, its workers able to import ``tests.fixtures`` and ``jobs`` like the driver."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a throwaway local cluster on 127.0.0.1
    if not ray.is_initialized():
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}},
        )
    yield
    ray.shutdown()


def experiment_doc(name: str, trainable: str, **spec: object) -> dict[str, object]:
    """A TuneExperiment document for tests, with the given spec fields on top of a minimal valid one."""
    base: dict[str, object] = {
        "trainable": trainable,
        "metric": "score",
        "mode": "max",
        "searchSpace": {"x": {"uniform": [0.0, 1.0]}},
    }
    base.update(spec)
    return {"apiVersion": "kubetune.io/v1alpha1", "kind": "TuneExperiment", "metadata": {"name": name}, "spec": base}
