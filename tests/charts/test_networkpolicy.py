"""The NetworkPolicies: which pods each one isolates, who may reach them, and where they may go.

Pods are described by the labels they really carry: a Ray pod's are its template's plus the ones KubeRay adds
(``labelPod`` in KubeRay's ``controllers/ray/common/pod.go``), and the rules are read as a CNI reads them.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubetune.kube.rayjobs import build_rayjob
from kubetune.spec import load_object
from tests.conftest import experiment_doc

from .conftest import NAMESPACE, admits, allows_egress_to, find, one, ray_pods, render, selects

#: The labels KubeRay gives every Ray pod; the template's own labels are kept beside them.
KUBERAY_NOT_OVERRIDABLE = ("ray.io/node-type", "ray.io/group", "ray.io/cluster")
OPERATOR_LABELS = {"app.kubernetes.io/name": "kubetune", "app.kubernetes.io/instance": "kubetune",
                   "app.kubernetes.io/component": "operator"}  # fmt: skip
KUBERAY_OPERATOR_LABELS = {"app.kubernetes.io/name": "kuberay-operator"}
PROMETHEUS_LABELS = {"app.kubernetes.io/name": "prometheus"}


def kuberay_pod_labels(template: dict[str, Any], *, cluster: str, node_type: str, group: str) -> dict[str, str]:
    """The labels of a pod KubeRay 1.7 creates from a Ray pod template."""
    labels = {
        "ray.io/is-ray-node": "yes",
        "ray.io/cluster": cluster,
        "ray.io/node-type": node_type,
        "ray.io/group": group,
        "ray.io/identifier": f"{cluster}-{node_type}",
        "app.kubernetes.io/name": "kuberay",
        "app.kubernetes.io/created-by": "kuberay-operator",
    }
    own = (template.get("metadata") or {}).get("labels") or {}
    labels.update({k: v for k, v in own.items() if k not in KUBERAY_NOT_OVERRIDABLE})
    return labels


def operator_rayjob_pods() -> list[dict[str, str]]:
    """Head and worker pods of a RayJob the operator builds (and `kubetune render` writes)."""
    doc = experiment_doc("sweep", "jobs.mnist_torch.trainable:train", storage={"path": "s3://bucket/kubetune"})
    rayjob = build_rayjob(load_object(doc))
    spec = rayjob["spec"]["rayClusterSpec"]
    cluster = "sweep-abcde"
    pods = [kuberay_pod_labels(spec["headGroupSpec"]["template"], cluster=cluster, node_type="head", group="headgroup")]
    for group in spec["workerGroupSpecs"]:
        pods.append(
            kuberay_pod_labels(group["template"], cluster=cluster, node_type="worker", group=group["groupName"])
        )
    return pods


def chart_raycluster_pods(scenario: str) -> list[dict[str, str]]:
    found = []
    for pod in ray_pods(render(scenario)):
        cluster, group = pod.name.split("/")
        node_type = "head" if group == "head" else "worker"
        found.append(kuberay_pod_labels(pod.template, cluster=cluster, node_type=node_type, group=group))
    return found


#: Ray pods kubetune has nothing to do with: a team's own RayCluster and a RayService, in the same namespace.
UNRELATED_RAY_PODS = [
    kuberay_pod_labels(
        {"metadata": {"labels": {"team": "search"}}}, cluster="search", node_type="head", group="headgroup"
    ),
    kuberay_pod_labels({}, cluster="search", node_type="worker", group="cpu"),
    kuberay_pod_labels(
        {"metadata": {"labels": {"ray.io/serve": "true"}}}, cluster="rayservice-x", node_type="worker", group="gpu"
    ),
]


def ray_policy(objects: list[dict[str, Any]], namespace: str) -> dict[str, Any]:
    (policy,) = [
        p
        for p in find(objects, "NetworkPolicy")
        if p["metadata"]["namespace"] == namespace and p["metadata"]["name"].endswith("-ray")
    ]
    return policy


def operator_policy(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return one(objects, "NetworkPolicy", "kubetune-operator")


# --- which pods the Ray policy isolates ---------------------------------------------------------------------------


@pytest.mark.parametrize("namespace", ["kubetune", "team-a", "team-b"])
def test_the_ray_policy_isolates_the_ray_pods_of_kubetunes_rayjobs(namespace: str) -> None:
    selector = ray_policy(render("networkpolicy"), namespace)["spec"]["podSelector"]
    for labels in operator_rayjob_pods():
        assert selects(selector, labels), labels


def test_the_ray_policy_isolates_the_charts_raycluster() -> None:
    objects = render("networkpolicy")
    selector = ray_policy(objects, NAMESPACE)["spec"]["podSelector"]
    pods = chart_raycluster_pods("networkpolicy")
    assert pods
    for labels in pods:
        assert selects(selector, labels), labels


@pytest.mark.parametrize("namespace", ["kubetune", "team-a"])
def test_the_ray_policy_leaves_other_ray_clusters_and_services_alone(namespace: str) -> None:
    """Another team's RayCluster or a RayService in a watched namespace keeps its own network rules."""
    selector = ray_policy(render("networkpolicy"), namespace)["spec"]["podSelector"]
    for labels in UNRELATED_RAY_PODS:
        assert not selects(selector, labels), labels


def test_the_operator_takes_ingest_from_any_ray_pod_but_nothing_else_outside_prometheus() -> None:
    policy = operator_policy(render("networkpolicy"))
    for labels in [*operator_rayjob_pods(), *UNRELATED_RAY_PODS]:
        assert admits(policy, namespace="team-a", labels=labels, port=8080)  # the token authenticates them
    assert not admits(policy, namespace="team-a", labels={"app": "web"}, port=8080)


# --- who may reach Ray pods ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("namespace", ["team-a", "team-b"])
def test_kuberay_reaches_rays_dashboard_and_prometheus_its_metrics(namespace: str) -> None:
    policy = ray_policy(render("networkpolicy"), namespace)
    assert admits(policy, namespace="kuberay", labels=KUBERAY_OPERATOR_LABELS, port=8265)
    assert not admits(policy, namespace="kuberay", labels=KUBERAY_OPERATOR_LABELS, port=6379)
    assert admits(policy, namespace="monitoring", labels={}, port=8080)
    assert not admits(policy, namespace="monitoring", labels={}, port=8265)
    assert not admits(policy, namespace="elsewhere", labels={"app": "web"}, port=8265)


@pytest.mark.parametrize("namespace", ["team-a", "team-b"])
def test_the_kubetune_operator_has_no_way_into_rays_dashboard(namespace: str) -> None:
    """No operator code calls Ray's dashboard (KubeRay polls it), so its pods get no rule to reach 8265.
    (In the release namespace it shares the namespace-wide rule with every other pod there.)"""
    policy = ray_policy(render("networkpolicy"), namespace)
    for port in (8265, 6379, 10001, 8080):
        assert not admits(policy, namespace=NAMESPACE, labels=OPERATOR_LABELS, port=port), port


# --- where pods may go (egress) ------------------------------------------------------------------------------------

NODE_LOCAL_DNS = "169.254.20.10"


@pytest.mark.parametrize("which", ["operator", "team-a"])
def test_pods_may_ask_node_local_dns_cache(which: str) -> None:
    """NodeLocal DNSCache answers on a link-local address from the node, which no pod selector matches."""
    objects = render("networkpolicy")
    policy = operator_policy(objects) if which == "operator" else ray_policy(objects, which)
    for protocol in ("UDP", "TCP"):
        assert allows_egress_to(policy, NODE_LOCAL_DNS, port=53, protocol=protocol), protocol
    assert not allows_egress_to(policy, NODE_LOCAL_DNS, port=80)


def test_the_api_server_is_reachable_on_each_port_distributions_use() -> None:
    """443 (the `kubernetes` Service, managed clusters) and 6443 (kubeadm's endpoint, what most CNIs see after
    DNAT) by default; any list when set."""
    for policy in find(render("networkpolicy"), "NetworkPolicy"):
        for port in (443, 6443):
            assert allows_egress_to(policy, "10.96.0.1", port=port), (policy["metadata"]["name"], port)
        assert not allows_egress_to(policy, "10.96.0.1", port=8443)
    custom = render("networkpolicy", sets=["networkPolicy.egress.apiServerPorts={8443}"])
    assert allows_egress_to(operator_policy(custom), "10.96.0.1", port=8443)
    assert not allows_egress_to(operator_policy(custom), "10.96.0.1", port=443)
