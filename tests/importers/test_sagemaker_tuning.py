"""The tuning config's sections (objective, strategy, early stopping, resource limits, completion criteria) import
with SageMaker's semantics, or fail naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from kubetune.spec import load_object
from tests.importers.sagemaker_cases import (
    CONFIG,
    HYPERBAND,
    RANGES,
    Accepted,
    Rejected,
    categorical,
    check_accepted,
    check_rejected,
    ranges,
    run_import,
)

ACCEPTED = [
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
        "early stopping off runs every trial to its end",
        {"TrainingJobEarlyStoppingType": "Off"},
        {"search": {"algorithm": "random"}, "scheduler": {"type": "fifo"}},
    ),
    Accepted(
        "no early stopping type is SageMaker's default, off",
        {"TrainingJobEarlyStoppingType": None},
        {"search": {"algorithm": "random"}, "scheduler": {"type": "fifo"}},
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
        "the target objective value is the goal; the other completion criteria are dropped, each with a warning",
        {
            "TuningJobCompletionCriteria": {
                "TargetObjectiveMetricValue": 0.95,
                "BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 5},
                "ConvergenceDetected": {"CompleteOnConvergence": "Enabled"},
            }
        },
        {"numSamples": 4, "goal": 0.95},
        [
            "TargetObjectiveMetricValue 0.95 -> spec.goal: the experiment ends when a trial reports accuracy >= 0.95",
            "BestObjectiveNotImproving (MaxNumberOfTrainingJobsNotImproving 5) dropped",
            "ConvergenceDetected dropped",
        ],
    ),
    Accepted(
        "a target objective value under Minimize is a goal reached from above",
        {
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "TuningJobCompletionCriteria": {"TargetObjectiveMetricValue": 0.05},
        },
        {"metric": "loss", "mode": "min", "goal": 0.05},
        ["TargetObjectiveMetricValue 0.05 -> spec.goal: the experiment ends when a trial reports loss <= 0.05"],
    ),
    Accepted(
        "disabled convergence detection loses nothing and is silent",
        {"TuningJobCompletionCriteria": {"ConvergenceDetected": {"CompleteOnConvergence": "Disabled"}}},
        {"numSamples": 4},
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
]

REJECTED = [
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
        "--metric-map 'val auc'=<key>",  # quoted, so the hint pastes into a shell as one argument
    ),
    Rejected(
        "a metric map onto a bad key",
        {"HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:auc"}},
        f"{CONFIG}.HyperParameterTuningJobObjective.MetricName",
        "'9auc' is not a metric key",
        options={"metric_map": {"validation:auc": "9auc"}},
    ),
]


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.id)
def test_accepted_tuning_config_imports_to_the_expected_spec(case: Accepted) -> None:
    check_accepted(case)


@pytest.mark.parametrize("case", REJECTED, ids=lambda c: c.id)
def test_rejected_tuning_config_names_the_sagemaker_field(case: Rejected) -> None:
    check_rejected(case)


@pytest.mark.parametrize("stopping", ["Off", None], ids=["off", "absent"])
@pytest.mark.parametrize("strategy", ["Bayesian", "Random", "Grid"])
def test_an_experiment_without_early_stopping_never_stops_a_trial_early(strategy: str, stopping: str | None) -> None:
    """SageMaker runs every training job to its end unless early stopping is Auto; kubetune's default scheduler
    (ASHA, for a spec that names none) would stop the weaker trials instead."""
    config: dict[str, Any] = {"Strategy": strategy, "TrainingJobEarlyStoppingType": stopping}
    if strategy == "Grid":
        config.update(ranges(Categorical=[categorical("k", "a", "b")]))
    experiment = load_object(run_import(config).document)
    assert experiment.scheduler_type == "fifo"
