"""What the SageMaker importer tests share: the smallest warning-free request, range builders, and the
table-driven cases (each accepted case is checked against the expected spec fields *and* the exact set of
warnings, so an approximation can neither appear nor vanish unnoticed; each rejected case against the field path
its error names)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pytest

from kubetune.importers import ImportResult
from kubetune.importers.sagemaker import import_tuning_job
from kubetune.spec import SpecError, load_object
from tests.conftest import REPO

CONFIG = "HyperParameterTuningJobConfig"
RANGES = f"{CONFIG}.ParameterRanges"
JOB = REPO / "jobs" / "bank_xgboost"

#: The smallest config that imports without a single warning: Random, one Linear range, a plain metric name.
BASE: dict[str, Any] = {
    "Strategy": "Random",
    "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "accuracy"},
    "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
    "ParameterRanges": {
        "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.1", "MaxValue": "0.9", "ScalingType": "Linear"}]
    },
}


def continuous(name: str, low: str, high: str, scaling: str | None = "Linear") -> dict[str, Any]:
    return {"Name": name, "MinValue": low, "MaxValue": high, **({"ScalingType": scaling} if scaling else {})}


def integer(name: str, low: str, high: str, scaling: str | None = "Linear") -> dict[str, Any]:
    return continuous(name, low, high, scaling)


def categorical(name: str, *values: Any) -> dict[str, Any]:
    return {"Name": name, "Values": list(values)}


def ranges(**kinds: list[dict[str, Any]]) -> dict[str, Any]:
    """``ranges(Integer=[...])`` → ``{"ParameterRanges": {"IntegerParameterRanges": [...]}}``."""
    return {"ParameterRanges": {f"{kind}ParameterRanges": items for kind, items in kinds.items()}}


def run_import(
    config: dict[str, Any],
    *,
    request: dict[str, Any] | None = None,
    training_job: dict[str, Any] | None = None,
    **options: Any,
) -> ImportResult:
    """Import ``BASE`` patched with ``config`` (top-level keys replaced; None deletes), as a whole request when
    ``request`` gives its other keys, else as the bare config object."""
    cfg = copy.deepcopy(BASE)
    for key, value in config.items():
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    body: dict[str, Any] = {**request, CONFIG: cfg} if request is not None else cfg
    kwargs: dict[str, Any] = {
        "name": "imported",
        "trainable": "pkg.module:train",
        "image": None,
        "namespace": None,
        "metric_map": {},
        **options,
    }
    return import_tuning_job(body, training_job=training_job, **kwargs)


@dataclass
class Accepted:
    id: str
    config: dict[str, Any]
    spec: dict[str, Any]  # expected spec fields (each compared whole)
    warnings: list[str] = field(default_factory=list)  # one fragment per expected warning
    request: dict[str, Any] | None = None
    training_job: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] | None = None


@dataclass
class Rejected:
    id: str
    config: dict[str, Any]
    path: str
    reason: str
    request: dict[str, Any] | None = None
    training_job: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)


def check_accepted(case: Accepted) -> None:
    """The case imports to the expected spec fields with exactly the expected warnings, as a valid spec."""
    result = run_import(case.config, request=case.request, training_job=case.training_job, **case.options)
    spec = result.document["spec"]
    for key, expected in case.spec.items():
        assert spec.get(key) == expected, key
    assert_warnings(result.warnings, case.warnings)
    if case.metadata is not None:
        assert result.document["metadata"] == case.metadata
    assert load_object(result.document).to_dict() == result.document  # valid, and nothing the spec would drop


def assert_warnings(warnings: list[str], fragments: list[str]) -> None:
    for fragment in fragments:
        assert sum(fragment in w for w in warnings) == 1, (fragment, warnings)
    assert len(warnings) == len(fragments), warnings


def check_rejected(case: Rejected) -> None:
    """The import fails with an error at the case's field path whose reason says what the case expects."""
    with pytest.raises(SpecError) as info:
        run_import(case.config, request=case.request, training_job=case.training_job, **case.options)
    matching = [e for e in info.value.errors if e.path == case.path]
    assert matching, [str(e) for e in info.value.errors]
    assert any(case.reason in e.reason for e in matching), [str(e) for e in matching]


TWO_INTEGERS = [integer("a", "1", "5"), integer("b", "1.5", "4")]
HYPERBAND = {"Strategy": "Hyperband", "StrategyConfig": {"HyperbandStrategyConfig": {"MaxResource": 9}}}
