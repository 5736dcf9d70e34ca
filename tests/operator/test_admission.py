"""Bad experiments on a real API server: refused at admission where the CRD schema can say so (422 naming the
field), otherwise accepted and marked ``Valid=False`` by the operator naming the field; nothing is created for
them, and the valid experiments around them run."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client

from kubetune.kube.rayjobs import RayJobSettings, WorkerPool
from tests.cluster.cluster import Cluster, eventually

from .conftest import Run, conditions_of, experiment, rayjob_names, the_rayjob, tx_status, wait_tx


def drop(field: str) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec.pop(field)


@dataclass(frozen=True)
class Invalid:
    #: Spec fields set on a valid experiment, or a function changing its spec.
    change: dict[str, Any] | Callable[[dict[str, Any]], None]
    #: What the refusal must contain: the field's path and the reason.
    names: str
    #: True when the API server refuses it (the CRD schema can say so), False when the operator does.
    at_admission: bool = False


INVALID = {
    "zero samples": Invalid({"numSamples": 0}, "spec.numSamples", at_admission=True),
    # metric and mode may be lists (several objectives), which no structural schema can type: the operator checks
    "mode not min or max": Invalid({"mode": "maximize"}, "spec.mode: got 'maximize'"),
    "one mode for two objectives": Invalid(
        {"metric": ["score", "cost"], "mode": "max"}, "spec.mode: is one mode, spec.metric has 2 entries"
    ),
    "several objectives with asha": Invalid(
        {"metric": ["score", "cost"], "mode": ["max", "min"], "scheduler": {"type": "asha"}}, "spec.scheduler.type"
    ),
    "no metric": Invalid(drop("metric"), "spec.metric", at_admission=True),
    "a gpu count that is no number": Invalid(
        {"resourcesPerTrial": {"gpu": "one"}}, "spec.resourcesPerTrial.gpu", at_admission=True
    ),
    "stop value that is no number": Invalid(
        {"stop": {"training_iteration": "ten"}}, "spec.stop.training_iteration", at_admission=True
    ),
    "empty search space": Invalid({"searchSpace": {}}, "spec.searchSpace", at_admission=True),
    "trainable not an import path": Invalid({"trainable": "train.py"}, "spec.trainable", at_admission=True),
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


def invalid_experiment(name: str, namespace: str, case: Invalid) -> dict[str, Any]:
    doc = experiment(name, namespace)
    if callable(case.change):
        case.change(doc["spec"])
    else:
        doc["spec"].update(case.change)
    return doc


def refusal(cluster: Cluster, doc: dict[str, Any]) -> str | None:
    """The API server's message when it refuses to store ``doc`` (None when it stores it)."""
    try:
        cluster.create(doc)
    except client.ApiException as e:
        if e.status != 422:
            raise
        return str(json.loads(e.body or "{}")["message"])
    return None


def test_each_invalid_spec_is_refused_naming_the_field_while_valid_ones_run(
    run_operator: Run, cluster: Cluster, ml: str
) -> None:
    assert len(INVALID) >= 20
    run_operator()
    cases = {f"bad-{i}": (label, case) for i, (label, case) in enumerate(INVALID.items())}
    cluster.create(experiment("before", ml))
    stored = []
    for name, (label, case) in cases.items():
        message = refusal(cluster, invalid_experiment(name, ml, case))
        assert (message is not None) is case.at_admission, f"{label}: refused at admission: {message}"
        if message is not None:
            assert case.names in message, f"{label}: {message}"
        else:
            stored.append(name)
    cluster.create(experiment("after", ml))

    eventually(lambda: rayjob_names(cluster, ml) == ["after", "before"], timeout=30)
    for name in stored:
        label, case = cases[name]
        st = wait_tx(cluster, ml, name, phase="Invalid")
        (valid,) = st["conditions"]
        assert (valid["type"], valid["status"], valid["reason"]) == ("Valid", "False", "InvalidSpec"), label
        assert case.names in valid["message"], f"{label}: {valid['message']}"
        assert "rayJobName" not in st, label

    def warnings() -> dict[tuple[str, str, str], str]:
        events = cluster.objects("events", ml)
        found = {(e["involvedObject"]["name"], e["type"], e["reason"]): e["message"] for e in events}
        assert all((name, "Warning", "InvalidSpec") in found for name in stored)  # sent in the background
        return found

    events = eventually(warnings)
    for name in stored:
        label, case = cases[name]
        assert case.names in events[(name, "Warning", "InvalidSpec")], label
    assert rayjob_names(cluster, ml) == ["after", "before"]
    assert wait_tx(cluster, ml, "after", phase="Pending")["rayJobName"] == "after"


def test_every_problem_is_listed_in_one_message(run_operator: Run, cluster: Cluster, ml: str) -> None:
    run_operator()
    cluster.create(
        experiment("bad", ml, numSample=3, searchSpace={"lr": {"loguniform": [0, 1]}, "x": {"uniform": [1, 0]}})
    )
    message = wait_tx(cluster, ml, "bad", phase="Invalid")["conditions"][0]["message"]
    assert message.count("; ") >= 2
    for path in ("spec.numSample", "spec.searchSpace.lr.loguniform", "spec.searchSpace.x.uniform"):
        assert path in message


def test_the_api_server_lists_every_schema_violation_at_once(cluster: Cluster, ml: str) -> None:
    doc = experiment("bad", ml, numSamples=0, resourcesPerTrial={"gpu": "one"}, maxConcurrentTrials="two")
    message = refusal(cluster, doc)
    assert message is not None
    for path in ("spec.numSamples", "spec.resourcesPerTrial.gpu", "spec.maxConcurrentTrials"):
        assert path in message


def test_a_misspelt_kind_is_refused_by_the_server_and_by_kubectl(cluster: Cluster, ml: str) -> None:
    doc = {**experiment("typo", ml), "kind": "TuneExperment"}
    with pytest.raises(client.ApiException) as refused:
        cluster.custom.create_namespaced_custom_object("kubetune.io", "v1alpha1", ml, "tuneexperiments", doc)
    assert refused.value.status in (400, 422)  # 1.20 says 422, newer servers 400
    assert "TuneExperment" in str(refused.value.body)
    applied = cluster.apply([doc], check=False)
    assert applied.returncode != 0
    assert "TuneExperment" in applied.stderr
    assert cluster.objects("tuneexperiments", ml) == []


def test_fixing_the_spec_creates_the_rayjob_once(run_operator: Run, cluster: Cluster, ml: str) -> None:
    run_operator()
    cluster.create(experiment("exp", ml, searchSpace={"lr": {"loguniform": [0, 1]}}))
    wait_tx(cluster, ml, "exp", phase="Invalid", observedGeneration=1)
    cluster.custom.patch_namespaced_custom_object(
        "kubetune.io",
        "v1alpha1",
        ml,
        "tuneexperiments",
        "exp",
        {"spec": {"searchSpace": {"lr": {"loguniform": [1e-4, 1]}}}},
    )
    st = wait_tx(cluster, ml, "exp", phase="Pending", observedGeneration=2)
    assert conditions_of(st)["Valid"] == ("True", "Valid")
    assert the_rayjob(cluster, ml)["metadata"]["name"] == "exp"
    eventually(lambda: cluster.events(ml, name="exp").count(("Warning", "InvalidSpec")) == 1)  # not one per reconcile


def test_without_shared_storage_the_field_to_set_is_named(run_operator: Run, cluster: Cluster, ml: str) -> None:
    run_operator(rayjob=RayJobSettings(pools=(WorkerPool(name="gpu", gpus=1),)))  # no default storage path
    cluster.create(experiment("exp", ml))
    st = wait_tx(cluster, ml, "exp", phase="Invalid")
    assert st["conditions"][0]["message"].startswith("spec.storage.path: required on a cluster")
    assert rayjob_names(cluster, ml) == []
    assert cluster.get(ml, "exp")["spec"] == experiment("exp", ml)["spec"]  # the operator never writes the spec
    assert tx_status(cluster, ml, "exp")["observedGeneration"] == 1


def test_an_experiment_with_several_objectives_is_stored_and_run(run_operator: Run, cluster: Cluster, ml: str) -> None:
    run_operator()
    cluster.create(experiment("pareto", ml, metric=["mean_accuracy", "time_total_s"], mode=["max", "min"]))
    st = wait_tx(cluster, ml, "pareto", phase="Pending")
    assert conditions_of(st)["Valid"] == ("True", "Valid")
    stored = cluster.get(ml, "pareto")
    assert (stored["spec"]["metric"], stored["spec"]["mode"]) == (["mean_accuracy", "time_total_s"], ["max", "min"])
    assert the_rayjob(cluster, ml)["metadata"]["name"] == "pareto"
    wide = cluster.kubectl("get", "tuneexperiments", "-n", ml, "-o", "wide").stdout  # the Metric column: a list
    assert "mean_accuracy" in wide.splitlines()[1]
