"""The chart's RBAC on a real API server (``tests/cluster``): the operator works with exactly the Roles the chart
renders for its default, namespaced mode (its work in the watched namespace, and its Lease: the defaults run two
replicas that elect a leader), and namespace editors and viewers reach TuneExperiments through the ClusterRoles
the chart aggregates into Kubernetes' built-in ``edit`` and ``view``.

``tests/charts/test_rbac.py`` checks the rendered rules against the operator's code; here the API server itself
authorizes every request, so a verb the chart forgot is a 403 that the operator's log and the audit log show.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.cluster import Cluster, eventually
from tests.cluster.operator_process import OperatorProcess
from tests.conftest import experiment_doc

from .conftest import CHART, helm

RELEASE = "kubetune"


def chart(namespace: str, *sets: str) -> list[dict[str, Any]]:
    """``helm template`` of the real chart into ``namespace`` (its default values, plus ``sets``)."""
    args = ["template", RELEASE, str(CHART), "--namespace", namespace]
    for item in sets:
        args += ["--set", item]
    return [d for d in yaml.safe_load_all(helm(*args).stdout) if d]


def experiment(name: str, namespace: str) -> dict[str, Any]:
    doc = experiment_doc(name, "jobs.mnist_torch.trainable:train", storage={"path": "s3://bucket/kubetune"})
    doc["metadata"]["namespace"] = namespace  # type: ignore[index]
    return doc


def can_i(cluster: Cluster, user: str, verb: str, resource: str, namespace: str, *, subresource: str = "") -> bool:
    args = ["auth", "can-i", verb, resource, "-n", namespace, "--as", user]
    if subresource:
        args.append(f"--subresource={subresource}")
    return cluster.kubectl(*args, check=False).stdout.strip() == "yes"


# --- the operator, with the chart's Role and nothing more -----------------------------------------------------------


@pytest.fixture
def chart_operator(
    cluster: Cluster, namespaces: Callable[[str], str], tmp_path: Path
) -> Iterator[tuple[OperatorProcess, str, str]]:
    """``kubetune operator`` as the chart's ServiceAccount in a fresh release namespace, holding exactly the
    RBAC objects the chart renders by default (its work Role and its Lease Role there, with their bindings) and
    reading the chart's settings, leader election on."""
    home = namespaces("kubetune")
    objects = chart(home)
    rbac = [o for o in objects if o["kind"] in {"ServiceAccount", "Role", "RoleBinding"}]
    assert sorted(o["kind"] for o in rbac) == ["Role", "Role", "RoleBinding", "RoleBinding", "ServiceAccount"]
    assert all(o["metadata"]["namespace"] == home for o in rbac)
    cluster.apply(rbac)
    account = next(o for o in rbac if o["kind"] == "ServiceAccount")["metadata"]["name"]
    config = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-config"))
    settings = yaml.safe_load(config["data"]["config.yaml"])
    assert settings["watch"]["namespaces"] == [home]
    assert settings["leader"]["enabled"] is True  # the defaults: two replicas
    settings["leader"]["identity"] = "chart-replica"  # $POD_NAME in the chart's pod
    operator = OperatorProcess(
        kubeconfig=cluster.service_account_kubeconfig(home, account),
        workdir=tmp_path / "operator",
        namespace=home,
        watch=(home,),
        settings=settings,  # as the chart renders them; host, port and token file come from the flags
        token="chart-rbac-test-token",
    )
    operator.start()
    try:
        yield operator, home, f"system:serviceaccount:{home}:{account}"
    finally:
        operator.stop(timeout=20)


def test_the_operator_reconciles_its_namespace_with_exactly_the_charts_role(
    chart_operator: tuple[OperatorProcess, str, str], cluster: Cluster
) -> None:
    operator, home, user = chart_operator
    cluster.create(experiment("with-chart-rbac", home))

    def reconciled() -> dict[str, Any]:
        status: dict[str, Any] = cluster.get(home, "with-chart-rbac").get("status") or {}
        assert status.get("rayJobName") == "with-chart-rbac", status
        return status

    status = eventually(reconciled, timeout=60)
    assert status["phase"]
    (job,) = cluster.objects("rayjobs", home)
    assert job["metadata"]["ownerReferences"][0]["blockOwnerDeletion"] is True  # needs tuneexperiments/finalizers
    assert eventually(lambda: cluster.events(home, name="with-chart-rbac"), timeout=30)

    # Every write it made was allowed: created the RayJob and the Events, patched the status.
    if cluster.control_plane is not None:
        writes = cluster.writes(user=user)
        assert {(w.verb, w.resource, w.subresource) for w in writes} >= {
            ("create", "rayjobs", ""),
            ("patch", "tuneexperiments", "status"),
            ("create", "events", ""),
        }
        assert [w for w in writes if w.code == 403] == []
    log = operator.log.read_text()
    assert not re.search(r"\b403\b|forbidden", log, re.IGNORECASE), log[-3000:]


def test_the_operator_leads_on_its_lease_with_exactly_the_charts_lease_role(
    chart_operator: tuple[OperatorProcess, str, str], cluster: Cluster
) -> None:
    operator, home, user = chart_operator
    lease_name = f"{RELEASE}-operator"

    def leading() -> dict[str, Any]:
        done = cluster.kubectl("get", "lease", lease_name, "-n", home, "-o", "json", check=False)
        assert done.returncode == 0, done.stderr
        spec: dict[str, Any] = json.loads(done.stdout)["spec"]
        assert spec.get("holderIdentity") == "chart-replica", spec
        return spec

    first = eventually(leading, timeout=60)
    eventually(lambda: leading()["renewTime"] != first["renewTime"], timeout=30)  # it renews, too
    cluster.create(experiment("led", home))  # and reconciles as the leader
    eventually(lambda: (cluster.get(home, "led").get("status") or {}).get("rayJobName") == "led", timeout=60)

    assert can_i(cluster, user, "update", "leases.coordination.k8s.io", home)
    assert not can_i(cluster, user, "delete", "leases.coordination.k8s.io", home)
    assert not can_i(cluster, user, "update", "leases.coordination.k8s.io", "kube-system")  # nobody else's Lease
    if cluster.control_plane is not None:
        lease_writes = [w for w in cluster.writes(user=user) if w.resource == "leases"]
        assert {w.verb for w in lease_writes} == {"create", "update"}
        assert [w for w in lease_writes if w.code == 403] == []
    log = operator.log.read_text()
    assert not re.search(r"\b403\b|forbidden", log, re.IGNORECASE), log[-3000:]


def test_the_operator_does_not_watch_and_cannot_touch_a_namespace_it_was_not_given(
    chart_operator: tuple[OperatorProcess, str, str], cluster: Cluster, namespaces: Callable[[str], str]
) -> None:
    operator, home, user = chart_operator
    elsewhere = namespaces("elsewhere")
    cluster.create(experiment("not-mine", elsewhere))
    cluster.create(experiment("mine", home))  # once this one is done, the other had every chance
    eventually(lambda: (cluster.get(home, "mine").get("status") or {}).get("rayJobName") == "mine", timeout=60)

    assert cluster.objects("rayjobs", elsewhere) == []
    assert "status" not in cluster.get(elsewhere, "not-mine")
    for verb, resource in [("list", "tuneexperiments.kubetune.io"), ("create", "rayjobs.ray.io"),
                           ("create", "events"), ("get", "secrets")]:  # fmt: skip
        assert not can_i(cluster, user, verb, resource, elsewhere), (verb, resource)
        if resource != "secrets":
            assert can_i(cluster, user, verb, resource, home), (verb, resource)
    # It never even tried: no 403 in its log (a missing verb at home would show there too).
    log = operator.log.read_text()
    assert not re.search(r"\b403\b|forbidden", log, re.IGNORECASE), log[-3000:]
    assert elsewhere not in log


# --- people: namespace editors and viewers --------------------------------------------------------------------------


@pytest.fixture
def aggregated_roles(cluster: Cluster, namespaces: Callable[[str], str]) -> Iterator[list[dict[str, Any]]]:
    """The chart's aggregated ClusterRoles of a release in a fresh namespace (not applied yet), removed after."""
    if cluster.external:
        pytest.skip("would change the built-in edit/view roles of a shared cluster")
    if cluster.control_plane is not None and not cluster.control_plane.has_controller_manager:
        pytest.skip("ClusterRole aggregation needs the controller manager (not in an envtest directory)")
    release_ns = namespaces("kubetune")
    roles = [o for o in chart(release_ns) if o["kind"] == "ClusterRole"]
    names = [r["metadata"]["name"] for r in roles]
    assert names == [f"{RELEASE}-{release_ns}-view", f"{RELEASE}-{release_ns}-edit"]
    yield roles
    cluster.kubectl("delete", "clusterrole", *names, "--ignore-not-found")


def others_aggregate_tuneexperiments(cluster: Cluster) -> bool:
    """Whether ClusterRoles of another release (other tests') already put TuneExperiments into `edit`."""
    done = cluster.kubectl(
        "get", "clusterroles", "-l", "rbac.authorization.k8s.io/aggregate-to-edit=true", "-o", "yaml"
    )
    return "tuneexperiments" in done.stdout


def test_a_namespace_editor_runs_experiments_and_a_viewer_reads_them(
    aggregated_roles: list[dict[str, Any]], cluster: Cluster, namespaces: Callable[[str], str]
) -> None:
    team, other = namespaces("team"), namespaces("other")
    editor, viewer = f"editor-{team}", f"viewer-{team}"
    cluster.kubectl("create", "rolebinding", "editors", "--clusterrole=edit", f"--user={editor}", "-n", team)
    cluster.kubectl("create", "rolebinding", "viewers", "--clusterrole=view", f"--user={viewer}", "-n", team)
    if not others_aggregate_tuneexperiments(cluster):  # without the chart's roles, `edit` knows nothing of them
        assert not can_i(cluster, editor, "create", "tuneexperiments.kubetune.io", team)
    cluster.apply(aggregated_roles)
    doc = yaml.safe_dump(experiment("by-an-editor", team))

    def created() -> bool:
        done = cluster.kubectl("create", "-f", "-", "--as", editor, input=doc, check=False)
        assert done.returncode == 0, done.stderr  # until the aggregation controller copied the rules
        return True

    eventually(created, timeout=60, interval=0.5)
    assert can_i(cluster, editor, "delete", "tuneexperiments.kubetune.io", team)
    assert not can_i(
        cluster, editor, "patch", "tuneexperiments.kubetune.io", team, subresource="status"
    )  # the operator's
    assert not can_i(cluster, editor, "create", "tuneexperiments.kubetune.io", other)  # bound in `team` only

    got = cluster.kubectl("get", "tuneexperiments", "-n", team, "--as", viewer, "-o", "name")
    assert got.stdout.split() == ["tuneexperiment.kubetune.io/by-an-editor"]
    refused = cluster.kubectl("delete", "tuneexperiment", "by-an-editor", "-n", team, "--as", viewer, check=False)
    assert refused.returncode != 0
    assert "forbidden" in refused.stderr.lower()
