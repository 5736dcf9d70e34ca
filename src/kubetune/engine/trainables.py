"""Finding the user's trainable from an import path and wrapping it with resources.

The trainable is any Ray Tune function trainable, imported unchanged. The current directory is put on
``sys.path`` first (as ``python -m`` does) so ``jobs.mnist_torch.trainable:train`` works from a checkout; Ray's
workers import the module the same way because they inherit the driver's ``PYTHONPATH`` (set in
:func:`worker_pythonpath`).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from kubetune.spec import Experiment, SpecError

log = logging.getLogger(__name__)


def resolve(import_path: str) -> Callable[..., Any]:
    module_name, _, attr = import_path.partition(":")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise SpecError.one("spec.trainable", f"cannot import module {module_name!r}: {e}") from e
    except Exception as e:  # the user's module failed while importing: say where, keep the cause chained
        raise SpecError.one("spec.trainable", f"importing {module_name!r} raised {type(e).__name__}: {e}") from e
    fn = getattr(module, attr, None)
    if fn is None:
        raise SpecError.one("spec.trainable", f"module {module_name!r} has no attribute {attr!r}")
    if not callable(fn):
        raise SpecError.one("spec.trainable", f"{import_path} is not callable")
    return fn  # type: ignore[no-any-return]


def worker_pythonpath() -> str:
    """The driver's import roots, so Ray worker processes can import the same trainable module."""
    paths = [os.getcwd(), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    return os.pathsep.join(dict.fromkeys(p for p in paths if p))


def trial_resources(exp: Experiment, *, gpus_available: bool) -> dict[str, float]:
    """What one trial reserves. A spec written for the GPU cluster still runs on a laptop: without any GPU in
    the (local) Ray cluster the trials run on CPU, with a warning, instead of pending forever."""
    r = exp.spec.resources_per_trial
    gpu = r.gpu
    if gpu and not gpus_available:
        log.warning("spec.resourcesPerTrial.gpu is %s but this Ray cluster has no GPU: trials run on CPU", gpu)
        gpu = 0.0
    resources: dict[str, float] = {"cpu": r.cpu, "gpu": gpu}
    if r.memory:
        resources["memory"] = float(r.memory)
    return resources


def with_resources(trainable: Callable[..., Any], resources: dict[str, float]) -> Any:
    from ray import tune

    return tune.with_resources(trainable, resources)
