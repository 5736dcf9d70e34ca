"""The spec loader on any document: an Experiment, or a SpecError whose every error names a field - nothing else.

Documents are mutations of valid TuneExperiments (wrong types, unknown keys, huge and non-finite numbers, odd
strings, nested junk), as Python objects (what the operator hands over) and as YAML text (``kubetune run``).
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubetune.spec import Experiment, SpecError, load_object, load_text

from .strategies import mutated, odd_text

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID: dict[str, Any] = {
    "apiVersion": "kubetune.io/v1alpha1",
    "kind": "TuneExperiment",
    "metadata": {"name": "mnist-asha", "namespace": "ml", "labels": {"team": "ml"}},
    "spec": {
        "trainable": "jobs.mnist_torch.trainable:train",
        "metric": "mean_accuracy",
        "mode": "max",
        "searchSpace": {
            "lr": {"loguniform": [1e-4, 1e-1]},
            "momentum": {"uniform": [0.1, 0.9]},
            "hidden": {"randint": [16, 512]},
            "units": {"lograndint": [16, 4096]},
            "dropout": {"quniform": [0.0, 0.5, 0.05]},
            "model": {"batch": {"choice": [32, 64]}, "init": {"normal": [0.0, 1.0]}},
        },
        "config": {"epochs": 3},
        "search": {"algorithm": "random", "seed": 7},
        "scheduler": {"type": "asha", "maxT": 20, "gracePeriod": 2, "reductionFactor": 3},
        "numSamples": 4,
        "maxConcurrentTrials": 2,
        "resourcesPerTrial": {"cpu": 1, "gpu": 0.5, "memory": "4Gi"},
        "stop": {"training_iteration": 20},
        "timeBudgetSeconds": 600,
        "failure": {"maxFailures": 1, "failFast": False},
        "checkpoint": {"numToKeep": 2, "scoreAttribute": "mean_accuracy", "scoreOrder": "max"},
        "storage": {"path": "/tmp/kubetune"},
        "cluster": {"workerGroup": "gpu"},
        "reuseActors": False,
    },
}


def check(outcome: Experiment | SpecError, *, root_is_mapping: bool) -> None:
    if isinstance(outcome, Experiment):
        assert outcome.total_trials >= 1
        assert outcome.algorithm
        assert outcome.scheduler_type
        return
    assert outcome.errors, "a SpecError without errors"
    for error in outcome.errors:
        assert error.reason, error
        if root_is_mapping:
            assert error.path, f"an error without a field path: {error}"


def load(doc: Any) -> Experiment | SpecError:
    try:
        return load_object(doc)
    except SpecError as e:
        return e


def test_the_valid_document_loads() -> None:
    assert isinstance(load(VALID), Experiment)


@SETTINGS
@given(mutated(VALID))
def test_any_mutated_document_is_an_experiment_or_errors_naming_fields(doc: Any) -> None:
    check(load(doc), root_is_mapping=isinstance(doc, dict))


@SETTINGS
@given(mutated(VALID))
def test_any_mutated_document_as_yaml_text_is_an_experiment_or_errors_naming_fields(doc: Any) -> None:
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        return  # not representable in YAML (a lone surrogate): nothing a user could write
    try:
        outcome: Experiment | SpecError = load_text(text)
    except SpecError as e:
        outcome = e
    reparsed = yaml.safe_load(text)
    check(outcome, root_is_mapping=isinstance(reparsed, dict) and not _yaml_level_error(outcome))


def _yaml_level_error(outcome: Experiment | SpecError) -> bool:
    return isinstance(outcome, SpecError) and any("YAML" in e.reason or "document" in e.reason for e in outcome.errors)


@SETTINGS
@given(st.one_of(odd_text, st.binary(max_size=200).map(lambda b: b.decode("utf-8", "replace"))))
def test_any_text_is_an_experiment_or_a_spec_error(text: str) -> None:
    try:
        outcome: Experiment | SpecError = load_text(text)
    except SpecError as e:
        outcome = e
    check(outcome, root_is_mapping=False)
