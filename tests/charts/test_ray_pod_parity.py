"""One Ray pod template: the RayJobs the operator builds from the chart's settings have the Ray pods of the chart's
own RayCluster, field by field.

The chart renders its RayCluster's pods in ``_helpers.tpl`` and hands the operator the same values in its settings
ConfigMap; ``kubetune.kube.rayjobs.build_rayjob`` turns those settings into RayJobs. Both are rendered here with
values far from the defaults (two GPU pools, pull secrets in both forms, OpenShift-style security contexts,
per-pool labels, annotations, ``rayStartParams`` and identities, a scheduler and a priority class), the settings
are loaded as the operator loads them, and every field of every Ray pod template is compared.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from kubetune.kube.rayjobs import LABEL_EXPERIMENT, Ingest, RayJobSettings, build_rayjob
from kubetune.spec import load_object
from tests import kuberay
from tests.conftest import experiment_doc

from .conftest import CHART, NAMESPACE, RELEASE, helm, one

load_settings = pytest.importorskip("kubetune_operator.settings").load_settings

TOLERATE_GPU = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
VALUES: dict[str, Any] = {
    "operator": {"imagePullSecrets": ["regcred", {"name": "mirror-creds"}]},
    "raycluster": {"enabled": True},
    "storage": {"enabled": True, "create": False, "claimName": "team-nfs", "mountPath": "/mnt/shared"},
    "ray": {
        "serviceAccountName": "ray-default",
        "schedulerName": "volcano",
        "priorityClassName": "ml-batch",
        "podAnnotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"},
        "podLabels": {"cost-center": "ml-research"},
        # OpenShift's restricted SCC assigns the UID: a null drops the chart's default.
        "podSecurityContext": {"runAsUser": None, "runAsGroup": None, "fsGroup": None},
        "securityContext": {"readOnlyRootFilesystem": True},
        "image": {"repository": "registry.example.com/ray", "tag": "7.7", "pullPolicy": "Always"},
        "head": {
            "cpu": "3",
            "memory": "12Gi",
            "nodeSelector": {"node-pool": "system"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "system", "effect": "NoSchedule"}],
        },
        "cpuPool": {
            "cpu": "6",
            "minReplicas": 1,
            "nodeSelector": {"node-pool": "cpu"},
            "annotations": {"pool": "cpu"},
            "labels": {"pool": "cpu"},
            "rayStartParams": {"num-cpus": "5"},
            "serviceAccountName": "ray-cpu",
        },
        "defaultGpuPool": "t4",
        "gpuPools": {
            "gpu": None,
            "a100": {
                "gpus": 8,
                "cpu": "96",
                "memory": "1000Gi",
                "minReplicas": 0,
                "maxReplicas": 2,
                "idleTimeoutSeconds": 900,
                "nodeSelector": {"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"},
                "tolerations": [TOLERATE_GPU],
                "annotations": {"pool": "a100", "cluster-autoscaler.kubernetes.io/safe-to-evict": "true"},
                "labels": {"pool": "a100", "cost-center": "ml-training"},
                "rayStartParams": {"object-store-memory": "8000000000"},
                "serviceAccountName": "ray-a100",
            },
            "t4": {
                "gpus": 1,
                "cpu": "8",
                "memory": "30Gi",
                "minReplicas": 2,
                "maxReplicas": 16,
                "idleTimeoutSeconds": 300,
                "nodeSelector": {"cloud.google.com/gke-spot": "true"},
                "tolerations": [
                    TOLERATE_GPU,
                    {"key": "cloud.google.com/gke-spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
                ],
            },
        },
    },
}
#: Labels naming where a pod comes from, which legitimately differ: the chart's release labels on its RayCluster,
#: the experiment's name on a RayJob. Every other label (``managed-by: kubetune``, users' labels) must agree.
CHART_ONLY_LABELS = {
    "helm.sh/chart",
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/component",
}
RAYJOB_ONLY_LABELS = {LABEL_EXPERIMENT}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], RayJobSettings]:
    """The chart's RayCluster, and the RayJob settings the operator loads from the same render's ConfigMap."""
    here = tmp_path_factory.mktemp("parity")
    (here / "values.yaml").write_text(yaml.safe_dump(VALUES))
    text = helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--values", str(here / "values.yaml")).stdout
    objects = [doc for doc in yaml.safe_load_all(text) if doc]
    config = one(objects, "ConfigMap", f"{RELEASE}-config")
    (here / "config.yaml").write_text(config["data"]["config.yaml"])
    settings = load_settings(here / "config.yaml", environ={})
    # As the operator builds a RayJob in its own namespace (reconciling.py): the ingest token from its Secret.
    ingest = Ingest(url=settings.ingest_url, secret_name=settings.ingest.secret_name,
                    secret_key=settings.ingest.secret_key)  # fmt: skip
    return one(objects, "RayCluster"), dataclasses.replace(settings.rayjob, ingest=ingest)


def operator_rayjob(settings: RayJobSettings, pool: str) -> dict[str, Any]:
    gpu = 0 if pool == "cpu" else 1
    doc = experiment_doc("parity", "jobs.mnist_torch.trainable:train", resourcesPerTrial={"cpu": 1, "gpu": gpu},
                         cluster={"workerGroup": pool})  # fmt: skip
    doc["metadata"]["namespace"] = NAMESPACE  # type: ignore[index]
    job = build_rayjob(load_object(doc), settings=settings)
    assert kuberay.errors(job) == []
    return job


def comparable(template: dict[str, Any], *, drop_labels: set[str]) -> dict[str, Any]:
    """A pod template with the origin labels dropped and container ports in name order (their order is moot)."""
    template = yaml.safe_load(yaml.safe_dump(template))
    labels = template["metadata"]["labels"]
    template["metadata"]["labels"] = {k: v for k, v in labels.items() if k not in drop_labels}
    for container in template["spec"]["containers"]:
        container["ports"] = sorted(container.get("ports", []), key=lambda p: p["name"])
    return template


def differences(chart: Any, built: Any, path: str = "") -> Iterator[str]:
    """Every field where the two differ, as ``path: chart != built``."""
    if isinstance(chart, dict) and isinstance(built, dict):
        for key in sorted(chart.keys() | built.keys()):
            yield from differences(chart.get(key, "<absent>"), built.get(key, "<absent>"), f"{path}.{key}")
    elif isinstance(chart, list) and isinstance(built, list) and len(chart) == len(built):
        for i, (a, b) in enumerate(zip(chart, built, strict=True)):
            yield from differences(a, b, f"{path}[{i}]")
    elif chart != built:
        yield f"{path}: chart {chart!r} != rayjob {built!r}"


def assert_same_pod(chart: dict[str, Any], built: dict[str, Any], what: str) -> None:
    diffs = list(
        differences(comparable(chart, drop_labels=CHART_ONLY_LABELS), comparable(built, drop_labels=RAYJOB_ONLY_LABELS))
    )
    assert diffs == [], f"{what}: the operator's RayJob and the chart's RayCluster differ:\n" + "\n".join(diffs)


GROUP_FIELDS = ("groupName", "replicas", "minReplicas", "maxReplicas", "idleTimeoutSeconds", "rayStartParams")


@pytest.mark.parametrize("pool", ["cpu", "a100", "t4"])
def test_a_worker_pod_of_the_operators_rayjob_is_the_charts_worker_pod(
    rendered: tuple[dict[str, Any], RayJobSettings], pool: str
) -> None:
    cluster, settings = rendered
    (chart_group,) = [g for g in cluster["spec"]["workerGroupSpecs"] if g["groupName"] == pool]
    (built_group,) = operator_rayjob(settings, pool)["spec"]["rayClusterSpec"]["workerGroupSpecs"]
    assert {f: chart_group.get(f) for f in GROUP_FIELDS} == {f: built_group.get(f) for f in GROUP_FIELDS}
    assert_same_pod(chart_group["template"], built_group["template"], f"worker group {pool}")


def test_the_head_pod_of_the_operators_rayjob_is_the_charts_head_pod(
    rendered: tuple[dict[str, Any], RayJobSettings],
) -> None:
    cluster, settings = rendered
    built = operator_rayjob(settings, "t4")["spec"]["rayClusterSpec"]
    chart_head, built_head = cluster["spec"]["headGroupSpec"], built["headGroupSpec"]
    assert chart_head["rayStartParams"] == built_head["rayStartParams"]
    assert_same_pod(chart_head["template"], built_head["template"], "head")
    for key in ("authOptions", "enableInTreeAutoscaling"):
        assert cluster["spec"][key] == built[key], key
    for key in ("version", "securityContext"):
        assert cluster["spec"]["autoscalerOptions"][key] == built["autoscalerOptions"][key], key


def test_the_values_under_test_reach_the_pods_at_all(rendered: tuple[dict[str, Any], RayJobSettings]) -> None:
    """The comparison would pass on two equally wrong templates: the values must show in the RayJob."""
    _, settings = rendered
    spec = operator_rayjob(settings, "a100")["spec"]["rayClusterSpec"]
    head, (group,) = spec["headGroupSpec"]["template"], spec["workerGroupSpecs"]
    worker = group["template"]
    assert worker["spec"]["imagePullSecrets"] == [{"name": "regcred"}, {"name": "mirror-creds"}]
    assert worker["spec"]["serviceAccountName"] == "ray-a100"
    assert head["spec"]["serviceAccountName"] == "ray-default"
    assert worker["metadata"]["labels"]["cost-center"] == "ml-training"  # the pool's label wins over ray.podLabels
    assert worker["metadata"]["annotations"]["pool"] == "a100"
    assert group["rayStartParams"] == {"object-store-memory": "8000000000"}
    assert "runAsUser" not in worker["spec"]["securityContext"]
    assert worker["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert worker["spec"]["priorityClassName"] == head["spec"]["priorityClassName"] == "ml-batch"
    assert worker["spec"]["schedulerName"] == "volcano"
    assert head["spec"]["nodeSelector"] == {"node-pool": "system"}


def test_every_pod_without_gpus_is_hidden_from_the_nodes_gpus_in_both(
    rendered: tuple[dict[str, Any], RayJobSettings],
) -> None:
    """The NVIDIA runtime exposes every card of a shared node to a pod that requests none (ray#54868)."""
    cluster, _ = rendered
    templates = {"head": cluster["spec"]["headGroupSpec"]["template"]}
    templates |= {g["groupName"]: g["template"] for g in cluster["spec"]["workerGroupSpecs"]}
    for name, template in templates.items():
        (container,) = template["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        hidden = env.get("NVIDIA_VISIBLE_DEVICES") == "void"
        assert hidden == ("nvidia.com/gpu" not in container["resources"]["limits"]), name
