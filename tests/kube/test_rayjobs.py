"""The RayJob built from an experiment is a valid KubeRay v1.7.0 object with the GPU and safety properties."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kubetune.kube.naming import MAX_RAYJOB_NAME, rayjob_name
from kubetune.kube.rayjobs import (
    ENV_EXPERIMENT,
    GPU_RESOURCE,
    Ingest,
    RayJobSettings,
    RayPodSettings,
    StorageMount,
    WorkerPool,
    build_rayjob,
)
from kubetune.spec import SpecError, load_object, load_text
from tests import kuberay
from tests.conftest import experiment_doc

STORAGE = {"path": "s3://bucket/kubetune"}


def experiment(**spec: Any) -> Any:
    spec.setdefault("storage", STORAGE)
    doc = experiment_doc("mnist-asha", "jobs.mnist_torch.trainable:train", **spec)
    doc["metadata"]["namespace"] = "ml"  # type: ignore[index]
    return load_object(doc)


def containers(job: dict[str, Any]) -> list[dict[str, Any]]:
    cluster = job["spec"]["rayClusterSpec"]
    templates = [cluster["headGroupSpec"]["template"]] + [g["template"] for g in cluster["workerGroupSpecs"]]
    return [c for t in templates for c in t["spec"]["containers"]]


def test_a_gpu_experiment_renders_a_valid_rayjob_with_a_cpu_head_and_a_gpu_worker_group() -> None:
    job = build_rayjob(experiment(resourcesPerTrial={"cpu": 2, "gpu": 0.5}))
    assert kuberay.errors(job) == []
    cluster = job["spec"]["rayClusterSpec"]
    head = cluster["headGroupSpec"]
    assert head["rayStartParams"] == {"num-cpus": "0"}
    assert GPU_RESOURCE not in head["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert "tolerations" not in head["template"]["spec"]
    (group,) = cluster["workerGroupSpecs"]
    worker = group["template"]["spec"]
    resources = worker["containers"][0]["resources"]
    assert resources["requests"][GPU_RESOURCE] == resources["limits"][GPU_RESOURCE] == "1"
    assert {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"} in worker["tolerations"]
    assert worker["nodeSelector"]
    assert group["minReplicas"] == 0
    assert cluster["enableInTreeAutoscaling"] is True
    assert cluster["authOptions"] == {"mode": "token"}
    assert job["spec"]["entrypointNumCpus"] == 1
    assert job["spec"]["shutdownAfterJobFinishes"] is True
    assert job["spec"]["backoffLimit"] >= 1
    # Only the head's autoscaler needs an API token; the CPU head never sees the node's GPUs.
    assert worker["automountServiceAccountToken"] is False
    assert "automountServiceAccountToken" not in head["template"]["spec"]
    head_env = {e["name"]: e.get("value") for e in head["template"]["spec"]["containers"][0]["env"]}
    assert head_env["NVIDIA_VISIBLE_DEVICES"] == "void"
    assert "env" not in worker["containers"][0]


def test_every_ray_container_runs_non_root_without_capabilities() -> None:
    job = build_rayjob(experiment())
    for container in containers(job):
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert security["runAsNonRoot"] is True


def test_the_entrypoint_carries_the_experiment_and_it_round_trips() -> None:
    exp = experiment(numSamples=12)
    job = build_rayjob(exp)
    assert job["spec"]["entrypoint"] == f"kubetune run env:{ENV_EXPERIMENT} --address auto"
    runtime_env = yaml.safe_load(job["spec"]["runtimeEnvYAML"])
    carried = load_text(runtime_env["env_vars"][ENV_EXPERIMENT])
    assert carried.spec == exp.spec
    assert carried.namespace == "ml"


def test_default_storage_is_filled_in_and_missing_storage_is_an_error() -> None:
    exp = experiment(storage={})
    with pytest.raises(SpecError, match=r"spec\.storage\.path: required on a cluster"):
        build_rayjob(exp)
    job = build_rayjob(
        exp,
        settings=RayJobSettings(
            default_storage_path="/mnt/kubetune/results", storage=StorageMount(claim_name="shared")
        ),
    )
    assert kuberay.errors(job) == []
    carried = load_text(yaml.safe_load(job["spec"]["runtimeEnvYAML"])["env_vars"][ENV_EXPERIMENT])
    assert carried.spec.storage.path == "/mnt/kubetune/results"
    for container in containers(job):
        assert {"name": "kubetune-storage", "mountPath": "/mnt/kubetune"} in container["volumeMounts"]


def test_ingest_settings_reach_every_ray_container_with_the_token_as_a_secret_reference() -> None:
    settings = RayJobSettings(ingest=Ingest(url="http://kubetune.kubetune.svc:8080", secret_name="kubetune-ingest"))
    job = build_rayjob(experiment(), settings=settings)
    assert kuberay.errors(job) == []
    for container in containers(job):
        env = {e["name"]: e for e in container["env"]}
        assert env["KUBETUNE_INGEST_URL"]["value"] == "http://kubetune.kubetune.svc:8080"
        ref = env["KUBETUNE_INGEST_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "kubetune-ingest", "key": "token", "optional": True}
    assert "KUBETUNE_INGEST_TOKEN" not in job["spec"]["runtimeEnvYAML"]


def test_a_long_lived_cluster_is_selected_without_retries_or_cluster_spec() -> None:
    job = build_rayjob(experiment(cluster={"clusterSelector": {"ray.io/cluster": "kubetune"}}))
    assert kuberay.errors(job) == []
    assert job["spec"]["clusterSelector"] == {"ray.io/cluster": "kubetune"}
    for forbidden in ("rayClusterSpec", "backoffLimit", "shutdownAfterJobFinishes"):
        assert forbidden not in job["spec"]


def test_the_time_budget_becomes_a_deadline_with_margin() -> None:
    job = build_rayjob(experiment(timeBudgetSeconds=7200), settings=RayJobSettings(deadline_margin_seconds=600))
    assert job["spec"]["activeDeadlineSeconds"] == 7800


def test_owner_reference_links_the_rayjob_to_its_experiment() -> None:
    owner = {
        "apiVersion": "kubetune.io/v1alpha1",
        "kind": "TuneExperiment",
        "metadata": {"name": "mnist-asha", "uid": "1234-abcd"},
    }
    job = build_rayjob(experiment(), owner=owner)
    (ref,) = job["metadata"]["ownerReferences"]
    assert ref["uid"] == "1234-abcd"
    assert ref["controller"] is True
    assert kuberay.errors(job) == []


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"cluster": {"workerGroup": "tpu"}}, "spec.cluster.workerGroup"),
        ({"resourcesPerTrial": {"gpu": 2}}, "spec.resourcesPerTrial.gpu"),
    ],
)
def test_cluster_mismatches_name_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as info:
        build_rayjob(experiment(**spec))
    assert info.value.errors[0].path == field


@pytest.mark.parametrize(("low", "high"), [(5, 2), (1, 0)])
def test_a_pool_whose_minimum_exceeds_its_maximum_is_refused_naming_it(low: int, high: int) -> None:
    """KubeRay refuses such a worker group at admission: the settings refuse it first, naming the pool."""
    with pytest.raises(ValueError, match=rf"worker pool a100: minReplicas \({low}\) is above maxReplicas \({high}\)"):
        WorkerPool(name="a100", min_replicas=low, max_replicas=high)


def test_a_pool_with_equal_bounds_is_a_fixed_size_group() -> None:
    pool = WorkerPool(name="a100", min_replicas=3, max_replicas=3)
    job = build_rayjob(experiment(resourcesPerTrial={"gpu": 1}), settings=RayJobSettings(pools=(pool,)))
    (group,) = job["spec"]["rayClusterSpec"]["workerGroupSpecs"]
    assert group["minReplicas"] == group["maxReplicas"] == 3
    assert kuberay.errors(job) == []


DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
#: A TuneExperiment may have any DNS-1123 subdomain name (the API server's rule for custom resources): dots, digits
#: first, up to 253 characters. A RayJob name must be a DNS-1035 label of at most 47 (KubeRay).
SUBDOMAIN = st.from_regex(
    r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?){0,3}", fullmatch=True
)


@pytest.mark.parametrize(
    "name", ["a", "mnist-asha", "x" * 47, "y" * 48, "z" * 63, "7-digits-first", "my.exp", "a" * 253]
)
def test_rayjob_names_fit_kuberay_and_are_deterministic(name: str) -> None:
    got = rayjob_name(name)
    assert len(got) <= MAX_RAYJOB_NAME
    assert DNS_1035_LABEL.fullmatch(got), got
    assert got == rayjob_name(name)
    if len(name) > MAX_RAYJOB_NAME:
        assert got != rayjob_name(name[:-1] + "q")


@pytest.mark.parametrize(("a", "b"), [("1abc", "kt-1abc"), ("my.exp", "my-exp"), ("x" * 48, "x" * 47)])
def test_two_experiments_never_share_a_rayjob_name(a: str, b: str) -> None:
    assert rayjob_name(a) != rayjob_name(b)


@settings(max_examples=300, deadline=None)
@given(names=st.sets(SUBDOMAIN, min_size=2, max_size=30))
def test_the_name_mapping_is_injective_over_any_experiment_names(names: set[str]) -> None:
    mapped = {rayjob_name(n) for n in names}
    assert len(mapped) == len(names)
    assert all(DNS_1035_LABEL.fullmatch(m) and len(m) <= MAX_RAYJOB_NAME for m in mapped)
    # a name that already is a mapped one cannot take another experiment's RayJob
    assert not ({rayjob_name(m) for m in mapped} & mapped - names)


def test_the_validator_catches_a_typo_in_a_rayjob() -> None:
    job = build_rayjob(experiment())
    job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["rayStartParms"] = {}
    assert any("rayStartParms" in e for e in kuberay.errors(job))


# -- queues: Kueue and Volcano ---------------------------------------------------------------------------------


def labelled(labels: dict[str, str], **spec: Any) -> Any:
    doc = experiment_doc("mnist-asha", "jobs.mnist_torch.trainable:train", storage=STORAGE, **spec)
    doc["metadata"].update(namespace="ml", labels=labels)  # type: ignore[attr-defined]
    return load_object(doc)


def test_a_queued_experiment_is_created_suspended_with_its_queue_label() -> None:
    job = build_rayjob(experiment(cluster={"queueName": "team-a"}))
    assert kuberay.errors(job) == []
    assert job["spec"]["suspend"] is True  # Kueue admits it by resuming it
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    assert job["spec"]["shutdownAfterJobFinishes"] is True  # KubeRay suspends only such jobs
    assert "suspend" not in build_rayjob(experiment())["spec"]


def test_only_scheduling_labels_reach_the_rayjob_and_its_pods() -> None:
    exp = labelled({"kueue.x-k8s.io/priority-class": "high", "volcano.sh/queue-name": "q",
                    "ray.io/scheduler-name": "volcano", "team": "a", "kueue.x-k8s.io": "odd"})  # fmt: skip
    job = build_rayjob(exp)
    expected = {
        "kueue.x-k8s.io/priority-class": "high",
        "volcano.sh/queue-name": "q",
        "ray.io/scheduler-name": "volcano",
    }
    cluster = job["spec"]["rayClusterSpec"]
    for labels in (job["metadata"]["labels"], cluster["headGroupSpec"]["template"]["metadata"]["labels"],
                   cluster["workerGroupSpecs"][0]["template"]["metadata"]["labels"]):  # fmt: skip
        assert {k: v for k, v in labels.items() if k in {*expected, "team", "kueue.x-k8s.io"}} == expected
    assert kuberay.errors(job) == []


def test_a_priority_class_reaches_every_ray_pod() -> None:
    cluster = build_rayjob(experiment(cluster={"priorityClassName": "research-low"}))["spec"]["rayClusterSpec"]
    templates = [cluster["headGroupSpec"]["template"], cluster["workerGroupSpecs"][0]["template"]]
    assert [t["spec"]["priorityClassName"] for t in templates] == ["research-low", "research-low"]


def test_an_experiments_priority_class_wins_over_the_clusters_default() -> None:
    settings = RayJobSettings(pod=RayPodSettings(priority_class_name="batch"))
    for spec, expected in (({}, "batch"), ({"priorityClassName": "urgent"}, "urgent")):
        cluster = build_rayjob(experiment(cluster=spec), settings=settings)["spec"]["rayClusterSpec"]
        templates = [cluster["headGroupSpec"]["template"], cluster["workerGroupSpecs"][0]["template"]]
        assert [t["spec"]["priorityClassName"] for t in templates] == [expected, expected]


def test_fixed_workers_turn_autoscaling_off() -> None:
    job = build_rayjob(experiment(cluster={"fixedWorkers": 3}, resourcesPerTrial={"gpu": 1}))
    cluster = job["spec"]["rayClusterSpec"]
    assert cluster["enableInTreeAutoscaling"] is False
    assert "autoscalerOptions" not in cluster
    (group,) = cluster["workerGroupSpecs"]
    assert (group["replicas"], group["minReplicas"], group["maxReplicas"]) == (3, 3, 3)
    assert kuberay.errors(job) == []


@pytest.mark.parametrize("field", ["queueName", "priorityClassName", "fixedWorkers"])
def test_a_long_lived_cluster_is_neither_queued_nor_sized(field: str) -> None:
    value = 2 if field == "fixedWorkers" else "x"
    with pytest.raises(SpecError) as refused:
        experiment(cluster={"clusterSelector": {"ray.io/cluster": "c"}, field: value})
    assert [e.path for e in refused.value.errors] == [f"spec.cluster.{field}"]


def test_the_readme_kueue_example_is_a_valid_queued_experiment() -> None:
    """README.md's "Shared GPU clusters: Kueue" section: its TuneExperiment validates and is created suspended in
    its queue, and its Kueue objects are the four kinds the text describes."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("### Shared GPU clusters: Kueue") :]
    kueue, experiment_yaml = re.findall(r"```yaml\n(.*?)```", section, re.S)[:2]
    kinds = [doc["kind"] for doc in yaml.safe_load_all(kueue)]
    assert kinds == ["ResourceFlavor", "ResourceFlavor", "ClusterQueue", "LocalQueue"]
    job = build_rayjob(load_text(experiment_yaml))
    assert job["spec"]["suspend"] is True
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-ml"
    assert kuberay.errors(job) == []
