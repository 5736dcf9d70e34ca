"""TuneExperiment → one RayJob, followed to the end: phases, conditions, spec changes, deletion, conflicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from kubernetes import client

from kubetune.kube.rayjobs import ENV_EXPERIMENT, ENV_INGEST_TOKEN, ENV_INGEST_URL, LABEL_EXPERIMENT
from kubetune.spec import load_text
from kubetune_operator.tokens import experiment_token
from tests import kuberay

from .conftest import HOME, TOKEN, Start, create, eventually, experiment, get
from .kube import Emulator

RAY = ("ray.io", "v1", "rayjobs")


def rayjobs(emulator: Emulator, namespace: str | None = None) -> list[dict[str, Any]]:
    return emulator.objects("rayjobs", namespace)


def one_rayjob(emulator: Emulator, namespace: str = "ml") -> dict[str, Any]:
    jobs = eventually(lambda: rayjobs(emulator, namespace))
    assert len(jobs) == 1, [j["metadata"]["name"] for j in jobs]
    return jobs[0]


def status(kube: client.CustomObjectsApi, name: str, namespace: str = "ml") -> dict[str, Any]:
    found: dict[str, Any] = get(kube, namespace, name).get("status") or {}
    return found


def wait_status(kube: client.CustomObjectsApi, name: str, namespace: str = "ml", **expected: Any) -> dict[str, Any]:
    def check() -> dict[str, Any]:
        current = status(kube, name, namespace)
        assert {k: current.get(k) for k in expected} == expected, current
        return current

    found: dict[str, Any] = eventually(check)
    return found


def conditions(st: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in st.get("conditions", [])}


def set_rayjob_status(kube: client.CustomObjectsApi, name: str, st: dict[str, Any], namespace: str = "ml") -> None:
    """What KubeRay does: a status patch on the RayJob."""
    kube.patch_namespaced_custom_object_status(*RAY[:2], namespace, RAY[2], name, {"status": st})


def test_an_experiment_gets_exactly_one_valid_owned_rayjob(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    start_operator()
    exp = create(kube, experiment("mnist-asha", numSamples=4))
    job = one_rayjob(emulator)

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
    assert env_vars[ENV_INGEST_TOKEN] == experiment_token(TOKEN, namespace="ml", name="mnist-asha")
    head = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert {"name": ENV_INGEST_URL, "value": f"http://kubetune.{HOME}.svc:0"} in head["env"]
    st = wait_status(kube, "mnist-asha", phase="Pending", rayJobName="mnist-asha", observedGeneration=1)
    assert conditions(st) == {"Valid": ("True", "Valid"), "Running": ("False", "Created")}
    assert st["progress"] == "0/4"
    events = [(e["type"], e["reason"]) for e in emulator.objects("events", "ml")]
    assert events == [("Normal", "Created")]


def test_in_the_operators_namespace_the_token_comes_from_its_secret(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    start_operator()
    create(kube, experiment("home", namespace=HOME))
    job = one_rayjob(emulator, HOME)
    assert kuberay.errors(job) == []
    assert ENV_INGEST_TOKEN not in yaml.safe_load(job["spec"]["runtimeEnvYAML"])["env_vars"]
    container = job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    token = next(e for e in container["env"] if e["name"] == ENV_INGEST_TOKEN)
    assert token["valueFrom"]["secretKeyRef"]["name"] == "kubetune-ingest"
    assert TOKEN not in str(job)


def test_a_long_lived_cluster_gets_no_retries_and_no_shutdown(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    start_operator()
    create(kube, experiment("shared", cluster={"clusterSelector": {"ray.io/cluster": "shared-gpu"}}))
    spec = one_rayjob(emulator)["spec"]
    assert spec["clusterSelector"] == {"ray.io/cluster": "shared-gpu"}
    assert spec.get("backoffLimit", 0) == 0
    assert "shutdownAfterJobFinishes" not in spec
    assert "rayClusterSpec" not in spec
    assert kuberay.errors(one_rayjob(emulator)) == []


@dataclass(frozen=True)
class Outcome:
    rayjob: list[dict[str, Any]]  # the RayJob statuses KubeRay writes, in order
    phase: str
    conditions: dict[str, tuple[str, str]]
    completed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


COMPLETE = {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED", "endTime": "2026-01-01T01:00:00Z"}
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
        {
            "Valid": ("True", "Valid"),
            "Running": ("False", "Finished"),
            "Complete": ("True", "Succeeded"),
            "Failed": ("False", "Succeeded"),
        },
        completed=True,
        extra={"completionTime": "2026-01-01T01:00:00Z"},
    ),
    "failed: the app failed": Outcome(
        [{"jobDeploymentStatus": "Failed", "jobStatus": "FAILED", "reason": "AppFailed", "message": "exit 1"}],
        "Failed",
        {
            "Valid": ("True", "Valid"),
            "Running": ("False", "Finished"),
            "Complete": ("False", "AppFailed"),
            "Failed": ("True", "AppFailed"),
        },
        completed=True,
    ),
    "failed: deadline exceeded": Outcome(
        [{"jobDeploymentStatus": "Failed", "reason": "DeadlineExceeded", "message": "passed activeDeadlineSeconds"}],
        "Failed",
        {
            "Valid": ("True", "Valid"),
            "Running": ("False", "Finished"),
            "Complete": ("False", "DeadlineExceeded"),
            "Failed": ("True", "DeadlineExceeded"),
        },
        completed=True,
    ),
    "failed: submission failed": Outcome(
        [{"jobDeploymentStatus": "Failed", "reason": "SubmissionFailed", "failed": 3}],
        "Failed",
        {
            "Valid": ("True", "Valid"),
            "Running": ("False", "Finished"),
            "Complete": ("False", "SubmissionFailed"),
            "Failed": ("True", "SubmissionFailed"),
        },
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
        {
            "Valid": ("True", "Valid"),
            "Running": ("False", "Finished"),
            "Complete": ("True", "Succeeded"),
            "Failed": ("False", "Succeeded"),
        },
        completed=True,
    ),
    "validation failed": Outcome(
        [{"jobDeploymentStatus": "ValidationFailed", "reason": "ValidationFailed", "message": "bad spec"}],
        "Failed",
        {
            "Valid": ("True", "Valid"),
            "Running": ("False", "Finished"),
            "Complete": ("False", "ValidationFailed"),
            "Failed": ("True", "ValidationFailed"),
        },
        completed=True,
    ),
}


@pytest.mark.parametrize("case", OUTCOMES.values(), ids=OUTCOMES.keys())
def test_kuberay_outcomes_move_the_experiment(
    case: Outcome, start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    start_operator()
    create(kube, experiment("exp"))
    one_rayjob(emulator)
    for st in case.rayjob:  # each step is seen before the next one is written
        set_rayjob_status(kube, "exp", st)
        eventually(
            lambda st=st: status(kube, "exp").get("rayJob", {}).get("jobDeploymentStatus") == st["jobDeploymentStatus"]
        )
    final = wait_status(kube, "exp", phase=case.phase)
    assert conditions(final) == case.conditions
    assert ("completionTime" in final) is case.completed
    assert {k: final.get(k) for k in case.extra} == case.extra
    last = case.rayjob[-1]
    assert final["rayJob"]["jobDeploymentStatus"] == last["jobDeploymentStatus"]
    if "reason" in last:
        assert final["rayJob"]["reason"] == last["reason"]
    if case.phase == "Failed":
        failed = next(c for c in final["conditions"] if c["type"] == "Failed")
        assert failed["message"] == last.get("message", failed["message"])
        assert ("Warning", last["reason"]) in [(e["type"], e["reason"]) for e in emulator.objects("events", "ml")]
    assert len(rayjobs(emulator)) == 1


def test_last_transition_time_changes_only_on_transitions(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    times = iter(f"2026-01-01T00:00:{s:02d}Z" for s in range(60))
    start_operator(now=lambda: next(times))
    create(kube, experiment("exp"))
    one_rayjob(emulator)
    set_rayjob_status(kube, "exp", {"jobDeploymentStatus": "Running", "jobStatus": "PENDING"})
    first = wait_status(kube, "exp", phase="Running")
    set_rayjob_status(kube, "exp", {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"})

    def message_updated() -> dict[str, Any]:
        st = status(kube, "exp")
        running = next(c for c in st["conditions"] if c["type"] == "Running")
        assert running["message"] == "Ray job RUNNING"
        return st

    second = eventually(message_updated)
    assert second["conditions"] == [
        {**c, "message": "Ray job RUNNING"} if c["type"] == "Running" else c for c in first["conditions"]
    ]


def test_a_spec_change_on_a_running_experiment_leaves_the_rayjob_alone(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    start_operator()
    create(kube, experiment("exp", numSamples=4))
    job = one_rayjob(emulator)
    set_rayjob_status(kube, "exp", {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"})
    wait_status(kube, "exp", phase="Running")

    kube.patch_namespaced_custom_object(
        "kubetune.io", "v1alpha1", "ml", "tuneexperiments", "exp", {"spec": {"numSamples": 40}}
    )
    st = wait_status(kube, "exp", observedGeneration=2, phase="Running")
    assert conditions(st)["SpecChanged"] == ("True", "Immutable")
    assert "new name" in next(c["message"] for c in st["conditions"] if c["type"] == "SpecChanged")
    (now,) = rayjobs(emulator)  # not mutated, not replaced
    assert (now["metadata"]["uid"], now["metadata"]["generation"], now["spec"]) == (
        job["metadata"]["uid"],
        1,
        job["spec"],
    )
    assert ("Warning", "SpecChanged") in [(e["type"], e["reason"]) for e in emulator.objects("events", "ml")]

    kube.patch_namespaced_custom_object(
        "kubetune.io", "v1alpha1", "ml", "tuneexperiments", "exp", {"spec": {"numSamples": 4}}
    )
    st = wait_status(kube, "exp", observedGeneration=3)
    assert "SpecChanged" not in conditions(st)


def test_deleting_the_experiment_garbage_collects_its_rayjob_and_nothing_comes_back(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    op = start_operator()
    create(kube, experiment("exp"))
    one_rayjob(emulator)
    kube.delete_namespaced_custom_object("kubetune.io", "v1alpha1", "ml", "tuneexperiments", "exp")
    assert rayjobs(emulator) == []
    eventually(lambda: len(op.experiments) == 0 and len(op.rayjobs) == 0)
    for key in [("ml", "exp")]:
        op.queue.add(key)  # a late event for the key finds nothing to do
    eventually(lambda: len(op.queue) == 0)
    assert rayjobs(emulator) == []


def test_a_rayjob_deleted_by_hand_is_recreated_until_the_experiment_finishes(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    start_operator()
    create(kube, experiment("exp"))
    first = one_rayjob(emulator)
    kube.delete_namespaced_custom_object(*RAY[:2], "ml", RAY[2], "exp")
    second = eventually(lambda: rayjobs(emulator) and rayjobs(emulator)[0])
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    assert ("Warning", "RayJobRecreated") in [(e["type"], e["reason"]) for e in emulator.objects("events", "ml")]

    set_rayjob_status(kube, "exp", COMPLETE)
    wait_status(kube, "exp", phase="Succeeded")
    kube.delete_namespaced_custom_object(*RAY[:2], "ml", RAY[2], "exp")  # KubeRay's TTL clean-up
    eventually(lambda: rayjobs(emulator) == [])
    assert wait_status(kube, "exp", phase="Succeeded")["rayJobName"] == "exp"
    assert rayjobs(emulator) == []


def test_a_rayjob_name_taken_by_something_else_is_left_alone(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    foreign = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "exp"}, "spec": {"entrypoint": "x"}}
    kube.create_namespaced_custom_object(*RAY[:2], "ml", RAY[2], foreign)
    start_operator()
    create(kube, experiment("exp"))
    st = wait_status(kube, "exp", phase="Pending")
    assert conditions(st)["Running"] == ("False", "RayJobConflict")
    assert [j["spec"] for j in rayjobs(emulator)] == [{"entrypoint": "x"}]
    assert ("Warning", "RayJobConflict") in [(e["type"], e["reason"]) for e in emulator.objects("events", "ml")]

    kube.delete_namespaced_custom_object(*RAY[:2], "ml", RAY[2], "exp")  # the owner clears the name
    job = eventually(lambda: rayjobs(emulator) and rayjobs(emulator)[0])
    assert job["metadata"]["ownerReferences"][0]["name"] == "exp"


def test_a_converged_operator_stops_writing(
    start_operator: Start, kube: client.CustomObjectsApi, emulator: Emulator
) -> None:
    op = start_operator()
    for i in range(3):
        create(kube, experiment(f"exp-{i}"))
    eventually(lambda: len(rayjobs(emulator)) == 3)
    for i in range(3):
        wait_status(kube, f"exp-{i}", phase="Pending")
    eventually(lambda: len(op.queue) == 0)
    writes = {v: emulator.server.served.get(v, 0) for v in ("create", "patch", "update")}
    for key in list(op.experiments.keys()):  # a resync: every experiment reconciled again
        op.queue.add(key)
    eventually(lambda: len(op.queue) == 0)
    assert {v: emulator.server.served.get(v, 0) for v in ("create", "patch", "update")} == writes
