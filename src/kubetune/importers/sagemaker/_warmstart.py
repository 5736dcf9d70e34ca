"""``WarmStartConfig`` → ``spec.warmStart``: SageMaker's parent tuning jobs become the kubetune experiments that
seed the search.

A parent's results live in SageMaker, where kubetune cannot read them; what it can read is an earlier kubetune
experiment. So each parent, ``ParentHyperParameterTuningJobs[i].HyperParameterTuningJobName``, becomes a
``warmStart.from`` *name*: the name made a DNS label, as the importer names every experiment, which the runner
looks up in the new experiment's storage root (``<spec.storage.path>/<name>``, :mod:`kubetune.engine.warmstart`).
The parents must therefore have been imported and run there first. Both warm start types import alike:
kubetune seeds Optuna with the parents' finished trials whose hyperparameters fit the new ranges, which is what
``IdenticalDataAndAlgorithm`` asks for; ``TransferLearning`` also lets SageMaker use parent trials that lack a
hyperparameter or lie outside the new ranges, which kubetune skips. Only ``Strategy Bayesian`` (Optuna) can be
seeded; the others import as searchers that earlier trials cannot seed, and are refused.
"""

from __future__ import annotations

import re
from typing import Any, Final

from kubetune.importers._reading import join, shown
from kubetune.importers.sagemaker._request import Request, dns_label

PATH: Final = "WarmStartConfig"
TYPES: Final = ("IdenticalDataAndAlgorithm", "TransferLearning")
#: SageMaker's limit on ParentHyperParameterTuningJobs.
MAX_PARENTS: Final = 5
#: HyperParameterTuningJobName as the SageMaker API model writes it.
_JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$")
#: The search each strategy imports as (see search_and_scheduler).
_ALGORITHMS: Final = {"Random": "random", "Hyperband": "random", "Grid": "grid"}
_NOTES: Final = {
    "IdenticalDataAndAlgorithm": "kubetune does not check that the data and algorithm are the same",
    "TransferLearning": "a parent trial that lacks a hyperparameter tuned here or lies outside these ranges is "
    "skipped (SageMaker would still learn from it)",
}


def warm_start(req: Request, *, name: str) -> dict[str, Any]:
    """``{"warmStart": {"from": [...]}}`` from the request's WarmStartConfig (``{}`` without one); ``name`` is the
    imported experiment's, which no parent may be."""
    if req.warm_start is None:
        return {}
    r = req.r
    known = ("ParentHyperParameterTuningJobs", "WarmStartType")
    config = r.obj(req.warm_start, PATH, known=known, required=known) or {}
    kind = r.string(config, "WarmStartType", PATH, enum=TYPES)
    parents = r.array(config, "ParentHyperParameterTuningJobs", PATH, min_length=1, max_length=MAX_PARENTS)
    labels: list[str] = []
    renamed: list[str] = []
    for index, parent in enumerate(parents):
        path = join(join(PATH, "ParentHyperParameterTuningJobs"), index)
        key = "HyperParameterTuningJobName"
        job = r.string(r.obj(parent, path, known=(key,), required=(key,)) or {}, key, path, min_length=1)
        if job is None:
            continue
        here = join(path, key)
        label = dns_label(job)
        if not _JOB_NAME.fullmatch(job):
            r.fail(here, f"{job!r} is not a tuning job name: letters, digits and '-', at most 32 characters")
        elif label == name:
            r.fail(here, f"{job!r} is the imported experiment itself ({name}); name earlier tuning jobs")
        elif label in labels:
            first = labels.index(label)
            r.fail(here, f"names the same experiment as ParentHyperParameterTuningJobs[{first}] ({label})")
        else:
            labels.append(label)
            if label != job:
                renamed.append(f"parent {shown(job)!r} is the experiment {label}")
    algorithm = _ALGORITHMS.get(req.strategy or "")
    if algorithm is not None:
        r.fail(
            PATH,
            f"cannot be imported with Strategy {req.strategy}: Strategy {req.strategy} imports as search.algorithm "
            f"{algorithm}, which earlier trials cannot seed; only Strategy Bayesian (search.algorithm optuna) takes "
            "a warm start",
        )
    if kind is None or not labels or algorithm is not None:
        return {}
    req.warnings.append(
        f"{PATH} ({kind}) -> spec.warmStart.from {', '.join(labels)}: each parent is the kubetune experiment of "
        "that name in this experiment's storage root (spec.storage.path), so import and run the parents there "
        "first; their finished trials that fit these ranges seed Optuna, SageMaker's own results are not read; "
        f"{_NOTES[kind]}" + (f" ({'; '.join(renamed)})" if renamed else "")
    )
    return {"warmStart": {"from": labels}}
