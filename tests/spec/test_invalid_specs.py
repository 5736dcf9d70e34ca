"""Every way a spec can be wrong is rejected before Ray, with the offending field named."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

import pytest

from kubetune.spec import SpecError, load_object, load_text

VALID: dict[str, Any] = {
    "apiVersion": "kubetune.io/v1alpha1",
    "kind": "TuneExperiment",
    "metadata": {"name": "mnist-asha", "namespace": "ml"},
    "spec": {
        "trainable": "jobs.mnist_torch.trainable:train",
        "metric": "mean_accuracy",
        "mode": "max",
        "searchSpace": {"lr": {"loguniform": [1e-4, 1e-1]}, "momentum": {"uniform": [0.1, 0.9]}},
    },
}


@dataclass
class Case:
    name: str
    patch: dict[str, Any]  # dotted path -> new value; None deletes
    field: str
    reason: str = ""
    extra: list[str] = dataclasses.field(default_factory=list)


def apply(patch: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(VALID)
    for path, value in patch.items():
        *parents, last = path.split(".")
        node = doc
        for p in parents:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return doc


CASES = [
    Case("wrong api version", {"apiVersion": "kubetune.io/v1"}, "apiVersion", "expected"),
    Case("wrong kind", {"kind": "Experiment"}, "kind"),
    Case("missing metadata name", {"metadata": {}}, "metadata.name", "required"),
    Case("name not a DNS label", {"metadata.name": "My_Experiment"}, "metadata.name"),
    Case("missing metric", {"spec.metric": None}, "spec.metric", "required"),
    Case("bad mode", {"spec.mode": "maximise"}, "spec.mode", "'maximise'"),
    Case("missing trainable", {"spec.trainable": None}, "spec.trainable", "required"),
    Case("trainable without function", {"spec.trainable": "jobs.mnist_torch.trainable"}, "spec.trainable"),
    Case("unknown spec field", {"spec.numSampls": 3}, "spec.numSampls", "did you mean numSamples"),
    Case("unknown top-level field", {"specs": {}}, "specs", "unknown field"),
    Case("zero samples", {"spec.numSamples": 0}, "spec.numSamples", "greater than or equal to 1"),
    Case("negative samples", {"spec.numSamples": -3}, "spec.numSamples"),
    Case("samples as string", {"spec.numSamples": "10"}, "spec.numSamples", "valid integer"),
    Case("samples as float", {"spec.numSamples": 2.5}, "spec.numSamples", "valid integer"),
    Case("samples as bool", {"spec.numSamples": True}, "spec.numSamples", "valid integer"),
    Case("zero concurrency", {"spec.maxConcurrentTrials": 0}, "spec.maxConcurrentTrials"),
    Case("negative cpu", {"spec.resourcesPerTrial": {"cpu": -1}}, "spec.resourcesPerTrial.cpu"),
    Case(
        "fractional gpu above one",
        {"spec.resourcesPerTrial": {"gpu": 1.5}},
        "spec.resourcesPerTrial.gpu",
        "below 1",
    ),
    Case(
        "bad memory quantity",
        {"spec.resourcesPerTrial": {"memory": "4 gigs"}},
        "spec.resourcesPerTrial.memory",
        "quantity",
    ),
    Case("unknown algorithm", {"spec.search": {"algorithm": "genetic"}}, "spec.search.algorithm", "'genetic'"),
    Case("unknown scheduler", {"spec.scheduler": {"type": "sha"}}, "spec.scheduler.type"),
    Case("negative time budget", {"spec.timeBudgetSeconds": -5}, "spec.timeBudgetSeconds"),
    Case("goal as a string", {"spec.goal": "0.95"}, "spec.goal", "valid number"),
    Case("goal not finite", {"spec.goal": float("nan")}, "spec.goal", "finite"),
    Case("zero trial timeout", {"spec.trialTimeoutSeconds": 0}, "spec.trialTimeoutSeconds", "greater than 0"),
    Case("trial timeout as a string", {"spec.trialTimeoutSeconds": "60"}, "spec.trialTimeoutSeconds", "number"),
    Case("zero GPU-hour budget", {"spec.budget": {"gpuHours": 0}}, "spec.budget.gpuHours", "greater than 0"),
    Case("budget with a typo", {"spec.budget": {"gpuHour": 2}}, "spec.budget.gpuHour"),
    Case("empty budget", {"spec.budget": {}}, "spec.budget", "set gpuHours or trialHours"),
    Case("GPU-hours without GPUs", {"spec.budget": {"gpuHours": 2}}, "spec.budget.gpuHours", "reserves a GPU"),
    Case("trial hours as a string", {"spec.budget": {"trialHours": "2"}}, "spec.budget.trialHours", "number"),
    Case("max failures below -1", {"spec.failure": {"maxFailures": -2}}, "spec.failure.maxFailures"),
    Case("keep zero checkpoints", {"spec.checkpoint": {"numToKeep": 0}}, "spec.checkpoint.numToKeep"),
    Case(
        "stop value not a number",
        {"spec.stop": {"training_iteration": "ten"}},
        "spec.stop.training_iteration",
    ),
    Case("empty search space", {"spec.searchSpace": {}}, "spec.searchSpace"),
    Case(
        "loguniform lower bound zero",
        {"spec.searchSpace.lr": {"loguniform": [0, 1]}},
        "spec.searchSpace.lr.loguniform",
        "lower bound must be > 0",
    ),
    Case(
        "uniform bounds reversed",
        {"spec.searchSpace.lr": {"uniform": [1, 0]}},
        "spec.searchSpace.lr.uniform",
        "lower bound must be < upper bound",
    ),
    Case(
        "uniform with one bound",
        {"spec.searchSpace.lr": {"uniform": [1]}},
        "spec.searchSpace.lr.uniform",
        "expected [lower, upper]",
    ),
    Case(
        "randint with float bounds",
        {"spec.searchSpace.h": {"randint": [1.5, 8]}},
        "spec.searchSpace.h.randint",
        "integers",
    ),
    Case("randint bounds reversed", {"spec.searchSpace.h": {"randint": [9, 8]}}, "spec.searchSpace.h.randint"),
    Case(
        "lograndint from zero",
        {"spec.searchSpace.h": {"lograndint": [0, 8]}},
        "spec.searchSpace.h.lograndint",
        ">= 1",
    ),
    Case(
        "quniform step zero",
        {"spec.searchSpace.d": {"quniform": [0, 1, 0]}},
        "spec.searchSpace.d.quniform",
        "step q",
    ),
    Case(
        "normal with negative sd",
        {"spec.searchSpace.w": {"normal": [0, -1]}},
        "spec.searchSpace.w.normal",
        "standard deviation",
    ),
    Case("empty choice", {"spec.searchSpace.b": {"choice": []}}, "spec.searchSpace.b.choice", "at least one"),
    Case("choice not a list", {"spec.searchSpace.b": {"choice": 32}}, "spec.searchSpace.b.choice", "list"),
    Case("bound is a string", {"spec.searchSpace.lr": {"uniform": ["0.1", 1]}}, "spec.searchSpace.lr.uniform"),
    Case(
        "fixed value in search space",
        {"spec.searchSpace.epochs": 10},
        "spec.searchSpace.epochs",
        "spec.config",
    ),
    Case(
        "two distributions in one",
        {"spec.searchSpace.lr": {"uniform": [0, 1], "choice": [1]}},
        "spec.searchSpace.lr",
        "exactly one key",
    ),
    Case(
        "nested group error",
        {"spec.searchSpace.model": {"dropout": {"uniform": [0.5, 0.1]}}},
        "spec.searchSpace.model.dropout.uniform",
    ),
    Case("parameter both searched and fixed", {"spec.config": {"lr": 0.1}}, "spec.config.lr", "either"),
    Case(
        "grid with optuna",
        {"spec.search": {"algorithm": "optuna"}, "spec.searchSpace.o": {"grid": ["a", "b"]}},
        "spec.searchSpace.o.grid",
        "use choice",
    ),
    Case(
        "continuous dimension with grid search",
        {"spec.search": {"algorithm": "grid"}},
        "spec.searchSpace.lr.loguniform",
        "finite",
    ),
    Case(
        "bayesopt with loguniform",
        {"spec.search": {"algorithm": "bayesopt"}},
        "spec.searchSpace.lr.loguniform",
        "only uniform",
    ),
    Case(
        "optuna with normal",
        {"spec.search": {"algorithm": "optuna"}, "spec.searchSpace.w": {"normal": [0, 1]}},
        "spec.searchSpace.w.normal",
        "optuna",
    ),
    Case(
        "bohb with asha",
        {"spec.search": {"algorithm": "bohb"}, "spec.scheduler": {"type": "asha"}},
        "spec.scheduler.type",
        "hyperband",
    ),
    Case(
        "pbt with optuna",
        {"spec.search": {"algorithm": "optuna"}, "spec.scheduler": {"type": "pbt"}},
        "spec.search.algorithm",
        "random",
    ),
    Case(
        "pbt option on asha",
        {"spec.scheduler": {"type": "asha", "perturbationInterval": 4}},
        "spec.scheduler.perturbationInterval",
        "does not apply",
    ),
    Case(
        "grace period beyond max_t",
        {"spec.scheduler": {"type": "asha", "maxT": 2, "gracePeriod": 5}},
        "spec.scheduler.gracePeriod",
        "maxT",
    ),
    Case(
        "reduction factor of one",
        {"spec.scheduler": {"type": "asha", "reductionFactor": 1}},
        "spec.scheduler.reductionFactor",
    ),
    Case(
        "both cluster modes",
        {"spec.cluster": {"workerGroup": "gpu", "clusterSelector": {"a": "b"}}},
        "spec.cluster",
        "not both",
    ),
    Case("seed as string", {"spec.search": {"seed": "7"}}, "spec.search.seed"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_invalid_spec_is_rejected_naming_the_field(case: Case) -> None:
    with pytest.raises(SpecError) as info:
        load_object(apply(case.patch))
    paths = [e.path for e in info.value.errors]
    assert case.field in paths, f"{case.field} not in {paths}"
    message = str(info.value)
    assert case.reason in message


def test_the_table_covers_at_least_thirty_kinds() -> None:
    assert len(CASES) >= 30


def test_the_valid_base_document_is_accepted() -> None:
    exp = load_object(VALID)
    assert exp.name == "mnist-asha"
    assert exp.namespace == "ml"


def test_every_error_is_reported_at_once() -> None:
    doc = apply({"spec.numSamples": 0, "spec.searchSpace.lr": {"loguniform": [-1, 1]}})
    with pytest.raises(SpecError) as info:
        load_object(doc)
    assert {e.path for e in info.value.errors} == {"spec.numSamples", "spec.searchSpace.lr.loguniform"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("spec: [unclosed", "not valid YAML at line 1"),
        ("", "exactly one TuneExperiment document, found 0"),
        ("a: 1\n---\nb: 2\n", "exactly one TuneExperiment document, found 2"),
        ("- just\n- a list\n", "expected a TuneExperiment mapping"),
    ],
)
def test_malformed_yaml_is_one_clear_error(text: str, reason: str) -> None:
    with pytest.raises(SpecError, match=reason):
        load_text(text)
