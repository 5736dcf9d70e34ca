"""TuneExperiment → one RayJob, followed to the end, on a real API server, by an operator holding the chart's RBAC.

Phases and conditions, spec changes, deletion through the real garbage collector, conflicts, and an operator
that stops writing once it has converged (counted in the API server's audit log).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from kubetune.kube.rayjobs import ENV_EXPERIMENT, LABEL_EXPERIMENT
from kubetune.reporting.wire import ENV_INGEST_TOKEN, ENV_INGEST_URL
from kubetune.spec import load_text
from kubetune_operator.tokens import experiment_token
from tests import kuberay
from tests.cluster.cluster import Cluster, eventually
from tests.cluster.fixtures import OperatorIdentity

from .conftest import (
    TOKEN,
    Run,
    conditions_of,
    experiment,
    rayjob_names,
    set_rayjob_status,
    the_rayjob,
    tx_status,
    wait_tx,
)


def test_an_experiment_gets_exactly_one_valid_owned_rayjob(
    run_operator: Run, cluster: Cluster, ml: str, home: str
) -> None:
    run_operator()
    exp = cluster.create(experiment("mnist-asha", ml, numSamples=4))
    job = the_rayjob(cluster, ml)

    assert kuberay.errors(job) == []
    meta = job["metadata"]
    assert meta["name"] == "mnist-asha"
    assert meta["labels"][LABEL_EXPERIMENT] == "mnist-asha"
    (owner,) = meta["ownerReferences"]
    assert owner == {
        "apiVersion": "kubetune.io/v1alpha1",
        "kind": "TuneExperiment",
        "name": "mnist-asha",
        "uid": exp["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    spec = job["spec"]
    assert spec["entrypoint"] == f"kubetune run env:{ENV_EXPERIMENT} --address auto"
    env_vars = yaml.safe_load(spec["runtimeEnvYAML"])["env_vars"]
    assert load_text(env_vars[ENV_EXPERIMENT]).spec.num_samples == 4
    # Outside the operator's namespace: an inline token good for this experiment only.
    assert env_vars[ENV_INGEST_TOKEN] == experiment_token(TOKEN, namespace=ml, name="mnist-asha")
    head = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert {"name": ENV_INGEST_URL, "value": f"http://kubetune.{home}.svc:0"} in head["env"]
    st = wait_tx(cluster, ml, "mnist-asha", phase="Pending", rayJobName="mnist-asha", observedGeneration=1)
    assert conditions_of(st) == {"Valid": ("True", "Valid"), "Running": ("False", "Created")}
    assert st["progress"] == "0/4"
    eventually(lambda: cluster.events(ml) == [("Normal", "Created")])  # events are sent in the background


def test_in_the_operators_namespace_the_token_comes_from_its_secret(
    run_operator: Run, cluster: Cluster, home: str
) -> None:
    run_operator()
    cluster.create(experiment("home", home))
    job = the_rayjob(cluster, home)
    assert kuberay.errors(job) == []
    assert ENV_INGEST_TOKEN not in yaml.safe_load(job["spec"]["runtimeEnvYAML"])["env_vars"]
    container = job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    token = next(e for e in container["env"] if e["name"] == ENV_INGEST_TOKEN)
    assert token["valueFrom"]["secretKeyRef"]["name"] == "kubetune-ingest"
    assert TOKEN not in str(job)


def test_a_long_lived_cluster_gets_no_retries_and_no_shutdown(run_operator: Run, cluster: Cluster, ml: str) -> None:
    run_operator()
    cluster.create(experiment("shared", ml, cluster={"clusterSelector": {"ray.io/cluster": "shared-gpu"}}))
    job = the_rayjob(cluster, ml)
    spec = job["spec"]
    assert spec["clusterSelector"] == {"ray.io/cluster": "shared-gpu"}
    assert spec.get("backoffLimit", 0) == 0
    assert "shutdownAfterJobFinishes" not in spec or spec["shutdownAfterJobFinishes"] is False
    assert "rayClusterSpec" not in spec
    assert kuberay.errors(job) == []


@dataclass(frozen=True)
class Outcome:
    rayjob: list[dict[str, Any]]  # the RayJob statuses KubeRay writes, in order
    phase: str
    conditions: dict[str, tuple[str, str]]
    completed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


COMPLETE = {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED", "endTime": "2026-01-01T01:00:00Z"}


def ended(reason: str, *, succeeded: bool = False) -> dict[str, tuple[str, str]]:
    """The conditions of an experiment whose RayJob ended: Complete/Failed carry KubeRay's reason (or Succeeded)."""
    won, lost = ("True", "False") if succeeded else ("False", "True")
    return {"Valid": ("True", "Valid"), "Running": ("False", "Finished"), "Complete": (won, reason),
            "Failed": (lost, reason)}  # fmt: skip


OUTCOMES = {
    "initializing": Outcome(
        [{"jobDeploymentStatus": "Initializing"}],
        "Pending",
        {"Valid": ("True", "Valid"), "Running": ("False", "Initializing")},
    ),
    "running": Outcome(
        [{"jobDeploymentStatus": "Running", "jobStatus": "RUNNING", "startTime": "2026-01-01T00:00:00Z"}],
        "Running",
        {"Valid": ("True", "Valid"), "Running": ("True", "Running")},
    ),
    "complete and succeeded": Outcome(
        [COMPLETE],
        "Succeeded",
        ended("Succeeded", succeeded=True),
        completed=True,
        extra={"completionTime": "2026-01-01T01:00:00Z"},
    ),
    "failed: the app failed": Outcome(
        [{"jobDeploymentStatus": "Failed", "jobStatus": "FAILED", "reason": "AppFailed", "message": "exit 1"}],
        "Failed",
        ended("AppFailed"),
        completed=True,
    ),
    "failed: deadline exceeded": Outcome(
        [{"jobDeploymentStatus": "Failed", "reason": "DeadlineExceeded", "message": "passed activeDeadlineSeconds"}],
        "Failed",
        ended("DeadlineExceeded"),
        completed=True,
    ),
    "failed: submission failed": Outcome(
        [{"jobDeploymentStatus": "Failed", "reason": "SubmissionFailed", "failed": 3}],
        "Failed",
        ended("SubmissionFailed"),
        completed=True,
    ),
    "retrying": Outcome(
        [
            {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"},
            {"jobDeploymentStatus": "Retrying", "reason": "AppFailed", "failed": 1},
        ],
        "Retrying",
        {"Valid": ("True", "Valid"), "Running": ("False", "Retrying")},
    ),
    "retrying then complete": Outcome(
        [
            {"jobDeploymentStatus": "Retrying", "reason": "AppFailed", "failed": 1},
            {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING", "failed": 1},
            {**COMPLETE, "failed": 1, "succeeded": 1},
        ],
        "Succeeded",
        ended("Succeeded", succeeded=True),
        completed=True,
    ),
    "validation failed": Outcome(
        [{"jobDeploymentStatus": "ValidationFailed", "reason": "ValidationFailed", "message": "bad spec"}],
        "Failed",
        ended("ValidationFailed"),
        completed=True,
    ),
}


def deployment_status_is(cluster: Cluster, namespace: str, wanted: str) -> bool:
    return bool(tx_status(cluster, namespace, "exp").get("rayJob", {}).get("jobDeploymentStatus") == wanted)


@pytest.mark.parametrize("case", OUTCOMES.values(), ids=OUTCOMES.keys())
def test_kuberay_outcomes_move_the_experiment(case: Outcome, run_operator: Run, cluster: Cluster, ml: str) -> None:
    run_operator()
    cluster.create(experiment("exp", ml))
    the_rayjob(cluster, ml)
    for st in case.rayjob:  # each step is seen before the next one is written
        set_rayjob_status(cluster, ml, "exp", st)
        eventually(functools.partial(deployment_status_is, cluster, ml, st["jobDeploymentStatus"]))
    final = wait_tx(cluster, ml, "exp", phase=case.phase)
    assert conditions_of(final) == case.conditions
    assert ("completionTime" in final) is case.completed
    assert {k: final.get(k) for k in case.extra} == case.extra
    last = case.rayjob[-1]
    assert final["rayJob"]["jobDeploymentStatus"] == last["jobDeploymentStatus"]
    if "reason" in last:
        assert final["rayJob"]["reason"] == last["reason"]
    if case.phase == "Failed":
        failed = next(c for c in final["conditions"] if c["type"] == "Failed")
        assert failed["message"] == last.get("message", failed["message"])
        eventually(lambda: ("Warning", last["reason"]) in cluster.events(ml))  # events are sent in the background
    assert rayjob_names(cluster, ml) == ["exp"]


def test_last_transition_time_changes_only_on_transitions(run_operator: Run, cluster: Cluster, ml: str) -> None:
    times = iter(f"2026-01-01T00:00:{s:02d}Z" for s in range(60))
    run_operator(now=lambda: next(times))
    cluster.create(experiment("exp", ml))
    the_rayjob(cluster, ml)
    set_rayjob_status(cluster, ml, "exp", {"jobDeploymentStatus": "Running", "jobStatus": "PENDING"})
    first = wait_tx(cluster, ml, "exp", phase="Running")
    set_rayjob_status(cluster, ml, "exp", {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"})

    def message_updated() -> dict[str, Any]:
        st = tx_status(cluster, ml, "exp")
        running = next(c for c in st["conditions"] if c["type"] == "Running")
        assert running["message"] == "Ray job RUNNING"
        return st

    second = eventually(message_updated)
    assert second["conditions"] == [
        {**c, "message": "Ray job RUNNING"} if c["type"] == "Running" else c for c in first["conditions"]
    ]


def edit(cluster: Cluster, namespace: str, name: str, spec: dict[str, Any]) -> None:
    cluster.custom.patch_namespaced_custom_object(
        "kubetune.io", "v1alpha1", namespace, "tuneexperiments", name, {"spec": spec}
    )


def test_a_spec_change_on_a_running_experiment_leaves_the_rayjob_alone(
    run_operator: Run, cluster: Cluster, ml: str
) -> None:
    run_operator()
    cluster.create(experiment("exp", ml, numSamples=4))
    job = the_rayjob(cluster, ml)
    set_rayjob_status(cluster, ml, "exp", {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"})
    wait_tx(cluster, ml, "exp", phase="Running")

    edit(cluster, ml, "exp", {"numSamples": 40})
    st = wait_tx(cluster, ml, "exp", observedGeneration=2, phase="Running")
    assert conditions_of(st)["SpecChanged"] == ("True", "Immutable")
    assert "new name" in next(c["message"] for c in st["conditions"] if c["type"] == "SpecChanged")
    now = the_rayjob(cluster, ml)  # not mutated, not replaced
    assert (now["metadata"]["uid"], now["metadata"]["generation"], now["spec"]) == (
        job["metadata"]["uid"],
        1,
        job["spec"],
    )
    eventually(lambda: ("Warning", "SpecChanged") in cluster.events(ml))  # events are sent in the background

    edit(cluster, ml, "exp", {"numSamples": 4})
    st = wait_tx(cluster, ml, "exp", observedGeneration=3)
    assert "SpecChanged" not in conditions_of(st)


def test_deleting_the_experiment_lets_the_garbage_collector_take_its_rayjob(
    run_operator: Run, cluster: Cluster, ml: str
) -> None:
    if cluster.control_plane is not None and not cluster.control_plane.has_controller_manager:
        pytest.skip("no kube-controller-manager (garbage collector) in KUBEBUILDER_ASSETS")
    op = run_operator()
    cluster.create(experiment("exp", ml))
    the_rayjob(cluster, ml)
    cluster.custom.delete_namespaced_custom_object("kubetune.io", "v1alpha1", ml, "tuneexperiments", "exp")
    eventually(lambda: rayjob_names(cluster, ml) == [], timeout=30)
    eventually(lambda: len(op.experiments) == 0 and len(op.rayjobs) == 0)
    op.queue.add((ml, "exp"))  # a late event for the key finds nothing to do
    eventually(lambda: len(op.queue) == 0)
    assert rayjob_names(cluster, ml) == []


def test_a_rayjob_deleted_by_hand_is_recreated_until_the_experiment_finishes(
    run_operator: Run, cluster: Cluster, ml: str
) -> None:
    run_operator()
    cluster.create(experiment("exp", ml))
    first = the_rayjob(cluster, ml)
    wait_tx(cluster, ml, "exp", rayJobName="exp")
    cluster.custom.delete_namespaced_custom_object("ray.io", "v1", ml, "rayjobs", "exp")
    second = eventually(
        lambda: [j for j in cluster.objects("rayjobs", ml) if j["metadata"]["uid"] != first["metadata"]["uid"]]
    )[0]
    assert second["metadata"]["name"] == "exp"
    eventually(lambda: ("Warning", "RayJobRecreated") in cluster.events(ml))  # events are sent in the background

    set_rayjob_status(cluster, ml, "exp", COMPLETE)
    wait_tx(cluster, ml, "exp", phase="Succeeded")
    cluster.custom.delete_namespaced_custom_object("ray.io", "v1", ml, "rayjobs", "exp")  # KubeRay's TTL clean-up
    eventually(lambda: rayjob_names(cluster, ml) == [])
    assert wait_tx(cluster, ml, "exp", phase="Succeeded")["rayJobName"] == "exp"
    assert rayjob_names(cluster, ml) == []


def test_a_rayjob_name_taken_by_something_else_is_left_alone(run_operator: Run, cluster: Cluster, ml: str) -> None:
    foreign = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": "exp", "namespace": ml},
        "spec": {"entrypoint": "x"},
    }
    cluster.create(foreign)
    run_operator()
    cluster.create(experiment("exp", ml))
    st = wait_tx(cluster, ml, "exp", phase="Pending")
    assert conditions_of(st)["Running"] == ("False", "RayJobConflict")
    assert [j["spec"]["entrypoint"] for j in cluster.objects("rayjobs", ml)] == ["x"]
    eventually(lambda: ("Warning", "RayJobConflict") in cluster.events(ml))  # events are sent in the background

    cluster.custom.delete_namespaced_custom_object("ray.io", "v1", ml, "rayjobs", "exp")  # the owner clears the name
    job = eventually(lambda: cluster.objects("rayjobs", ml) and cluster.objects("rayjobs", ml)[0], timeout=30)
    assert job["metadata"]["ownerReferences"][0]["name"] == "exp"


def test_a_converged_operator_stops_writing(
    run_operator: Run, cluster: Cluster, ml: str, operator_identity: OperatorIdentity
) -> None:
    op = run_operator()
    for i in range(3):
        cluster.create(experiment(f"exp-{i}", ml))
    eventually(lambda: len(rayjob_names(cluster, ml)) == 3)
    for i in range(3):
        wait_tx(cluster, ml, f"exp-{i}", phase="Pending")
    eventually(lambda: len(op.queue) == 0)
    user = f"system:serviceaccount:{operator_identity.namespace}:{operator_identity.service_account}"
    writes = cluster.writes(user=user, namespace=ml)
    assert {(w.verb, w.resource, w.subresource) for w in writes} == {
        ("create", "rayjobs", ""),
        ("patch", "tuneexperiments", "status"),
        ("create", "events", ""),
    }
    assert all(w.code in (200, 201) for w in writes), writes
    for key in list(op.experiments.keys()):  # a resync: every experiment reconciled again
        op.queue.add(key)
    eventually(lambda: len(op.queue) == 0)
    assert cluster.writes(user=user, namespace=ml) == writes


def test_a_spec_edited_into_something_invalid_says_so_while_the_rayjob_runs_on(
    run_operator: Run, cluster: Cluster, ml: str
) -> None:
    run_operator()
    cluster.create(experiment("exp", ml, numSamples=4))
    job = the_rayjob(cluster, ml)
    set_rayjob_status(cluster, ml, "exp", {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"})
    wait_tx(cluster, ml, "exp", phase="Running")

    edit(cluster, ml, "exp", {"searchSpace": {"x": {"uniform": [1.0, 0.0]}}})
    st = wait_tx(cluster, ml, "exp", observedGeneration=2, phase="Running")
    valid = next(c for c in st["conditions"] if c["type"] == "Valid")
    assert (valid["status"], valid["reason"]) == ("False", "InvalidSpec")
    assert "spec.searchSpace.x.uniform: lower bound must be < upper bound" in valid["message"]
    assert conditions_of(st)["SpecChanged"] == ("True", "Immutable")
    assert st["progress"] == "0/4"  # the running spec's total, not the edited one's
    assert the_rayjob(cluster, ml)["metadata"]["uid"] == job["metadata"]["uid"]


def test_a_rayjob_that_finished_and_was_deleted_before_the_status_caught_up_is_not_run_again(
    run_operator: Run, cluster: Cluster, ml: str
) -> None:
    op = run_operator()
    cluster.create(experiment("exp", ml))
    the_rayjob(cluster, ml)
    wait_tx(cluster, ml, "exp", phase="Pending", rayJobName="exp")
    op.queue.shutdown()  # the workers stop; the watches go on seeing what happens
    set_rayjob_status(cluster, ml, "exp", COMPLETE)
    eventually(lambda: (op.rayjobs.get((ml, "exp")) or {}).get("status", {}).get("jobStatus") == "SUCCEEDED")
    cluster.custom.delete_namespaced_custom_object("ray.io", "v1", ml, "rayjobs", "exp")
    eventually(lambda: op.rayjobs.get((ml, "exp")) is None)
    assert op.reconciler.reconcile((ml, "exp")).phase == "Succeeded"
    st = wait_tx(cluster, ml, "exp", phase="Succeeded")
    assert conditions_of(st)["Complete"] == ("True", "Succeeded")
    assert rayjob_names(cluster, ml) == []


def test_a_rayjob_gone_while_no_operator_watched_is_not_run_again_unasked(
    run_operator: Run, cluster: Cluster, ml: str
) -> None:
    first = run_operator()
    cluster.create(experiment("exp", ml))
    the_rayjob(cluster, ml)
    set_rayjob_status(cluster, ml, "exp", {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"})
    wait_tx(cluster, ml, "exp", phase="Running")
    first.stop()
    set_rayjob_status(cluster, ml, "exp", COMPLETE)  # it finished while no operator looked,
    cluster.custom.delete_namespaced_custom_object("ray.io", "v1", ml, "rayjobs", "exp")  # and someone deleted it

    run_operator()
    st = wait_tx(cluster, ml, "exp", phase="Failed")
    failed = next(c for c in st["conditions"] if c["type"] == "Failed")
    assert (failed["status"], failed["reason"]) == ("True", "RayJobLost")
    assert "re-create this experiment" in failed["message"]
    eventually(lambda: ("Warning", "RayJobLost") in cluster.events(ml))  # events are sent in the background
    assert rayjob_names(cluster, ml) == []


def test_an_edited_spec_never_runs_through_a_deleted_rayjob(run_operator: Run, cluster: Cluster, ml: str) -> None:
    run_operator()
    cluster.create(experiment("exp", ml, numSamples=2))
    first = the_rayjob(cluster, ml)
    set_rayjob_status(cluster, ml, "exp", {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"})
    edit(cluster, ml, "exp", {"numSamples": 3})
    wait_tx(cluster, ml, "exp", observedGeneration=2)
    cluster.custom.delete_namespaced_custom_object("ray.io", "v1", ml, "rayjobs", "exp")

    st = eventually(
        lambda: (
            conditions_of(tx_status(cluster, ml, "exp")).get("Running") == ("False", "RayJobDeleted")
            and tx_status(cluster, ml, "exp")
        )
    )
    assert conditions_of(st)["SpecChanged"] == ("True", "Immutable")
    assert rayjob_names(cluster, ml) == []

    edit(cluster, ml, "exp", {"numSamples": 2})  # reverting the edit resumes the original experiment
    second = eventually(lambda: cluster.objects("rayjobs", ml) and cluster.objects("rayjobs", ml)[0])
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    assert second["spec"] == first["spec"]
    st = wait_tx(cluster, ml, "exp", observedGeneration=3)
    assert "SpecChanged" not in conditions_of(st)
