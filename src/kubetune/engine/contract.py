"""The convention of a job's ``trainable.py``, as protocols: what ``kubetune run`` and ``kubetune best`` call.

A trainable module is a :class:`Job` when it defines

``train(config)``
    a Ray Tune function trainable: reports metrics (and checkpoints) with ``tune.report``;
``load_checkpoint(path)``
    the model of a checkpoint directory the trial reported (a local path or a storage URI such as ``s3://``);
``evaluate(model, config)``
    scores of that model on the data a trial's ``config`` points at, by name.

``kubetune best --evaluate`` needs only the last two (:class:`Evaluable`): the trainable it names may be any Ray
Tune function of the module. Modules are checked against these protocols statically (mypy: the reference jobs in
``jobs/contract.py``) and at run time by :func:`missing`, which says which function a module lacks.

Nothing here imports a framework: the operator image and the CLI import this module too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol


class Evaluable(Protocol):
    """A module whose checkpoints ``kubetune best --evaluate`` can load and score."""

    def load_checkpoint(self, path: str | os.PathLike[str]) -> Any:
        """The model saved in the checkpoint directory ``path``."""
        ...

    def evaluate(self, model: Any, config: dict[str, Any]) -> Mapping[str, float]:
        """Scores of ``model`` on the data ``config`` (a trial's config) points at."""
        ...


class Job(Evaluable, Protocol):
    """A reference job's ``trainable.py``: a Ray Tune function trainable and the two helpers of :class:`Evaluable`."""

    def train(self, config: dict[str, Any]) -> None:
        """One trial: train on ``config``, reporting metrics and checkpoints to Ray Tune."""
        ...


def functions(protocol: type) -> tuple[str, ...]:
    """The public functions ``protocol`` asks for, those of its base protocols first."""
    found: dict[str, None] = {}
    for klass in reversed(protocol.__mro__):
        found.update((name, None) for name, value in vars(klass).items() if callable(value) and name[0] != "_")
    return tuple(found)


def missing(module: object, protocol: type = Job) -> list[str]:
    """The functions of ``protocol`` that ``module`` does not define (or defines as something not callable)."""
    return [name for name in functions(protocol) if not callable(getattr(module, name, None))]
