"""The pod and RBAC settings users of the KubeRay and prometheus-community charts expect: security contexts they
can loosen for OpenShift, placement, environment, volumes, pull secrets on every pod, ServiceMonitor relabelings,
and ClusterRoles that let namespace editors and viewers use TuneExperiments."""

from __future__ import annotations

from typing import Any

import yaml

from .conftest import CHART, find, one, ray_pods, render

OVERRIDES = yaml.safe_load((CHART / "ci" / "pod-overrides-values.yaml").read_text())


def operator_pod(scenario: str, *sets: str) -> dict[str, Any]:
    pod: dict[str, Any] = one(render(scenario, sets=sets), "Deployment")["spec"]["template"]
    return pod


# --- security contexts --------------------------------------------------------------------------------------------


def test_openshift_values_leave_the_uid_to_the_cluster_and_keep_every_other_restriction() -> None:
    """The restricted SCC assigns a UID from the namespace's range and refuses a pod that names another one."""
    objects = render("openshift")
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    (container,) = pod["containers"]
    assert "runAsUser" not in container["securityContext"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    pods = ray_pods(objects)
    assert pods
    for ray in pods:
        security = ray.template["spec"]["securityContext"]
        assert security == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}, ray.name


def test_the_default_security_contexts_are_the_restricted_ones() -> None:
    pod = operator_pod("defaults")["spec"]
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["containers"][0]["securityContext"]["runAsUser"] == 65532
    for ray in ray_pods(render("raycluster-gpu")):
        assert ray.template["spec"]["securityContext"]["runAsUser"] == 1000, ray.name


def test_a_security_context_setting_can_be_added() -> None:
    pod = operator_pod("defaults", "operator.podSecurityContext.supplementalGroups={4000}")["spec"]
    assert pod["securityContext"]["supplementalGroups"] == [4000]
    assert pod["securityContext"]["runAsUser"] == 65532  # the other defaults stay


# --- the operator pod ---------------------------------------------------------------------------------------------


def test_the_operator_pod_takes_placement_environment_volumes_and_metadata() -> None:
    values = OVERRIDES["operator"]
    template = operator_pod("pod-overrides")
    pod, (container,) = template["spec"], template["spec"]["containers"]
    assert values["podAnnotations"].items() <= template["metadata"]["annotations"].items()
    assert "checksum/config" in template["metadata"]["annotations"]
    assert values["podLabels"].items() <= template["metadata"]["labels"].items()
    assert pod["affinity"]["nodeAffinity"] == values["affinity"]["nodeAffinity"]
    assert set(pod["affinity"]) == {"nodeAffinity", "podAntiAffinity"}  # the chart's spread of replicas beside it
    assert pod["topologySpreadConstraints"] == values["topologySpreadConstraints"]
    assert pod["priorityClassName"] == values["priorityClassName"]
    assert pod["schedulerName"] == values["schedulerName"]
    assert [e["name"] for e in container["env"]] == ["POD_NAME", "POD_IP"] + [e["name"] for e in values["extraEnv"]]
    assert container["env"][2:] == values["extraEnv"]
    assert container["envFrom"] == values["envFrom"]
    assert {v["name"] for v in pod["volumes"]} == {"config", "token", "tmp", "ca-bundle"}
    assert {m["name"] for m in container["volumeMounts"]} == {"config", "token", "tmp", "ca-bundle"}
    assert values["extraVolumes"][0] in pod["volumes"]
    assert values["extraVolumeMounts"][0] in container["volumeMounts"]


def test_the_operator_pod_keeps_the_labels_its_service_selects() -> None:
    objects = render("pod-overrides", sets=[r"operator.podLabels.app\.kubernetes\.io/component=other"])
    labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert one(objects, "Service")["spec"]["selector"].items() <= labels.items()


def test_pull_secrets_reach_every_pod_the_chart_renders_in_either_form() -> None:
    objects = render("pod-overrides")
    expected = [{"name": "registry-creds"}, {"name": "mirror-creds"}]
    assert one(objects, "Deployment")["spec"]["template"]["spec"]["imagePullSecrets"] == expected
    pods = ray_pods(objects)
    assert {p.name.split("/")[1] for p in pods} == {"head", "cpu", "gpu"}
    for pod in pods:
        assert pod.template["spec"]["imagePullSecrets"] == expected, pod.name


def test_the_charts_ray_pods_take_a_scheduler_and_annotations() -> None:
    for pod in ray_pods(render("pod-overrides")):
        assert pod.template["spec"]["schedulerName"] == "volcano", pod.name
        annotations = pod.template["metadata"]["annotations"]
        assert "cluster-autoscaler.kubernetes.io/safe-to-evict" in annotations, pod.name
        assert pod.template["metadata"]["labels"]["cost-center"] == "ml-research", pod.name


# --- monitoring ---------------------------------------------------------------------------------------------------


def test_the_service_monitor_and_pod_monitor_take_relabelings() -> None:
    values = yaml.safe_load((CHART / "ci" / "monitoring-values.yaml").read_text())["monitoring"]
    objects = render("monitoring")
    (endpoint,) = one(objects, "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["relabelings"] == values["serviceMonitor"]["relabelings"]
    assert endpoint["metricRelabelings"] == values["serviceMonitor"]["metricRelabelings"]
    (pod_endpoint,) = one(objects, "PodMonitor")["spec"]["podMetricsEndpoints"]
    targets = [r["targetLabel"] for r in pod_endpoint["relabelings"]]
    assert targets[:2] == ["ray_io_cluster", "experiment"]  # the chart's come first, the user's after
    assert pod_endpoint["relabelings"][2:] == values["podMonitor"]["relabelings"]
    assert pod_endpoint["metricRelabelings"] == values["podMonitor"]["metricRelabelings"]


# --- RBAC for the people who use TuneExperiments ----------------------------------------------------------------


def aggregated(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The chart's ClusterRoles that aggregate into a built-in role, by that role."""
    found: dict[str, dict[str, Any]] = {}
    for role in find(objects, "ClusterRole"):
        for label, value in role["metadata"]["labels"].items():
            if label.startswith("rbac.authorization.k8s.io/aggregate-to-") and value == "true":
                found.setdefault(label.rsplit("-", 1)[1], role)
    return found


def verbs(role: dict[str, Any], resource: str) -> set[str]:
    return {
        verb
        for rule in role["rules"]
        if "kubetune.io" in rule["apiGroups"] and resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_namespace_editors_may_run_experiments_and_viewers_may_read_them() -> None:
    roles = aggregated(render("defaults"))
    assert set(roles) == {"view", "edit", "admin"}
    assert roles["edit"] is roles["admin"]
    assert verbs(roles["view"], "tuneexperiments") == {"get", "list", "watch"}
    assert verbs(roles["view"], "tuneexperiments/status") == {"get", "list", "watch"}
    assert verbs(roles["edit"], "tuneexperiments") == {"create", "update", "patch", "delete", "deletecollection"}
    assert verbs(roles["edit"], "tuneexperiments/status") == set()  # the operator's to write


def test_aggregated_roles_are_per_release_and_can_be_left_out() -> None:
    names = {r["metadata"]["name"] for r in aggregated(render("cluster-wide")).values()}
    assert names == {"tune-kubetune-view", "tune-kubetune-edit"}  # two releases never fight over one name
    assert aggregated(render("defaults", sets=["rbac.aggregateClusterRoles=false"])) == {}
