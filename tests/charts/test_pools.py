"""Ray node pools: bounds KubeRay would reject are refused by name, the default GPU pool is the one named, and
per-pool pod settings reach their worker group of the chart's RayCluster."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetune.kube.rayjobs import build_rayjob
from kubetune.spec import load_object
from tests.conftest import experiment_doc

from .conftest import CHART, find, helm, one, render, values_file

HAS_OPERATOR = importlib.util.find_spec("kubetune_operator.settings") is not None


def template(tmp_path: Path, values: dict[str, Any], *scenario_files: Path) -> tuple[int, str]:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    args = ["template", "kubetune", str(CHART), "--namespace", "kubetune"]
    for extra in (*scenario_files, path):
        args += ["--values", str(extra)]
    done = helm(*args, check=False)
    return done.returncode, done.stderr


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"ray": {"gpuPools": {"a100": {"minReplicas": 5, "maxReplicas": 2}}}}, "ray.gpuPools.a100"),
        ({"ray": {"gpuPools": {"gpu": {"minReplicas": 5}}}}, "ray.gpuPools.gpu"),
        ({"ray": {"cpuPool": {"minReplicas": 9, "maxReplicas": 8}}}, "ray.cpuPool"),
    ],
    ids=["new-pool", "default-pool", "cpu-pool"],
)
def test_a_pool_whose_minimum_exceeds_its_maximum_is_refused_naming_it(
    values: dict[str, Any], named: str, tmp_path: Path
) -> None:
    """KubeRay refuses such a worker group at admission; the chart says which pool, before anything is applied."""
    pools = values["ray"].get("gpuPools", {})
    for name, pool in pools.items():  # complete new pools, so only the bounds are wrong
        if name != "gpu":
            pool.update({"gpus": 1, "cpu": "8", "memory": "32Gi", "idleTimeoutSeconds": 60})
    code, stderr = template(tmp_path, values)
    assert code != 0
    assert named in stderr
    assert "minReplicas" in stderr
    assert "maxReplicas" in stderr


def test_equal_bounds_are_a_fixed_size_pool(tmp_path: Path) -> None:
    code, stderr = template(tmp_path, {"ray": {"gpuPools": {"gpu": {"minReplicas": 4, "maxReplicas": 4}}}})
    assert code == 0, stderr


# --- the default GPU pool -----------------------------------------------------------------------------------------


def operator_pools(scenario: str, *sets: str) -> list[str]:
    objects = render(scenario, sets=sets)
    config = one(objects, "ConfigMap", "kubetune-config")
    return [pool["name"] for pool in yaml.safe_load(config["data"]["config.yaml"])["rayjob"]["pools"]]


def test_without_a_named_default_the_first_pool_in_alphabetical_order_is_the_default() -> None:
    """Helm sorts maps, whatever the order in the values file: documented in values.yaml."""
    assert operator_pools("raycluster-gpu", "ray.defaultGpuPool=") == ["a100", "t4"]
    assert "alphabetical" in (CHART / "values.yaml").read_text()


def test_the_named_default_gpu_pool_comes_first_for_the_operator() -> None:
    assert operator_pools("raycluster-gpu") == ["t4", "a100"]  # ci/raycluster-gpu-values.yaml names t4
    assert operator_pools("raycluster-gpu", "ray.defaultGpuPool=a100") == ["a100", "t4"]


@pytest.mark.skipif(not HAS_OPERATOR, reason="operator/kubetune_operator/settings.py is not there yet")
def test_a_gpu_experiment_that_names_no_pool_runs_on_the_default_one(tmp_path: Path) -> None:
    from kubetune_operator.settings import load_settings

    config = one(render("raycluster-gpu"), "ConfigMap", "kubetune-config")
    (tmp_path / "config.yaml").write_text(config["data"]["config.yaml"])
    settings = load_settings(tmp_path / "config.yaml", environ={}).rayjob
    doc = experiment_doc("gpu", "jobs.mnist_torch.trainable:train", resourcesPerTrial={"cpu": 2, "gpu": 1})
    (group,) = build_rayjob(load_object(doc), settings=settings)["spec"]["rayClusterSpec"]["workerGroupSpecs"]
    assert group["groupName"] == "t4"


@pytest.mark.parametrize("default", ["h100", "cpu"])
def test_a_default_gpu_pool_that_is_not_a_gpu_pool_is_refused(default: str, tmp_path: Path) -> None:
    code, stderr = template(tmp_path, {"ray": {"defaultGpuPool": default}}, values_file("raycluster-gpu"))  # type: ignore[arg-type]
    assert code != 0
    assert "ray.defaultGpuPool" in stderr
    assert default in stderr


# --- per-pool pod settings (the chart's RayCluster) ---------------------------------------------------------------


def worker_groups(scenario: str) -> dict[str, dict[str, Any]]:
    (cluster,) = find(render(scenario), "RayCluster")
    return {g["groupName"]: g for g in cluster["spec"]["workerGroupSpecs"]}


def test_each_pool_gets_its_own_annotations_labels_start_params_and_service_account() -> None:
    values = yaml.safe_load((CHART / "ci" / "pod-overrides-values.yaml").read_text())["ray"]
    groups = worker_groups("pod-overrides")
    for name, pool in {"cpu": values["cpuPool"], **values["gpuPools"]}.items():
        group = groups[name]
        metadata, spec = group["template"]["metadata"], group["template"]["spec"]
        assert pool["annotations"].items() <= metadata["annotations"].items(), name
        assert pool["labels"].items() <= metadata["labels"].items(), name
        assert pool["rayStartParams"].items() <= group["rayStartParams"].items(), name
        assert spec["serviceAccountName"] == pool["serviceAccountName"], name
        assert spec["automountServiceAccountToken"] is False, name  # an identity, still no API token
    assert groups["gpu"]["template"]["metadata"]["annotations"] == {
        **values["podAnnotations"],
        **values["gpuPools"]["gpu"]["annotations"],
    }


def test_a_pool_label_cannot_take_kubetunes_own() -> None:
    """The Ray NetworkPolicy and PodMonitor select on the chart's labels: a pool's labels never replace them."""
    sets = [
        r"ray.gpuPools.gpu.labels.app\.kubernetes\.io/managed-by=someone",
        r"ray.podLabels.app\.kubernetes\.io/component=x",
    ]
    (cluster,) = find(render("pod-overrides", sets=sets), "RayCluster")
    groups = [cluster["spec"]["headGroupSpec"], *cluster["spec"]["workerGroupSpecs"]]
    for group in groups:
        labels = group["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "kubetune", group.get("groupName", "head")
        assert labels["app.kubernetes.io/component"] == "ray", group.get("groupName", "head")
