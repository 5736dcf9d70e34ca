"""SageMaker tuning requests import into TuneExperiments with SageMaker's semantics, or fail naming the field.

Every accepted case is checked against the expected spec fields *and* the exact set of warnings (each fragment
matches one warning, and there are no others), so an approximation can neither appear nor vanish unnoticed.
"""

from __future__ import annotations

import copy
import json
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from kubetune.cli import main
from kubetune.cli.importing import render
from kubetune.importers import ImportResult
from kubetune.importers.sagemaker import import_tuning_job
from kubetune.spec import SpecError, load_object, load_text
from kubetune.spec.spaces import to_param_space
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


# --------------------------------------------------------------------------------------------------- accepted


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


ACCEPTED = [
    # ---- scaling types and bounds
    Accepted(
        "continuous linear is uniform over float bounds",
        ranges(Continuous=[continuous("lr", "0", "1")]),
        {"searchSpace": {"lr": {"uniform": [0.0, 1.0]}}},
    ),
    Accepted(
        "continuous bounds may be signed or in exponent form",
        ranges(Continuous=[continuous("b", "-1e-1", "+.5")]),
        {"searchSpace": {"b": {"uniform": [-0.1, 0.5]}}},
    ),
    Accepted(
        "continuous auto is uniform, with a warning",
        ranges(Continuous=[continuous("lr", "0", "1", "Auto")]),
        {"searchSpace": {"lr": {"uniform": [0.0, 1.0]}}},
        ["ScalingType Auto (SageMaker picks the scale while it searches) imported as Linear for lr"],
    ),
    Accepted(
        "a missing scaling type is SageMaker's default, auto",
        ranges(Continuous=[continuous("lr", "0", "1", None)]),
        {"searchSpace": {"lr": {"uniform": [0.0, 1.0]}}},
        ["imported as Linear for lr"],
    ),
    Accepted(
        "continuous logarithmic is loguniform",
        ranges(Continuous=[continuous("lr", "1e-5", "0.1", "Logarithmic")]),
        {"searchSpace": {"lr": {"loguniform": [1e-5, 0.1]}}},
    ),
    Accepted(
        "integer linear is randint with both bounds inclusive, no +1",
        ranges(Integer=[integer("depth", "1", "10")]),
        {"searchSpace": {"depth": {"randint": [1, 10]}}},
    ),
    Accepted(
        "a single-value integer range is kept",
        ranges(Integer=[integer("depth", "4", "4")]),
        {"searchSpace": {"depth": {"randint": [4, 4]}}},
    ),
    Accepted(
        "integer logarithmic is lograndint",
        ranges(Integer=[integer("units", "16", "4096", "Logarithmic")]),
        {"searchSpace": {"units": {"lograndint": [16, 4096]}}},
    ),
    Accepted(
        "integer auto is randint, with one warning naming every auto range",
        ranges(Integer=[integer("a", "1", "3", "Auto")], Continuous=[continuous("b", "0", "1", None)]),
        {"searchSpace": {"a": {"randint": [1, 3]}, "b": {"uniform": [0.0, 1.0]}}},
        ["imported as Linear for a, b"],
    ),
    # ---- categorical typing
    Accepted(
        "categorical strings stay strings",
        ranges(Categorical=[categorical("booster", "gbtree", "dart")]),
        {"searchSpace": {"booster": {"choice": ["gbtree", "dart"]}}},
    ),
    Accepted(
        "categorical values that are all integers become integers, with a warning",
        ranges(Categorical=[categorical("batch", "32", "64")]),
        {"searchSpace": {"batch": {"choice": [32, 64]}}},
        ["CategoricalParameterRanges[0] (batch): every value is a number, so they are imported as integers [32, 64]"],
    ),
    Accepted(
        "categorical numbers with a fraction all become floats",
        ranges(Categorical=[categorical("p", "1", "0.5", "2e-1")]),
        {"searchSpace": {"p": {"choice": [1.0, 0.5, 0.2]}}},
        ["imported as floats [1.0, 0.5, 0.2]"],
    ),
    Accepted(
        "categorical values that are not all numbers stay strings, unwarned",
        ranges(Categorical=[categorical("k", "1", "auto")]),
        {"searchSpace": {"k": {"choice": ["1", "auto"]}}},
    ),
    Accepted(
        "categorical numbers that would collide when typed stay strings",
        ranges(Categorical=[categorical("k", "1", "1.0")]),
        {"searchSpace": {"k": {"choice": ["1", "1.0"]}}},
    ),
    Accepted(
        "categorical booleans stay strings (only numbers are typed)",
        ranges(Categorical=[categorical("flag", "true", "false")]),
        {"searchSpace": {"flag": {"choice": ["true", "false"]}}},
    ),
    # ---- strategies
    Accepted("random keeps its seed", {"RandomSeed": 7}, {"search": {"algorithm": "random", "seed": 7}}),
    Accepted(
        "bayesian is optuna's TPE, with a warning",
        {"Strategy": "Bayesian"},
        {"search": {"algorithm": "optuna"}},
        ["Strategy Bayesian -> search.algorithm optuna"],
    ),
    Accepted(
        "grid enumerates categoricals once each",
        {
            "Strategy": "Grid",
            **ranges(Categorical=[categorical("opt", "adam", "sgd"), categorical("bs", "8", "16")]),
            "ResourceLimits": {"MaxParallelTrainingJobs": 2},
        },
        {
            "search": {"algorithm": "grid"},
            "numSamples": 1,
            "maxConcurrentTrials": 2,
            "searchSpace": {"opt": {"grid": ["adam", "sgd"]}, "bs": {"grid": [8, 16]}},
        },
        ["(bs): every value is a number"],
    ),
    Accepted(
        "grid says MaxNumberOfTrainingJobs is unused when it is not the grid size",
        {"Strategy": "Grid", **ranges(Categorical=[categorical("opt", "adam", "sgd")])},
        {"numSamples": 1},
        ["runs every combination once (2 trials, numSamples 1); ResourceLimits.MaxNumberOfTrainingJobs 4 is not used"],
    ),
    Accepted(
        "grid with MaxNumberOfTrainingJobs equal to the grid size is silent",
        {"Strategy": "Grid", **ranges(Categorical=[categorical("opt", "a", "b", "c", "d")])},
        {"numSamples": 1},
    ),
    Accepted(
        "hyperband is random search with asha from MinResource to MaxResource",
        {"Strategy": "Hyperband", "StrategyConfig": {"HyperbandStrategyConfig": {"MinResource": 2, "MaxResource": 27}}},
        {
            "search": {"algorithm": "random"},
            "scheduler": {"type": "asha", "timeAttr": "training_iteration", "maxT": 27, "gracePeriod": 2},
        },
        ["maxT 27 (MaxResource), gracePeriod 2 (MinResource)"],
    ),
    Accepted(
        "hyperband infers MaxResource from the epochs key SageMaker looks at first",
        {"Strategy": "Hyperband"},
        {
            "scheduler": {"type": "asha", "timeAttr": "training_iteration", "maxT": 8, "gracePeriod": 1},
            "config": {"num_epochs": 5, "epochs": 8},
        },
        ["MaxResource inferred from StaticHyperParameters.epochs: 8", "maxT 8 (MaxResource), gracePeriod 1"],
        training_job={"StaticHyperParameters": {"num_epochs": "5", "epochs": "8"}},
    ),
    # ---- early stopping
    Accepted(
        "auto early stopping is the median rule per training iteration",
        {"TrainingJobEarlyStoppingType": "Auto"},
        {"scheduler": {"type": "median", "timeAttr": "training_iteration", "gracePeriod": 1}},
        ["TrainingJobEarlyStoppingType Auto -> scheduler median"],
    ),
    Accepted(
        "early stopping off leaves the default scheduler",
        {"TrainingJobEarlyStoppingType": "Off"},
        {"search": {"algorithm": "random"}},
    ),
    # ---- resource limits
    Accepted(
        "resource limits become trials, concurrency and the time budget",
        {"ResourceLimits": {"MaxNumberOfTrainingJobs": 50, "MaxParallelTrainingJobs": 5, "MaxRuntimeInSeconds": 3600}},
        {"numSamples": 50, "maxConcurrentTrials": 5, "timeBudgetSeconds": 3600, "resourcesPerTrial": {"cpu": 1}},
    ),
    Accepted(
        "the time budget accepts SageMaker's extremes",
        {"ResourceLimits": {"MaxNumberOfTrainingJobs": 1, "MaxParallelTrainingJobs": 1, "MaxRuntimeInSeconds": 120}},
        {"numSamples": 1, "maxConcurrentTrials": 1, "timeBudgetSeconds": 120},
    ),
    # ---- completion criteria
    Accepted(
        "completion criteria are dropped, each with a warning",
        {
            "TuningJobCompletionCriteria": {
                "TargetObjectiveMetricValue": 0.95,
                "BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 5},
                "ConvergenceDetected": {"CompleteOnConvergence": "Enabled"},
            }
        },
        {"numSamples": 4},
        [
            "TargetObjectiveMetricValue 0.95 dropped: kubetune has no experiment-level target (spec.stop {accuracy",
            "BestObjectiveNotImproving (MaxNumberOfTrainingJobsNotImproving 5) dropped",
            "ConvergenceDetected dropped",
        ],
    ),
    Accepted(
        "disabled convergence detection loses nothing and is silent",
        {"TuningJobCompletionCriteria": {"ConvergenceDetected": {"CompleteOnConvergence": "Disabled"}}},
        {"numSamples": 4},
    ),
    # ---- the training job definition
    Accepted(
        "static hyperparameters are typed where they parse",
        {},
        {
            "config": {
                "num_round": 100,
                "rate": 0.3,
                "tiny": 0.001,
                "neg": -2,
                "objective": "binary:logistic",
                "on": True,
                "off": False,
                "id": "007",
                "nan": "nan",
                "ver": "1.0.2",
                "empty": "",
            }
        },
        training_job={
            "StaticHyperParameters": {
                "num_round": "100",
                "rate": "0.3",
                "tiny": "1e-3",
                "neg": "-2",
                "objective": "binary:logistic",
                "on": "True",
                "off": "false",
                "id": "007",
                "nan": "nan",
                "ver": "1.0.2",
                "empty": "",
            }
        },
    ),
    Accepted(
        "the SDK's container settings are not hyperparameters",
        {},
        {"config": {"depth": 3}},
        ["TrainingJobDefinition.StaticHyperParameters sagemaker_program, _tuning_objective_metric dropped"],
        training_job={
            "StaticHyperParameters": {
                "sagemaker_program": '"train.py"',
                "depth": "3",
                "_tuning_objective_metric": "accuracy",
            }
        },
    ),
    Accepted(
        "retries become failure.maxFailures, with their different trigger",
        {},
        {"failure": {"maxFailures": 3}},
        ["RetryStrategy.MaximumRetryAttempts 3 -> failure.maxFailures"],
        training_job={"RetryStrategy": {"MaximumRetryAttempts": 3}},
    ),
    Accepted(
        "a training job's stopping condition has no per-trial equivalent",
        {},
        {"numSamples": 4},
        ["StoppingCondition dropped (MaxRuntimeInSeconds 600, MaxPendingTimeInSeconds 7200)"],
        training_job={"StoppingCondition": {"MaxRuntimeInSeconds": 600, "MaxPendingTimeInSeconds": 7200}},
    ),
    Accepted(
        "infrastructure fields are listed once, not imported",
        {},
        {"resourcesPerTrial": {"cpu": 1}},
        ["TrainingJobDefinition not imported: AlgorithmSpecification, RoleArn, ResourceConfig (2 x ml.p3.2xlarge)"],
        training_job={
            "AlgorithmSpecification": {"TrainingImage": "x", "TrainingInputMode": "File"},
            "RoleArn": "arn:aws:iam::111122223333:role/r",
            "ResourceConfig": {"InstanceCount": 2, "InstanceType": "ml.p3.2xlarge"},
        },
    ),
    # ---- objective and metric names
    Accepted(
        "minimize is mode min",
        {"HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"}},
        {"metric": "loss", "mode": "min"},
    ),
    Accepted(
        "a ':' in the metric becomes '-', with a warning",
        {"HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:auc"}},
        {"metric": "validation-auc", "mode": "max"},
        ["objective metric 'validation:auc' imported as 'validation-auc'"],
    ),
    Accepted(
        "the metric map names the trainable's key, silently",
        {"HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:auc"}},
        {"metric": "val_auc"},
        options={"metric_map": {"validation:auc": "val_auc"}},
    ),
    Accepted(
        "an unused metric map entry is a warning",
        {},
        {"metric": "accuracy"},
        ["metric map validation:auc=val_auc unused: the objective metric is 'accuracy'"],
        options={"metric_map": {"validation:auc": "val_auc"}},
    ),
    # ---- request shapes and options
    Accepted(
        "a whole request names the experiment after the tuning job",
        {},
        {"image": "ghcr.io/x/y:1"},
        ["metadata.name 'my-tuning-job' derived from HyperParameterTuningJobName 'My--Tuning-Job'", "Tags dropped"],
        request={"HyperParameterTuningJobName": "My--Tuning-Job", "Tags": [{"Key": "team", "Value": "ml"}]},
        options={"name": None, "image": "ghcr.io/x/y:1", "namespace": "ml"},
        metadata={"name": "my-tuning-job", "namespace": "ml"},
    ),
    Accepted(
        "a lower-case tuning job name is used as is",
        {},
        {"numSamples": 4},
        request={"HyperParameterTuningJobName": "bank-1"},
        options={"name": None},
        metadata={"name": "bank-1"},
    ),
    Accepted(
        "a single TrainingJobDefinitions entry carries objective and ranges",
        {"HyperParameterTuningJobObjective": None, "ParameterRanges": None},
        {"metric": "rmse", "mode": "min", "searchSpace": {"d": {"randint": [2, 8]}}, "config": {"k": 1}},
        request={
            "TrainingJobDefinitions": [
                {
                    "DefinitionName": "only",
                    "TuningObjective": {"Type": "Minimize", "MetricName": "rmse"},
                    "HyperParameterRanges": {"IntegerParameterRanges": [integer("d", "2", "8")]},
                    "StaticHyperParameters": {"k": "1"},
                }
            ]
        },
    ),
]


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.id)
def test_accepted_request_imports_to_the_expected_spec(case: Accepted) -> None:
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


def test_ranges_keep_the_requests_order_across_kinds() -> None:
    config = ranges(Integer=[integer("z", "1", "2")], Continuous=[continuous("a", "0", "1")])
    config["ParameterRanges"]["CategoricalParameterRanges"] = [categorical("m", "x", "y")]
    assert list(run_import(config).document["spec"]["searchSpace"]) == ["z", "a", "m"]


@pytest.mark.parametrize(
    ("scaling", "kind"), [("Linear", "randint"), ("Auto", "randint"), ("Logarithmic", "lograndint")]
)
def test_integer_ranges_sample_both_inclusive_ends(scaling: str, kind: str) -> None:
    """SageMaker's MaxValue is a value trials get: Ray's exclusive upper bound is the engine's business."""
    result = run_import(ranges(Integer=[integer("n", "1", "3", scaling)]))
    space = load_object(result.document).space
    np.random.seed(0)
    values = set(to_param_space(space)["n"].sample(size=3000))
    assert values == {1, 2, 3}
    assert result.document["spec"]["searchSpace"]["n"] == {kind: [1, 3]}


@pytest.mark.parametrize(("scaling", "kind"), [("Linear", "uniform"), ("Logarithmic", "loguniform")])
def test_continuous_ranges_sample_within_their_bounds(scaling: str, kind: str) -> None:
    result = run_import(ranges(Continuous=[continuous("x", "0.001", "10", scaling)]))
    np.random.seed(0)
    values = to_param_space(load_object(result.document).space)["x"].sample(size=3000)
    assert 0.001 <= min(values) < max(values) <= 10
    if kind == "loguniform":  # spread over decades, not crowded at the top as a uniform draw would be
        assert sum(v < 0.1 for v in values) > 1000


# --------------------------------------------------------------------------------------------------- rejected


@dataclass
class Rejected:
    id: str
    config: dict[str, Any]
    path: str
    reason: str
    request: dict[str, Any] | None = None
    training_job: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)


TWO_INTEGERS = [integer("a", "1", "5"), integer("b", "1.5", "4")]
HYPERBAND = {"Strategy": "Hyperband", "StrategyConfig": {"HyperbandStrategyConfig": {"MaxResource": 9}}}

REJECTED = [
    # ---- bounds and scaling
    Rejected(
        "a fractional integer bound",
        ranges(Integer=TWO_INTEGERS),
        f"{RANGES}.IntegerParameterRanges[1].MinValue",
        "'1.5' is not an integer",
    ),
    Rejected(
        "an integer bound in float form",
        ranges(Integer=[integer("a", "1", "10.0")]),
        f"{RANGES}.IntegerParameterRanges[0].MaxValue",
        "'10.0' is not an integer",
    ),
    Rejected(
        "a word for a bound",
        ranges(Continuous=[continuous("a", "low", "1")]),
        f"{RANGES}.ContinuousParameterRanges[0].MinValue",
        "'low' is not a number",
    ),
    Rejected(
        "an infinite bound",
        ranges(Continuous=[continuous("a", "0", "inf")]),
        f"{RANGES}.ContinuousParameterRanges[0].MaxValue",
        "'inf' is not a number",
    ),
    Rejected(
        "an overflowing bound",
        ranges(Continuous=[continuous("a", "0", "1e999")]),
        f"{RANGES}.ContinuousParameterRanges[0].MaxValue",
        "'1e999' is not a number",
    ),
    Rejected(
        "a bound padded with spaces",
        ranges(Continuous=[continuous("a", " 0", "1")]),
        f"{RANGES}.ContinuousParameterRanges[0].MinValue",
        "' 0' is not a number",
    ),
    Rejected(
        "a bound that is a JSON number",
        ranges(Continuous=[{"Name": "a", "MinValue": 0, "MaxValue": "1"}]),
        f"{RANGES}.ContinuousParameterRanges[0].MinValue",
        "expected a string such as '0.5'",
    ),
    Rejected(
        "a missing bound",
        ranges(Continuous=[{"Name": "a", "MinValue": "0"}]),
        f"{RANGES}.ContinuousParameterRanges[0].MaxValue",
        "required field is missing",
    ),
    Rejected(
        "an empty continuous range",
        ranges(Continuous=[continuous("a", "1", "1")]),
        f"{RANGES}.ContinuousParameterRanges[0].MinValue",
        "1 must be below MaxValue 1",
    ),
    Rejected(
        "an inverted integer range",
        ranges(Integer=[integer("a", "5", "4")]),
        f"{RANGES}.IntegerParameterRanges[0].MinValue",
        "5 is above MaxValue 4",
    ),
    Rejected(
        "logarithmic from zero",
        ranges(Continuous=[continuous("a", "0", "1", "Logarithmic")]),
        f"{RANGES}.ContinuousParameterRanges[0].MinValue",
        "Logarithmic scaling needs MinValue > 0, got 0",
    ),
    Rejected(
        "integer logarithmic from zero",
        ranges(Integer=[integer("a", "0", "9", "Logarithmic")]),
        f"{RANGES}.IntegerParameterRanges[0].MinValue",
        "Logarithmic scaling needs MinValue >= 1, got 0",
    ),
    Rejected(
        "continuous reverse logarithmic",
        ranges(Continuous=[continuous("m", "0.9", "0.999", "ReverseLogarithmic")]),
        f"{RANGES}.ContinuousParameterRanges[0].ScalingType",
        "ReverseLogarithmic has no equivalent in kubetune's search space",
    ),
    Rejected(
        "reverse logarithmic says how to express it exactly",
        ranges(Continuous=[continuous("m", "0.9", "0.999", "ReverseLogarithmic")]),
        f"{RANGES}.ContinuousParameterRanges[0].ScalingType",
        "Logarithmic over [0.001, 0.1]",
    ),
    Rejected(
        "reverse logarithmic outside [0, 1)",
        ranges(Continuous=[continuous("m", "0.5", "2", "ReverseLogarithmic")]),
        f"{RANGES}.ContinuousParameterRanges[0].ScalingType",
        "0 <= MinValue < MaxValue < 1",
    ),
    Rejected(
        "integer reverse logarithmic",
        ranges(Integer=[integer("a", "1", "9", "ReverseLogarithmic")]),
        f"{RANGES}.IntegerParameterRanges[0].ScalingType",
        "for continuous ranges only",
    ),
    Rejected(
        "an unknown scaling type",
        ranges(Continuous=[continuous("a", "0", "1", "Log")]),
        f"{RANGES}.ContinuousParameterRanges[0].ScalingType",
        "got 'Log'; expected one of Auto, Linear",
    ),
    # ---- ranges
    Rejected("no ranges at all", {"ParameterRanges": {"IntegerParameterRanges": []}}, RANGES, "nothing to tune"),
    Rejected("no ParameterRanges", {"ParameterRanges": None}, RANGES, "required field is missing"),
    Rejected(
        "more than 30 ranges of a kind",
        ranges(Integer=[integer(f"p{i}", "1", "2") for i in range(31)]),
        f"{RANGES}.IntegerParameterRanges",
        "31 items; SageMaker allows at most 30",
    ),
    Rejected(
        "the same name twice",
        ranges(Integer=[integer("a", "1", "2")], Continuous=[continuous("a", "0", "1")]),
        f"{RANGES}.ContinuousParameterRanges[0].Name",
        "'a' is already a range",
    ),
    Rejected(
        "a name with '/'",
        ranges(Continuous=[continuous("opt/lr", "0", "1")]),
        f"{RANGES}.ContinuousParameterRanges[0].Name",
        "cannot contain '/'",
    ),
    Rejected(
        "a categorical value twice",
        ranges(Categorical=[categorical("k", "a", "b", "a")]),
        f"{RANGES}.CategoricalParameterRanges[0].Values[2]",
        "'a' is listed twice",
    ),
    Rejected(
        "a categorical value that is a JSON number",
        ranges(Categorical=[categorical("k", "a", 2)]),
        f"{RANGES}.CategoricalParameterRanges[0].Values[1]",
        "expected a string",
    ),
    Rejected(
        "no categorical values",
        ranges(Categorical=[categorical("k")]),
        f"{RANGES}.CategoricalParameterRanges[0].Values",
        "needs at least 1 item",
    ),
    Rejected(
        "31 categorical values",
        ranges(Categorical=[categorical("k", *map(str, range(31)))]),
        f"{RANGES}.CategoricalParameterRanges[0].Values",
        "at most 30",
    ),
    Rejected(
        "AutoParameters",
        {"ParameterRanges": {"AutoParameters": [{"Name": "lr", "ValueHint": "0.1"}]}},
        f"{RANGES}.AutoParameters",
        "Autotune infers these ranges",
    ),
    # ---- strategy, scheduler and limits
    Rejected("an unknown strategy", {"Strategy": "TPE"}, f"{CONFIG}.Strategy", "got 'TPE'; expected one of Bayesian"),
    Rejected("a misspelt key", {"Stratgy": "Random"}, f"{CONFIG}.Stratgy", "unknown field (did you mean Strategy?)"),
    Rejected(
        "grid over a continuous range",
        {"Strategy": "Grid"},
        f"{RANGES}.ContinuousParameterRanges[0]",
        "lr: Strategy Grid enumerates categorical values only",
    ),
    Rejected(
        "hyperband with auto early stopping",
        {**HYPERBAND, "TrainingJobEarlyStoppingType": "Auto"},
        f"{CONFIG}.TrainingJobEarlyStoppingType",
        "must be Off with Strategy Hyperband",
    ),
    Rejected(
        "early stopping spelt as in the prose docs",
        {"TrainingJobEarlyStoppingType": "AUTO"},
        f"{CONFIG}.TrainingJobEarlyStoppingType",
        "got 'AUTO'; expected one of Off, Auto",
    ),
    Rejected(
        "hyperband without MaxResource or epochs",
        {"Strategy": "Hyperband"},
        f"{CONFIG}.StrategyConfig.HyperbandStrategyConfig.MaxResource",
        "required with Strategy Hyperband unless StaticHyperParameters has one of epochs, numepochs",
    ),
    Rejected(
        "hyperband beyond 20,000 epochs",
        {"Strategy": "Hyperband", "StrategyConfig": {"HyperbandStrategyConfig": {"MaxResource": 20001}}},
        f"{CONFIG}.StrategyConfig.HyperbandStrategyConfig.MaxResource",
        "20001 is above the maximum 20000",
    ),
    Rejected(
        "hyperband with MinResource above MaxResource",
        {"Strategy": "Hyperband", "StrategyConfig": {"HyperbandStrategyConfig": {"MinResource": 10, "MaxResource": 9}}},
        f"{CONFIG}.StrategyConfig.HyperbandStrategyConfig.MinResource",
        "10 is above MaxResource 9",
    ),
    Rejected(
        "hyperband epochs that are not a number",
        {"Strategy": "Hyperband"},
        "TrainingJobDefinition.StaticHyperParameters.epochs",
        "'ten' is not a number of epochs from 1 to 20000",
        training_job={"StaticHyperParameters": {"epochs": "ten"}},
    ),
    Rejected(
        "a hyperband config for another strategy",
        {"StrategyConfig": {"HyperbandStrategyConfig": {"MaxResource": 9}}},
        f"{CONFIG}.StrategyConfig",
        "applies to Strategy Hyperband only, not Random",
    ),
    Rejected(
        "no parallel training jobs",
        {"ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 0}},
        f"{CONFIG}.ResourceLimits.MaxParallelTrainingJobs",
        "0 is below the minimum 1",
    ),
    Rejected(
        "parallel training jobs missing",
        {"ResourceLimits": {"MaxNumberOfTrainingJobs": 4}},
        f"{CONFIG}.ResourceLimits.MaxParallelTrainingJobs",
        "required field is missing",
    ),
    Rejected("no ResourceLimits", {"ResourceLimits": None}, f"{CONFIG}.ResourceLimits", "required field is missing"),
    Rejected(
        "a trial count as a string",
        {"ResourceLimits": {"MaxNumberOfTrainingJobs": "20", "MaxParallelTrainingJobs": 1}},
        f"{CONFIG}.ResourceLimits.MaxNumberOfTrainingJobs",
        "expected an integer, got '20'",
    ),
    Rejected(
        "a trial count as a boolean",
        {"ResourceLimits": {"MaxNumberOfTrainingJobs": True, "MaxParallelTrainingJobs": 1}},
        f"{CONFIG}.ResourceLimits.MaxNumberOfTrainingJobs",
        "expected an integer, got True",
    ),
    Rejected(
        "no trial count outside grid",
        {"ResourceLimits": {"MaxParallelTrainingJobs": 1}},
        f"{CONFIG}.ResourceLimits.MaxNumberOfTrainingJobs",
        "required with Strategy Random",
    ),
    Rejected(
        "a runtime below two minutes",
        {"ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 1, "MaxRuntimeInSeconds": 119}},
        f"{CONFIG}.ResourceLimits.MaxRuntimeInSeconds",
        "119 is below the minimum 120",
    ),
    Rejected(
        "a runtime above half a year",
        {
            "ResourceLimits": {
                "MaxNumberOfTrainingJobs": 4,
                "MaxParallelTrainingJobs": 1,
                "MaxRuntimeInSeconds": 15768001,
            }
        },
        f"{CONFIG}.ResourceLimits.MaxRuntimeInSeconds",
        "is above the maximum 15768000",
    ),
    Rejected("a negative seed", {"RandomSeed": -1}, f"{CONFIG}.RandomSeed", "-1 is below the minimum 0"),
    Rejected(
        "a target that is a string",
        {"TuningJobCompletionCriteria": {"TargetObjectiveMetricValue": "0.9"}},
        f"{CONFIG}.TuningJobCompletionCriteria.TargetObjectiveMetricValue",
        "expected a number, got '0.9'",
    ),
    Rejected(
        "fewer than three jobs without improvement",
        {"TuningJobCompletionCriteria": {"BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 2}}},
        f"{CONFIG}.TuningJobCompletionCriteria.BestObjectiveNotImproving.MaxNumberOfTrainingJobsNotImproving",
        "2 is below the minimum 3",
    ),
    # ---- objective
    Rejected(
        "no objective",
        {"HyperParameterTuningJobObjective": None},
        f"{CONFIG}.HyperParameterTuningJobObjective",
        "required field is missing",
    ),
    Rejected(
        "an objective type spelt the British way",
        {"HyperParameterTuningJobObjective": {"Type": "Maximise", "MetricName": "acc"}},
        f"{CONFIG}.HyperParameterTuningJobObjective.Type",
        "got 'Maximise'; expected one of Maximize, Minimize",
    ),
    Rejected(
        "a metric name that is no metric key",
        {"HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "val auc"}},
        f"{CONFIG}.HyperParameterTuningJobObjective.MetricName",
        "--metric-map val auc=<key>",
    ),
    Rejected(
        "a metric map onto a bad key",
        {"HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:auc"}},
        f"{CONFIG}.HyperParameterTuningJobObjective.MetricName",
        "'9auc' is not a metric key",
        options={"metric_map": {"validation:auc": "9auc"}},
    ),
    # ---- the request around the config
    Rejected(
        "warm start",
        {},
        "WarmStartConfig",
        "warm start seeds the search with the evaluated trials",
        request={
            "WarmStartConfig": {
                "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "p"}],
                "WarmStartType": "TransferLearning",
            }
        },
    ),
    Rejected("autotune", {}, "Autotune", "Autotune lets SageMaker choose", request={"Autotune": {"Mode": "Enabled"}}),
    Rejected(
        "two training job definitions",
        {},
        "TrainingJobDefinitions",
        "2 definitions; a TuneExperiment runs one",
        request={"TrainingJobDefinitions": [{"DefinitionName": "a"}, {"DefinitionName": "b"}]},
    ),
    Rejected(
        "a training job definition twice",
        {},
        "TrainingJobDefinition",
        "given twice",
        request={"TrainingJobDefinition": {}},
        training_job={},
    ),
    Rejected("an unknown request key", {}, "Tag", "unknown field (did you mean Tags?)", request={"Tag": []}),
    Rejected(
        "a CreateTrainingJob request as the definition",
        {},
        "TrainingJobDefinition.HyperParameters",
        "CreateTrainingJob's name; a tuning job's training definition calls them StaticHyperParameters",
        training_job={"HyperParameters": {"a": "1"}},
    ),
    Rejected(
        "a static hyperparameter that is also tuned",
        {},
        "TrainingJobDefinition.StaticHyperParameters.lr",
        "either static or tuned",
        training_job={"StaticHyperParameters": {"lr": "0.1"}},
    ),
    Rejected(
        "a static hyperparameter that is a JSON number",
        {},
        "TrainingJobDefinition.StaticHyperParameters.n",
        "expected a string",
        training_job={"StaticHyperParameters": {"n": 100}},
    ),
    Rejected(
        "more than 100 hyperparameters",
        {},
        "TrainingJobDefinition.StaticHyperParameters",
        "100 static and 1 tuned hyperparameters; SageMaker allows 100 in all",
        training_job={"StaticHyperParameters": {f"k{i}": "1" for i in range(100)}},
    ),
    Rejected(
        "too many retries",
        {},
        "TrainingJobDefinition.RetryStrategy.MaximumRetryAttempts",
        "31 is above the maximum 30",
        training_job={"RetryStrategy": {"MaximumRetryAttempts": 31}},
    ),
    Rejected(
        "a pending time under SageMaker's minimum",
        {},
        "TrainingJobDefinition.StoppingCondition.MaxPendingTimeInSeconds",
        "100 is below the minimum 7200",
        training_job={"StoppingCondition": {"MaxPendingTimeInSeconds": 100}},
    ),
    Rejected(
        "a tuning job name too long for SageMaker",
        {},
        "HyperParameterTuningJobName",
        "longer than 32",
        request={"HyperParameterTuningJobName": "x" * 33},
    ),
    # ---- what the options supply
    Rejected(
        "no name anywhere", {}, "--name", "the request has no HyperParameterTuningJobName", options={"name": None}
    ),
    Rejected(
        "a name that is no DNS label", {}, "--name", "'Bank_XGB' is not a DNS label", options={"name": "Bank_XGB"}
    ),
    Rejected("a namespace that is no DNS label", {}, "--namespace", "is not a DNS label", options={"namespace": "ML"}),
    Rejected(
        "a trainable that is no import path",
        {},
        "--trainable",
        "is not an import path",
        options={"trainable": "train.py"},
    ),
]


@pytest.mark.parametrize("case", REJECTED, ids=lambda c: c.id)
def test_rejected_request_names_the_sagemaker_field(case: Rejected) -> None:
    with pytest.raises(SpecError) as info:
        run_import(case.config, request=case.request, training_job=case.training_job, **case.options)
    matching = [e for e in info.value.errors if e.path == case.path]
    assert matching, [str(e) for e in info.value.errors]
    assert any(case.reason in e.reason for e in matching), [str(e) for e in matching]


def test_the_brief_example_error_reads_exactly_as_documented() -> None:
    with pytest.raises(SpecError) as info:
        run_import(ranges(Integer=TWO_INTEGERS))
    assert [str(e) for e in info.value.errors] == [
        f"{RANGES}.IntegerParameterRanges[1].MinValue: '1.5' is not an integer"
    ]


def test_every_problem_is_reported_at_once() -> None:
    config = {"Strategy": "Grid", "RandomSeed": -1, **ranges(Integer=TWO_INTEGERS)}
    with pytest.raises(SpecError) as info:
        run_import(config, name="Bad_Name")
    paths = {e.path for e in info.value.errors}
    assert {
        f"{RANGES}.IntegerParameterRanges[0]",
        f"{RANGES}.IntegerParameterRanges[1]",
        f"{CONFIG}.RandomSeed",
        "--name",
    } <= paths


@pytest.mark.parametrize("request_body", [[], "x", {"Foo": 1}], ids=["a list", "a string", "no tuning keys"])
def test_something_that_is_no_tuning_request_is_one_clear_error(request_body: Any) -> None:
    with pytest.raises(SpecError) as info:
        import_tuning_job(
            request_body, training_job=None, name="n", trainable="m:f", image=None, namespace=None, metric_map={}
        )
    (error,) = info.value.errors
    assert "tuning job" in error.reason.lower().replace("tuningjob", "tuning job")


# --------------------------------------------------------------------------------------------------- rendering


def test_rendered_yaml_loads_back_to_the_document_with_its_types() -> None:
    """Strings that look like YAML booleans or numbers must stay strings through the dump."""
    result = run_import(
        ranges(
            Categorical=[categorical("k", "yes", "no", "1.0", "null")],
            Continuous=[continuous("lr", "1e-6", "1e-1", "Logarithmic")],
        ),
        training_job={"StaticHyperParameters": {"mode": "on", "ver": "1.10", "t": "true", "n": "~"}},
    )
    text = render(result, sources=["t.json"], command=["kubetune", "import-sagemaker", "t.json"])
    assert yaml.safe_load(text) == result.document
    assert load_text(text).to_dict() == result.document
    assert "    lr: {loguniform: [1.0e-06, 0.1]}\n" in text


def test_rendering_is_deterministic() -> None:
    def once() -> str:
        result = run_import({"Strategy": "Bayesian", "TrainingJobEarlyStoppingType": "Auto"})
        return render(result, sources=["a.json"], command=["kubetune", "import-sagemaker", "a.json"])

    assert once() == once()


# --------------------------------------------------------------------------------------------------- the CLI


def write_json(path: Path, data: Any) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def test_cli_prints_the_experiment_and_warns_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tuning = write_json(
        tmp_path / "tuning.json", {"HyperParameterTuningJobName": "Nightly", CONFIG: {**BASE, "Strategy": "Bayesian"}}
    )
    assert main(["import-sagemaker", tuning, "--trainable", "pkg.mod:train", "--namespace", "ml"]) == 0
    out, err = capsys.readouterr()
    experiment = load_text(out)
    assert (experiment.name, experiment.namespace, experiment.algorithm) == ("nightly", "ml", "optuna")
    warnings = [line for line in err.splitlines() if line.startswith("kubetune: warning: ")]
    assert len(warnings) == 2 == len(err.splitlines())
    assert "Strategy Bayesian -> search.algorithm optuna" in warnings[0]
    assert "metadata.name 'nightly' derived from HyperParameterTuningJobName 'Nightly'" in warnings[1]
    header = [line for line in out.splitlines() if line.startswith("#")]
    assert f"# Source: {tuning}" in header
    assert any(line.startswith("#   - Strategy Bayesian -> search.algorithm optuna: ") for line in header)


def test_cli_writes_the_output_file_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tuning = write_json(tmp_path / "tuning.json", BASE)
    target = tmp_path / "exp.yaml"
    args = ["import-sagemaker", tuning, "--trainable", "m:f", "--name", "x", "--image", "img:1", "-o", str(target)]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert (out, err) == ("", "")
    assert load_text(target.read_text()).spec.image == "img:1"


def test_cli_reads_a_separate_training_job_and_a_metric_map(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tuning = write_json(
        tmp_path / "t.json",
        {**BASE, "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "validation:rmse"}},
    )
    job = write_json(tmp_path / "j.json", {"StaticHyperParameters": {"num_round": "50"}})
    args = [
        "import-sagemaker",
        tuning,
        "--training-job",
        job,
        "--trainable",
        "m:f",
        "--name",
        "x",
        "--metric-map",
        "validation:rmse=val_rmse",
    ]
    assert main(args) == 0
    spec = load_text(capsys.readouterr().out).spec
    assert (spec.metric, spec.mode, spec.config) == ("val_rmse", "min", {"num_round": 50})


def test_cli_errors_are_one_line_each_exit_1_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tuning = write_json(tmp_path / "t.json", {**BASE, **ranges(Integer=TWO_INTEGERS), "RandomSeed": -1})
    job = write_json(tmp_path / "j.json", {"RetryStrategy": {"MaximumRetryAttempts": 0}})
    target = tmp_path / "out.yaml"
    args = ["import-sagemaker", tuning, "--training-job", job, "--trainable", "m:f", "--name", "x", "-o", str(target)]
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"kubetune: cannot import {tuning}: {RANGES}.IntegerParameterRanges[1].MinValue: '1.5' is not an integer",
        f"kubetune: cannot import {tuning}: {CONFIG}.RandomSeed: -1 is below the minimum 0",
        f"kubetune: cannot import {job}: TrainingJobDefinition.RetryStrategy.MaximumRetryAttempts: 0 is below the "
        "minimum 1",
    ]
    assert not target.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "is not valid JSON at line 1, column 2"),
        ('{"Strategy": "Random", "Strategy": "Grid"}', "duplicate key 'Strategy'"),
        (None, "cannot read"),
    ],
    ids=["bad JSON", "duplicate key", "missing file"],
)
def test_cli_unreadable_input_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "t.json"
    if content is not None:
        path.write_text(content)
    assert main(["import-sagemaker", str(path), "--trainable", "m:f"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kubetune: error: ")
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "extra",
    [[], ["--trainable", "m:f", "--metric-map", "no-equals-sign"]],
    ids=["no trainable", "bad metric map"],
)
def test_cli_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str]) -> None:
    tuning = write_json(tmp_path / "t.json", BASE)
    with pytest.raises(SystemExit) as info:
        main(["import-sagemaker", tuning, *extra])
    assert info.value.code == 2
    assert "usage: kubetune import-sagemaker" in capsys.readouterr().err


def test_cli_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["import-sagemaker", "--help"])
    assert info.value.code == 0
    assert "--metric-map SAGEMAKER=KEY" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------- drift


def shipped_command() -> list[str]:
    """The regenerate command from the header of the shipped experiment.yaml."""
    lines = JOB.joinpath("experiment.yaml").read_text().splitlines()
    start = lines.index("# Regenerate with:") + 1
    command = []
    for line in lines[start:]:
        command.append(line.removeprefix("#").strip().removesuffix("\\"))
        if not line.endswith("\\"):
            break
    return shlex.split(" ".join(command))


def test_the_shipped_command_is_the_documented_one() -> None:
    assert shipped_command() == [
        "kubetune",
        "import-sagemaker",
        "jobs/bank_xgboost/sagemaker/tuning-job.json",
        "--training-job",
        "jobs/bank_xgboost/sagemaker/training-job.json",
        "--trainable",
        "jobs.bank_xgboost.trainable:train",
        "--image",
        "ghcr.io/kubetune/xgboost:0.1.0",
        "--name",
        "bank-xgboost",
        "--metric-map",
        "validation:auc=validation-auc",
        "-o",
        "jobs/bank_xgboost/experiment.yaml",
    ]


def test_the_bank_xgboost_experiment_is_the_importers_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Running the header's command on a copy of the JSON reproduces the shipped file byte for byte."""
    shutil.copytree(JOB / "sagemaker", tmp_path / "jobs" / "bank_xgboost" / "sagemaker")
    monkeypatch.chdir(tmp_path)
    assert main(shipped_command()[1:]) == 0
    regenerated = (tmp_path / "jobs" / "bank_xgboost" / "experiment.yaml").read_text()
    assert regenerated == JOB.joinpath("experiment.yaml").read_text(), "drifted: run the command in its header"
    capsys.readouterr()


def test_the_bank_xgboost_import_matches_the_tutorial() -> None:
    result = import_tuning_job(
        json.loads((JOB / "sagemaker" / "tuning-job.json").read_text()),
        training_job=json.loads((JOB / "sagemaker" / "training-job.json").read_text()),
        name="bank-xgboost",
        trainable="jobs.bank_xgboost.trainable:train",
        image="ghcr.io/kubetune/xgboost:0.1.0",
        namespace=None,
        metric_map={"validation:auc": "validation-auc"},
    )
    assert result.document == yaml.safe_load(JOB.joinpath("experiment.yaml").read_text())
    spec = result.document["spec"]
    assert spec["searchSpace"] == {
        "eta": {"uniform": [0.0, 1.0]},
        "min_child_weight": {"uniform": [1.0, 10.0]},
        "alpha": {"uniform": [0.0, 2.0]},
        "max_depth": {"randint": [1, 10]},
    }
    assert spec["config"] == {
        "eval_metric": "auc",
        "num_round": 100,
        "objective": "binary:logistic",
        "rate_drop": 0.3,
        "tweedie_variance_power": 1.4,
    }
    assert (spec["metric"], spec["mode"], spec["search"], spec["numSamples"], spec["maxConcurrentTrials"]) == (
        "validation-auc",
        "max",
        {"algorithm": "optuna"},
        20,
        3,
    )


def test_a_translation_the_spec_refuses_is_reported_as_an_importer_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    """The importer validates its own output: a mapping bug surfaces as an error, never as a bad file."""
    monkeypatch.setattr("kubetune.importers.sagemaker._SPEC_ORDER", ("trainable", "mode", "searchSpace"))
    with pytest.raises(SpecError) as info:
        run_import({})
    assert [e.path for e in info.value.errors] == ["spec.metric"]
    assert "a kubetune bug" in info.value.errors[0].reason
