"""Every rendered object is valid: core kinds against Kubernetes' own schemas (kubernetes-validate, strict),
RayClusters against KubeRay v1.7.0's CRD (strict), the operator's settings file against the operator's own
loader - and the RayCluster and the operator's RayJobs have the shape the design promises."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetune import versions
from kubetune.kube.rayjobs import build_rayjob
from kubetune.spec import load_object
from tests import kuberay
from tests.conftest import experiment_doc

from .conftest import CHART, CUSTOM_KINDS, KUBE_VERSIONS, NAMESPACE, find, one, ray_pods, render

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="`make chart-tools` installs it")


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_every_core_object_is_valid_kubernetes(scenario: str, kube_version: str) -> None:
    problems = []
    for obj in render(scenario, kube_version=kube_version):
        if (obj["apiVersion"], obj["kind"]) in CUSTOM_KINDS:
            continue
        # Strict: unknown fields fail. A kind without a schema raises SchemaNotFoundError (no silent WARN).
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as e:
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {e.message}")
    assert problems == []


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_shipped_crds_are_valid_kubernetes(kube_version: str) -> None:
    crds = sorted((CHART / "crds").glob("*.yaml"))
    if not crds:
        pytest.skip("crds/ is empty: the operator's CRD is generated into it")
    for path in crds:
        for doc in yaml.safe_load_all(path.read_text()):
            kubernetes_validate.validate(doc, kube_version, strict=True)


def test_a_kind_without_a_schema_is_an_error_not_a_warning() -> None:
    """Its CLI only WARNs on custom resources (exit 0); the API used above raises, so nothing passes unchecked."""
    cluster = one(render("raycluster-gpu"), "RayCluster")
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(cluster, KUBE_VERSIONS[0], strict=True)


def test_every_raycluster_is_valid_against_kuberays_crd(scenario: str) -> None:
    for cluster in find(render(scenario), "RayCluster"):
        assert kuberay.errors(cluster) == []


def test_strict_raycluster_check_catches_a_typo() -> None:
    cluster = one(render("raycluster-gpu"), "RayCluster")
    cluster["spec"]["workerGroupSpecs"][0]["minReplica"] = 0
    assert any("minReplica" in e for e in kuberay.errors(cluster))


def rayclusters() -> list[dict[str, Any]]:
    return find(render("raycluster-gpu"), "RayCluster") + find(render("networkpolicy"), "RayCluster")


def test_raycluster_head_is_cpu_only_with_autoscaler_v2_and_token_auth() -> None:
    for cluster in rayclusters():
        spec = cluster["spec"]
        assert spec["rayVersion"] == versions.RAY_VERSION
        assert spec["enableInTreeAutoscaling"] is True
        assert spec["autoscalerOptions"]["version"] == "v2"
        assert spec["authOptions"] == {"mode": "token"}
        head = spec["headGroupSpec"]
        assert head["rayStartParams"]["num-cpus"] == "0"
        (container,) = head["template"]["spec"]["containers"]
        assert "nvidia.com/gpu" not in container["resources"]["limits"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["NVIDIA_VISIBLE_DEVICES"] == "void"  # even on a GPU node, the head holds no GPU
        assert "tolerations" not in head["template"]["spec"] or all(
            t.get("key") != "nvidia.com/gpu" for t in head["template"]["spec"]["tolerations"]
        )
        assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
            "gcs": 6379,
            "dashboard": 8265,
            "client": 10001,
            "metrics": 8080,
        }


def test_every_gpu_pool_becomes_a_worker_group_requesting_its_gpus() -> None:
    cluster = one(render("raycluster-gpu"), "RayCluster")
    groups = {g["groupName"]: g for g in cluster["spec"]["workerGroupSpecs"]}
    assert sorted(groups) == ["a100", "cpu", "t4"]  # `gpu: null` dropped the default pool
    a100 = groups["a100"]
    (container,) = a100["template"]["spec"]["containers"]
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "8"
    assert container["resources"]["limits"] == container["resources"]["requests"]
    assert (a100["minReplicas"], a100["maxReplicas"], a100["idleTimeoutSeconds"]) == (0, 2, 900)
    spec = a100["template"]["spec"]
    assert spec["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    cpu = groups["cpu"]["template"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" not in cpu["resources"]["limits"]


def test_every_ray_container_reports_to_the_operator_and_mounts_shared_storage() -> None:
    for cluster in rayclusters():
        for pod in ray_pods([cluster]):
            spec = pod.template["spec"]
            (container,) = spec["containers"]
            env = {e["name"]: e for e in container["env"]}
            assert env["KUBETUNE_INGEST_URL"]["value"] == f"http://kubetune.{NAMESPACE}.svc:8080", pod.name
            # optional, as in the operator's RayJobs: without the Secret Ray still runs, just without live metrics.
            assert env["KUBETUNE_INGEST_TOKEN"]["valueFrom"]["secretKeyRef"] == {
                "name": "kubetune-ingest",
                "key": "token",
                "optional": True,
            }
            assert container["image"] == versions.image("torch")
            assert spec["securityContext"]["runAsNonRoot"] is True
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    cluster = one(render("raycluster-gpu"), "RayCluster")
    for pod in ray_pods([cluster]):
        spec = pod.template["spec"]
        mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
        assert mounts["kubetune-storage"] == "/mnt/kubetune", pod.name
        claims = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in spec["volumes"]}
        assert claims["kubetune-storage"] == "team-ml-nfs"


def test_worker_pods_get_no_api_token_but_the_head_does() -> None:
    """The autoscaler sidecar in the head calls the API server; workers never do."""
    for pod in ray_pods([one(render("raycluster-gpu"), "RayCluster")]):
        automount = pod.template["spec"].get("automountServiceAccountToken")
        assert automount is (None if pod.name.endswith("/head") else False), pod.name


# --- the operator's settings file -------------------------------------------------------------------------------

HAS_OPERATOR = importlib.util.find_spec("kubetune_operator.settings") is not None


def operator_settings(scenario: str, tmp_path: Path) -> Any:
    from kubetune_operator.settings import load_settings

    objects = render(scenario)
    config = one(objects, "ConfigMap", next(c["metadata"]["name"] for c in find(objects, "ConfigMap")
                                            if c["metadata"]["name"].endswith("-config")))  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(config["data"]["config.yaml"])
    return load_settings(path, environ={})


@pytest.mark.skipif(not HAS_OPERATOR, reason="operator/kubetune_operator/settings.py is not there yet")
def test_the_operator_loads_the_rendered_settings(scenario: str, tmp_path: Path) -> None:
    """The settings file is written in the operator's own format: its loader (which rejects unknown keys) reads it."""
    settings = operator_settings(scenario, tmp_path)
    assert settings.namespace == NAMESPACE
    assert settings.server.port == 8080
    assert settings.ingest.token_file == "/var/run/kubetune/token"
    deployment = one(render(scenario), "Deployment")
    assert settings.ingest.url == f"http://{deployment['metadata']['name']}.{NAMESPACE}.svc:8080"
    assert settings.rayjob.default_image == versions.image("torch")


@pytest.mark.skipif(not HAS_OPERATOR, reason="operator/kubetune_operator/settings.py is not there yet")
@pytest.mark.parametrize(
    ("scenario", "namespaces"),
    [("defaults", (NAMESPACE,)), ("networkpolicy", ("kubetune", "team-a", "team-b")), ("cluster-wide", ())],
)
def test_watched_namespaces_reach_the_operator(scenario: str, namespaces: tuple[str, ...], tmp_path: Path) -> None:
    assert operator_settings(scenario, tmp_path).watch.namespaces == namespaces  # () = all namespaces


@pytest.mark.skipif(not HAS_OPERATOR, reason="operator/kubetune_operator/settings.py is not there yet")
def test_rayjobs_built_from_the_chart_settings_are_valid_and_use_its_pools(tmp_path: Path) -> None:
    settings = operator_settings("raycluster-gpu", tmp_path).rayjob
    assert [p.name for p in settings.pools] == ["t4", "a100"]  # ray.defaultGpuPool first
    assert settings.storage is not None
    assert settings.storage.claim_name == "team-ml-nfs"
    doc = experiment_doc("gpu-sweep", "jobs.mnist_torch.trainable:train", resourcesPerTrial={"cpu": 4, "gpu": 1},
                         cluster={"workerGroup": "t4"})  # fmt: skip
    rayjob = build_rayjob(load_object(doc), settings=settings)
    assert kuberay.errors(rayjob) == []
    (group,) = rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"]
    assert group["groupName"] == "t4"
    assert group["template"]["spec"]["nodeSelector"]["cloud.google.com/gke-spot"] == "true"
