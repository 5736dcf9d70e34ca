"""Invalid specs → Valid=False naming the field, a Warning event, no RayJob; the operator keeps serving the rest."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from kubetune.kube.rayjobs import RayJobSettings, WorkerPool

from .conftest import Start, create, eventually, experiment, get
from .kube import Emulator
from .test_reconcile import conditions, one_rayjob, rayjobs, status, wait_status


def drop(field: str) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec.pop(field)


@dataclass(frozen=True)
class Invalid:
    #: Spec fields set on a valid experiment, or a function changing its spec.
    change: dict[str, Any] | Callable[[dict[str, Any]], None]
    #: What the condition message must contain: the field's path and the reason.
    names: str


X = {"x": {"uniform": [0.0, 1.0]}}
INVALID = {
    "zero samples": Invalid({"numSamples": 0}, "spec.numSamples: Input should be greater than or equal to 1"),
    "mode not min or max": Invalid({"mode": "maximize"}, "spec.mode: got 'maximize'"),
    "no metric": Invalid(drop("metric"), "spec.metric: required field is missing"),
    "trainable not an import path": Invalid({"trainable": "train.py"}, "spec.trainable: 'train.py' is not an import"),
    "empty search space": Invalid({"searchSpace": {}}, "spec.searchSpace"),
    "log scale from zero": Invalid(
        {"searchSpace": {"lr": {"loguniform": [0, 1]}}}, "spec.searchSpace.lr.loguniform: lower bound must be > 0"
    ),
    "bounds reversed": Invalid(
        {"searchSpace": {"x": {"uniform": [1.0, 0.0]}}}, "spec.searchSpace.x.uniform: lower bound must be < upper bound"
    ),
    "fractional integer bound": Invalid(
        {"searchSpace": {"n": {"randint": [1.5, 4]}}}, "spec.searchSpace.n.randint: bounds must be integers"
    ),
    "empty choice": Invalid({"searchSpace": {"c": {"choice": []}}}, "spec.searchSpace.c.choice: needs at least one"),
    "two distributions in one": Invalid(
        {"searchSpace": {"x": {"uniform": [0, 1], "choice": [1]}}},
        "spec.searchSpace.x: a distribution takes exactly one key",
    ),
    "misspelt field": Invalid({"numSample": 3}, "spec.numSample: unknown field (did you mean numSamples?)"),
    "fixed and searched": Invalid({"config": {"x": 1}}, "spec.config.x: also in spec.searchSpace"),
    "grid with a model-based searcher": Invalid(
        {"search": {"algorithm": "optuna"}, "searchSpace": {"x": {"grid": [1, 2]}}},
        "spec.searchSpace.x.grid: grid dimensions need",
    ),
    "bohb without hyperband": Invalid(
        {"search": {"algorithm": "bohb"}, "scheduler": {"type": "asha"}},
        "spec.scheduler.type: search.algorithm bohb runs with its own hyperband",
    ),
    "pbt with optuna": Invalid(
        {"search": {"algorithm": "optuna"}, "scheduler": {"type": "pbt"}},
        "spec.search.algorithm: scheduler pbt explores by mutating",
    ),
    "option of another scheduler": Invalid(
        {"scheduler": {"type": "fifo", "gracePeriod": 2}},
        "spec.scheduler.gracePeriod: does not apply to scheduler fifo",
    ),
    "grace period past maxT": Invalid(
        {"scheduler": {"type": "asha", "maxT": 2, "gracePeriod": 5}}, "spec.scheduler.gracePeriod: must be <= maxT (2)"
    ),
    "one and a half GPUs": Invalid({"resourcesPerTrial": {"gpu": 1.5}}, "spec.resourcesPerTrial.gpu: fractional GPUs"),
    "memory not a quantity": Invalid({"resourcesPerTrial": {"memory": "4 gigs"}}, "spec.resourcesPerTrial.memory"),
    "both cluster kinds": Invalid(
        {"cluster": {"workerGroup": "gpu", "clusterSelector": {"ray.io/cluster": "c"}}}, "spec.cluster: set workerGroup"
    ),
    "unknown worker group": Invalid(
        {"cluster": {"workerGroup": "tpu"}}, "spec.cluster.workerGroup: unknown worker group 'tpu'"
    ),
    "more GPUs than the pool has": Invalid(
        {"resourcesPerTrial": {"gpu": 2}}, "spec.resourcesPerTrial.gpu: a trial asks for 2"
    ),
}


def invalid_experiment(name: str, case: Invalid) -> dict[str, Any]:
    doc = experiment(name)
    if callable(case.change):
        case.change(doc["spec"])
    else:
        doc["spec"].update(case.change)
    return doc


def test_each_invalid_spec_is_refused_naming_the_field_while_valid_ones_run(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    assert len(INVALID) >= 15
    start_operator()
    names = {f"bad-{i}": (label, case) for i, (label, case) in enumerate(INVALID.items())}
    create(kube, experiment("before"))
    for name, (_, case) in names.items():
        create(kube, invalid_experiment(name, case))
    create(kube, experiment("after"))

    eventually(lambda: {j["metadata"]["name"] for j in rayjobs(emulator)} == {"before", "after"}, timeout=20)
    for name, (label, case) in names.items():
        st = wait_status(kube, name, phase="Invalid")
        (valid,) = st["conditions"]
        assert (valid["type"], valid["status"], valid["reason"]) == ("Valid", "False", "InvalidSpec"), label
        assert case.names in valid["message"], f"{label}: {valid['message']}"
        assert "rayJobName" not in st, label
    events = {(e["involvedObject"]["name"], e["type"], e["reason"]): e["message"] for e in emulator.objects("events")}
    for name, (label, case) in names.items():
        assert case.names in events[(name, "Warning", "InvalidSpec")], label
    assert len(rayjobs(emulator)) == 2
    assert wait_status(kube, "after", phase="Pending")["rayJobName"] == "after"


def test_every_problem_is_listed_in_one_message(start_operator: Start, kube: client.CustomObjectsApi) -> None:
    start_operator()
    create(kube, experiment("bad", numSamples=0, mode="best", searchSpace={"lr": {"loguniform": [0, 1]}}))
    message = wait_status(kube, "bad", phase="Invalid")["conditions"][0]["message"]
    assert message.count("; ") >= 2
    for path in ("spec.numSamples", "spec.mode", "spec.searchSpace.lr.loguniform"):
        assert path in message


def test_fixing_the_spec_creates_the_rayjob_once(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    start_operator()
    create(kube, experiment("exp", numSamples=0))
    wait_status(kube, "exp", phase="Invalid", observedGeneration=1)
    kube.patch_namespaced_custom_object(
        "kubetune.io", "v1alpha1", "ml", "tuneexperiments", "exp", {"spec": {"numSamples": 3}}
    )
    st = wait_status(kube, "exp", phase="Pending", observedGeneration=2)
    assert conditions(st)["Valid"] == ("True", "Valid")
    assert one_rayjob(emulator)["metadata"]["name"] == "exp"
    warnings = [e for e in emulator.objects("events", "ml") if e["reason"] == "InvalidSpec"]
    assert len(warnings) == 1  # one Warning for the invalid generation, not one per reconcile


def test_without_shared_storage_the_field_to_set_is_named(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    start_operator(rayjob=RayJobSettings(pools=(WorkerPool(name="gpu", gpus=1),)))  # no default storage path
    create(kube, experiment("exp"))
    st = wait_status(kube, "exp", phase="Invalid")
    assert st["conditions"][0]["message"].startswith("spec.storage.path: required on a cluster")
    assert rayjobs(emulator) == []
    assert get(kube, "ml", "exp")["spec"] == experiment("exp")["spec"]  # the operator never writes the spec
    assert status(kube, "exp")["observedGeneration"] == 1
