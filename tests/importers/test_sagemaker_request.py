"""The request around the config (its two accepted shapes, the training job definition, the options SageMaker does
not carry) imports whole, or fails naming every problem at once."""

from __future__ import annotations

from typing import Any

import pytest

from kubetune.importers.sagemaker import import_tuning_job
from kubetune.spec import SpecError
from tests.importers.sagemaker_cases import (
    CONFIG,
    RANGES,
    TWO_INTEGERS,
    Accepted,
    Rejected,
    check_accepted,
    check_rejected,
    integer,
    ranges,
    run_import,
)

ACCEPTED = [
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
        "a training job's maximum runtime is the trial timeout; its wait and pending limits are dropped",
        {},
        {"numSamples": 4, "trialTimeoutSeconds": 600, "budget": {"trialHours": 4 * 600 / 3600}},
        [
            "StoppingCondition.MaxRuntimeInSeconds 600 -> spec.trialTimeoutSeconds: checked each time a trial reports",
            "4 training jobs x StoppingCondition.MaxRuntimeInSeconds 600 -> spec.budget.trialHours 0.666667",
            "StoppingCondition dropped (MaxWaitTimeInSeconds 900, MaxPendingTimeInSeconds 7200)",
        ],
        training_job={
            "StoppingCondition": {
                "MaxRuntimeInSeconds": 600,
                "MaxWaitTimeInSeconds": 900,
                "MaxPendingTimeInSeconds": 7200,
            }
        },
    ),
    Accepted(
        "a training job's maximum runtime alone is the trial timeout",
        {},
        {"trialTimeoutSeconds": 86400, "budget": {"trialHours": 96.0}},
        [
            "StoppingCondition.MaxRuntimeInSeconds 86400 -> spec.trialTimeoutSeconds",
            "4 training jobs x StoppingCondition.MaxRuntimeInSeconds 86400 -> spec.budget.trialHours 96",
        ],
        training_job={"StoppingCondition": {"MaxRuntimeInSeconds": 86400}},
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

REJECTED = [
    # ---- the request around the config
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


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.id)
def test_accepted_request_imports_to_the_expected_spec(case: Accepted) -> None:
    check_accepted(case)


@pytest.mark.parametrize("case", REJECTED, ids=lambda c: c.id)
def test_rejected_request_names_the_sagemaker_field(case: Rejected) -> None:
    check_rejected(case)


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


@pytest.mark.parametrize(
    ("file_name", "label"),
    [("tuning-job.json", "tuning-job"), ("Nightly_XGB Tuning.JSON", "nightly-xgb-tuning"), ("2024.json", "2024")],
)
def test_a_bare_config_is_named_after_its_file_as_a_dns_label(file_name: str, label: str) -> None:
    result = run_import({}, name=None, source_name=file_name)
    assert result.document["metadata"] == {"name": label}
    assert [w for w in result.warnings if "metadata.name" in w] == [
        f"metadata.name {label!r} taken from the file name {file_name!r} (the request has no "
        "HyperParameterTuningJobName); choose another with --name"
    ]


def test_the_job_name_wins_over_the_file_name_and_the_option_over_both() -> None:
    request = {"HyperParameterTuningJobName": "nightly"}
    assert run_import({}, request=request, name=None, source_name="f.json").document["metadata"]["name"] == "nightly"
    assert run_import({}, request=request, name="mine", source_name="f.json").document["metadata"]["name"] == "mine"


def test_a_file_name_without_a_letter_or_digit_still_needs_the_name_option() -> None:
    with pytest.raises(SpecError) as info:
        run_import({}, name=None, source_name="__.json")
    assert [e.path for e in info.value.errors] == ["--name"]
