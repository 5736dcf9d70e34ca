"""Fixtures for the chart tests: the real ``helm`` (``make helm`` puts a pinned one in ``./bin``) rendering
``charts/kubetune`` for its defaults and every ``ci/*-values.yaml`` scenario.

Renders are cached per (scenario, extra flags): helm is fast (~0.1 s), but several modules read the same ones.
"""

from __future__ import annotations

import functools
import ipaddress
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "kubetune"
RELEASE = "kubetune"
NAMESPACE = "kubetune"
#: The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and a current one: objects must be valid on both.
KUBE_VERSIONS = ("1.27.0", "1.35.0")
#: APIs of the cluster extras the chart can target (Prometheus Operator, KubeRay), so capability checks pass.
API_VERSIONS = ("monitoring.coreos.com/v1", "ray.io/v1")
#: ``defaults`` plus one scenario per ci values file.
SCENARIOS = ["defaults", *sorted(p.name.removesuffix("-values.yaml") for p in (CHART / "ci").glob("*-values.yaml"))]
#: Kinds rendered as custom resources: never sent to kubernetes-validate (it has no schema for them).
CUSTOM_KINDS = {
    ("ray.io/v1", "RayCluster"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}


def helm_binary() -> str | None:
    local = REPO / "bin" / "helm"
    return str(local) if local.is_file() else shutil.which("helm")


def tool(name: str) -> str | None:
    """A tool installed into the venv by ``make chart-tools`` (or on PATH)."""
    beside_python = Path(sys.executable).parent / name
    return str(beside_python) if beside_python.exists() else shutil.which(name)


def require(path: str | None, name: str) -> str:
    if path is None:
        pytest.skip(f"{name} is not installed (`make tools` installs it)")
    return path


def values_file(scenario: str) -> Path | None:
    return None if scenario == "defaults" else CHART / "ci" / f"{scenario}-values.yaml"


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    binary = require(helm_binary(), "helm")
    done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done


def template_args(
    scenario: str, *, sets: Sequence[str] = (), kube_version: str = KUBE_VERSIONS[0], show_crds: bool = False
) -> list[str]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", kube_version]
    for api in API_VERSIONS:
        args += ["--api-versions", api]
    values = values_file(scenario)
    if values is not None:
        args += ["--values", str(values)]
    for item in sets:
        args += ["--set", item]
    if show_crds:
        args.append("--include-crds")
    return args


@functools.cache
def _render(scenario: str, sets: tuple[str, ...], kube_version: str) -> str:
    return helm(*template_args(scenario, sets=sets, kube_version=kube_version)).stdout


def render_text(scenario: str, *, sets: Sequence[str] = (), kube_version: str = KUBE_VERSIONS[0]) -> str:
    return _render(scenario, tuple(sets), kube_version)


def render(scenario: str, *, sets: Sequence[str] = (), kube_version: str = KUBE_VERSIONS[0]) -> list[dict[str, Any]]:
    """The rendered objects (fresh copies: tests may change them)."""
    text = render_text(scenario, sets=sets, kube_version=kube_version)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {[o['metadata']['name'] for o in found]}"
    return found[0]


@dataclass(frozen=True)
class RayPod:
    """A Ray pod template of a rendered RayCluster, named ``<cluster>/<group>``."""

    name: str
    template: dict[str, Any]


def ray_pods(objects: list[dict[str, Any]]) -> list[RayPod]:
    pods = []
    for cluster in find(objects, "RayCluster"):
        spec, name = cluster["spec"], cluster["metadata"]["name"]
        pods.append(RayPod(f"{name}/head", spec["headGroupSpec"]["template"]))
        pods += [RayPod(f"{name}/{g['groupName']}", g["template"]) for g in spec.get("workerGroupSpecs", [])]
    return pods


def as_pod(pod: RayPod, namespace: str = NAMESPACE) -> dict[str, Any]:
    """A Ray pod template wrapped as a Pod, so scanners that skip custom resources check its spec."""
    name = "raypod-" + pod.name.replace("/", "-")
    metadata = {**pod.template.get("metadata", {}), "name": name, "namespace": namespace}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod.template["spec"]}


# --- label selectors and NetworkPolicies, as the API server and a CNI read them ---------------------------------


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a label selector (``matchLabels`` and ``matchExpressions``) selects an object with ``labels``."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        matched = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not matched:
            return False
    return True


def namespace_labels(name: str) -> dict[str, str]:
    """The labels every namespace carries from Kubernetes 1.22 on."""
    return {"kubernetes.io/metadata.name": name}


def _port_matches(ports: list[dict[str, Any]] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    return any(p.get("protocol", "TCP") == protocol and p.get("port") in (None, port) for p in ports)


def admits(
    policy: dict[str, Any], *, namespace: str, labels: Mapping[str, str], port: int, protocol: str = "TCP"
) -> bool:
    """Whether ``policy``'s ingress rules let a pod with ``labels`` in ``namespace`` in on ``port``."""
    here = policy["metadata"]["namespace"]
    for rule in policy["spec"].get("ingress") or []:
        if not _port_matches(rule.get("ports"), port, protocol):
            continue
        peers = rule.get("from")
        if not peers:
            return True
        for peer in peers:
            if "ipBlock" in peer:
                continue
            ns_selector, pod_selector = peer.get("namespaceSelector"), peer.get("podSelector")
            ns_ok = namespace == here if ns_selector is None else selects(ns_selector, namespace_labels(namespace))
            if ns_ok and (pod_selector is None or selects(pod_selector, labels)):
                return True
    return False


def allows_egress_to(policy: dict[str, Any], address: str, *, port: int, protocol: str = "TCP") -> bool:
    """Whether ``policy``'s egress rules let its pods reach the IP ``address`` on ``port`` (ipBlock peers)."""
    ip = ipaddress.ip_address(address)
    for rule in policy["spec"].get("egress") or []:
        if not _port_matches(rule.get("ports"), port, protocol):
            continue
        for peer in rule.get("to") or []:
            block = peer.get("ipBlock")
            if block is None or ip not in ipaddress.ip_network(block["cidr"]):
                continue
            if not any(ip in ipaddress.ip_network(e) for e in block.get("except") or []):
                return True
    return False


@pytest.fixture(params=SCENARIOS)
def scenario(request: pytest.FixtureRequest) -> str:
    return str(request.param)
