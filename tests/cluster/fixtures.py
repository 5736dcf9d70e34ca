"""pytest fixtures for everything that touches Kubernetes (a plugin of tests/conftest.py).

* ``cluster`` (session): the real control plane, started once on first use and stopped after the run, with
  KubeRay's and kubetune's CRDs installed; or, when ``E2E_KUBECONFIG`` names one, that cluster as it is (KubeRay
  and the CRDs must be installed there: ``make deploy``).
* ``namespaces`` (test): ``namespaces("ml")`` makes a fresh namespace, deleted after the test.
* ``operator_identity`` (session): the operator's ServiceAccount with exactly the RBAC the chart renders for an
  operator that watches every namespace, and a kubeconfig holding its token: the operator under test can do
  what the chart lets it do, no more (a missing verb is a 403 in a test).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from tests.cluster import crds
from tests.cluster.cluster import Cluster, env_kubeconfig, eventually
from tests.cluster.controlplane import ControlPlane, ControlPlaneError, find_binaries

REPO = Path(__file__).resolve().parents[2]
#: The operator's namespace and release name when the tests install its identity.
OPERATOR_NAMESPACE = "kubetune-system"
RELEASE = "kubetune"


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("cluster")
    external = env_kubeconfig()
    if external is not None:
        yield Cluster(kubeconfig=external, workdir=workdir)
        return
    try:
        bin_dir = find_binaries()
    except ControlPlaneError as e:
        if os.environ.get("KUBETUNE_REQUIRE_CONTROL_PLANE"):
            raise
        pytest.skip(f"no control plane: {e} (`make control-plane` builds one)")
    plane = ControlPlane(bin_dir=bin_dir, workdir=workdir / "control-plane")
    plane.start()
    try:
        found = Cluster(kubeconfig=plane.kubeconfig, control_plane=plane, workdir=workdir)
        install_crds(found)
        yield found
    finally:
        plane.stop()


def install_crds(cluster: Cluster) -> None:
    """KubeRay's CRDs (CEL rules stripped for a server older than 1.25) and kubetune's, server-side."""
    docs = [*crds.kuberay_crds(cluster.version), *crds.kubetune_crds()]
    cluster.apply(docs)
    api = client.ApiextensionsV1Api(cluster.api_client())

    def established() -> bool:
        for doc in docs:
            found = api.read_custom_resource_definition(doc["metadata"]["name"])
            conditions = {c.type: c.status for c in ((found.status and found.status.conditions) or [])}
            assert conditions.get("Established") == "True", (doc["metadata"]["name"], conditions)
        return True

    eventually(established, timeout=60)


@pytest.fixture
def namespaces(cluster: Cluster) -> Iterator[Callable[[str], str]]:
    made: list[str] = []

    def make(prefix: str) -> str:
        name = cluster.create_namespace(prefix)
        made.append(name)
        return name

    yield make
    for name in made:
        cluster.delete_namespace(name)


@dataclass(frozen=True)
class OperatorIdentity:
    namespace: str
    service_account: str
    kubeconfig: Path


def chart_objects(*sets: str, namespace: str = OPERATOR_NAMESPACE) -> list[dict[str, object]]:
    """``helm template`` of the real chart (values by ``--set``)."""
    from tests.charts.conftest import helm

    args = [
        "template",
        RELEASE,
        str(REPO / "charts" / "kubetune"),
        "--namespace",
        namespace,
        "--kube-version",
        "1.27.0",
    ]
    for item in sets:
        args += ["--set", item]
    return [d for d in yaml.safe_load_all(helm(*args).stdout) if d]


@pytest.fixture(scope="session")
def operator_identity(cluster: Cluster) -> OperatorIdentity:
    """The chart's ServiceAccount, ClusterRole and ClusterRoleBinding (``operator.watchNamespaces={*}``), and its
    Roles in the release namespace (the leader election's Lease)."""
    if cluster.external:
        pytest.skip("the operator's identity is installed by `make deploy` on an external cluster")
    objects = chart_objects("operator.watchNamespaces={*}")
    kinds = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    rbac = [o for o in objects if o["kind"] in kinds]
    assert {"ServiceAccount", "ClusterRole", "ClusterRoleBinding"} <= {o["kind"] for o in rbac}, (
        "the chart renders no cluster-wide RBAC for watchNamespaces=*"
    )
    cluster.kubectl("create", "namespace", OPERATOR_NAMESPACE)
    cluster.apply(rbac)
    account = next(o for o in rbac if o["kind"] == "ServiceAccount")["metadata"]["name"]  # type: ignore[index]
    return OperatorIdentity(
        OPERATOR_NAMESPACE, str(account), cluster.service_account_kubeconfig(OPERATOR_NAMESPACE, str(account))
    )
