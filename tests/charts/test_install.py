"""``make deploy`` and ``make undeploy``, the real targets, end to end on a real API server (``tests/cluster``):
every ci scenario installs, upgrades and uninstalls cleanly, and a bad input fails before anything is installed.

What the tests' API server lacks, and how this test stands in for it:

* No machine here reaches KubeRay's chart repository: ``KUBERAY_INSTALL=false`` skips the KubeRay operator chart
  (and only that), and ``KUBERAY_CRDS`` hands ``make deploy`` KubeRay's own CRDs with their CEL rules stripped
  (a 1.20 server refuses ``x-kubernetes-validations``; ``tests/cluster/crds.py``).
* No kubelet: a Deployment never becomes ready, so ``helm --wait`` could never succeed: ``HELM_WAIT=false``.
* Kubernetes 1.20.2 is older than the chart's ``kubeVersion: >=1.27.0-0`` (what its NetworkPolicy namespace
  selectors and pod security settings need on a real cluster, and what users get): the tests install a temporary
  copy of the chart whose ``kubeVersion`` alone is relaxed to ``>=1.20.0-0``.
* No Prometheus Operator: minimal CRDs (any ``spec``) stand in for ServiceMonitor, PodMonitor and PrometheusRule.

Everything else is real: helm renders, lints and installs, the API server validates, admits and stores every
object, and the garbage collector runs. Not on an external cluster (``E2E_KUBECONFIG``): these tests install
cluster-scoped objects, and the Prometheus Operator stand-ins would shadow a real one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster import crds
from tests.cluster.cluster import Cluster, eventually

from .conftest import CHART, REPO, SCENARIOS, helm, helm_binary, require, values_file

RELEASE = "kubetune"
#: Where `make deploy` is told KubeRay runs (no KubeRay operator runs in the tests' cluster).
KUBERAY_NAMESPACE = "kuberay-test"
#: The Prometheus Operator kinds the monitoring scenario renders, as stand-in CRDs.
MONITORING_KINDS = {"ServiceMonitor": "servicemonitors", "PodMonitor": "podmonitors",
                    "PrometheusRule": "prometheusrules"}  # fmt: skip
#: Seconds each make run took, by step, for the report at the end of the module.
TIMINGS: dict[str, list[float]] = {}


@dataclass
class Deployer:
    """Runs the Makefile's deploy targets against the tests' cluster with a relaxed copy of the chart."""

    cluster: Cluster
    chart: Path
    kuberay_crds: Path
    home: Path
    variables: dict[str, str] = field(default_factory=dict)

    def make(self, target: str, *, step: str, **variables: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "HOME": str(self.home), "KUBECONFIG": str(self.cluster.kubeconfig)}
        args = ["make", "--no-print-directory", "-C", str(REPO), target]
        args += [f"{k}={v}" for k, v in {**self.variables, **variables}.items()]
        started = time.monotonic()
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300, check=False)
        TIMINGS.setdefault(step, []).append(time.monotonic() - started)
        return done

    def deploy(self, namespace: str, *values: Path, step: str = "deploy", **variables: str) -> str:
        """``make deploy``; its output. Fails the test when make fails."""
        listed = " ".join(str(v) for v in values)
        done = self.make("deploy", step=step, NAMESPACE=namespace, VALUES=listed, **variables)
        assert done.returncode == 0, f"make deploy failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    def undeploy(self, namespace: str) -> None:
        done = self.make("undeploy", step="undeploy", NAMESPACE=namespace)
        assert done.returncode == 0, f"make undeploy failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"

    def manifest(self, namespace: str) -> list[dict[str, Any]]:
        """What Helm installed for the release (``helm get manifest``)."""
        env = {**os.environ, "HOME": str(self.home), "KUBECONFIG": str(self.cluster.kubeconfig)}
        binary = require(helm_binary(), "helm")
        done = subprocess.run([binary, "get", "manifest", RELEASE, "-n", namespace], capture_output=True,
                              text=True, env=env, timeout=60, check=True)  # fmt: skip
        return [d for d in yaml.safe_load_all(done.stdout) if d]

    def revision(self, namespace: str) -> int:
        env = {**os.environ, "HOME": str(self.home), "KUBECONFIG": str(self.cluster.kubeconfig)}
        binary = require(helm_binary(), "helm")
        done = subprocess.run([binary, "status", RELEASE, "-n", namespace, "-o", "json"], capture_output=True,
                              text=True, env=env, timeout=60, check=True)  # fmt: skip
        return int(json.loads(done.stdout)["version"])


def monitoring_crds() -> list[dict[str, Any]]:
    """Stand-ins for the Prometheus Operator's CRDs: the kinds exist, any spec is stored as given."""
    docs = []
    for kind, plural in MONITORING_KINDS.items():
        schema = {"type": "object", "properties": {"spec": {"type": "object",
                                                            "x-kubernetes-preserve-unknown-fields": True}}}  # fmt: skip
        docs.append({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.monitoring.coreos.com"},
            "spec": {
                "group": "monitoring.coreos.com",
                "scope": "Namespaced",
                "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
                "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}],
            },
        })  # fmt: skip
    return docs


@pytest.fixture(scope="module")
def deployer(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployer]:
    if cluster.external:
        pytest.skip("installs cluster-scoped objects and Prometheus Operator stand-ins: not on an external cluster")
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    helm_path = require(helm_binary(), "helm")
    tmp = tmp_path_factory.mktemp("install")
    chart = tmp / "kubetune"
    shutil.copytree(CHART, chart)
    # The tests' API server is 1.20.2; the chart asks users for >= 1.27 (see the module docstring). Relaxed here,
    # in this copy only: every template, value and CRD is the real chart's.
    chart_yaml = chart / "Chart.yaml"
    text = chart_yaml.read_text()
    assert 'kubeVersion: ">=1.27.0-0"' in text
    chart_yaml.write_text(text.replace('kubeVersion: ">=1.27.0-0"', 'kubeVersion: ">=1.20.0-0"'))
    kuberay_crds = tmp / "kuberay-crds"
    kuberay_crds.mkdir()
    for doc in crds.kuberay_crds(cluster.version):  # JSON is YAML, and 2.3 MB of it dumps 50 times faster
        (kuberay_crds / f"{doc['metadata']['name']}.yaml").write_text(json.dumps(doc))
    cluster.apply(monitoring_crds())
    for plural in MONITORING_KINDS.values():
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{plural}.monitoring.coreos.com", "--timeout=60s")
    home = tmp / "home"
    home.mkdir()
    variables = {
        "HELM": helm_path,
        "CHART": str(chart),
        "RELEASE": RELEASE,
        "KUBERAY_INSTALL": "false",  # the one step skipped: the KubeRay operator chart (no network)
        "KUBERAY_NAMESPACE": KUBERAY_NAMESPACE,
        "HELM_WAIT": "false",  # no kubelet: nothing would ever become ready
    }
    yield Deployer(cluster, chart, kuberay_crds, home, variables)
    if TIMINGS:
        summary = ", ".join(f"{step} {sum(s) / len(s):.1f} s x{len(s)}" for step, s in sorted(TIMINGS.items()))
        print(f"\nmake deploy/undeploy on the tests' API server (mean per run): {summary}")


# --- what a scenario installs -------------------------------------------------------------------------------------


def namespaced_overrides(scenario: str, release_ns: str, fresh: Callable[[str], str]) -> dict[str, Any]:
    """The scenario's namespaces, each mapped to a fresh one (its release namespace `kubetune` to ``release_ns``),
    so scenarios never share a namespace; the rest of the ci file applies as it is."""
    path = values_file(scenario)
    values = (yaml.safe_load(path.read_text()) if path else None) or {}
    overrides: dict[str, Any] = {}
    watched = values.get("operator", {}).get("watchNamespaces") or []
    if watched and "*" not in watched:
        mapped = [release_ns if ns == "kubetune" else fresh(ns) for ns in watched]
        overrides["operator"] = {"watchNamespaces": mapped}
    if values.get("monitoring", {}).get("dashboards", {}).get("namespace"):
        overrides["monitoring"] = {"dashboards": {"namespace": fresh("dashboards")}}
    return overrides


def identity(doc: dict[str, Any]) -> tuple[str, str, str]:
    return doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"]


def existing(cluster: Cluster, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Which of ``docs`` exist in the cluster (``kubectl get -f``)."""
    text = yaml.safe_dump_all(docs)
    done = cluster.kubectl("get", "-f", "-", "--ignore-not-found", "-o", "json", input=text)
    if not done.stdout.strip():
        return []
    found = json.loads(done.stdout)
    items: list[dict[str, Any]] = found.get("items", [found]) if found.get("kind") == "List" else [found]
    return items


def kept_on_uninstall(doc: dict[str, Any]) -> bool:
    return (doc["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") == "keep"


def labelled_leftovers(cluster: Cluster, kinds: set[str], namespaces: set[str], release_ns: str) -> list[str]:
    """Objects of the chart's kinds labelled with the release in the scenario's namespaces, and cluster-scoped
    RBAC of this release (named after its namespace)."""
    found = []
    selector = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/part-of=kubetune"
    namespaced = sorted(kinds - {"ClusterRole", "ClusterRoleBinding"})
    for ns in sorted(namespaces):
        done = cluster.kubectl("get", ",".join(namespaced), "-n", ns, "-l", selector, "-o", "name")
        found += [f"{ns}/{line}" for line in done.stdout.split() if line]
    done = cluster.kubectl("get", "clusterroles,clusterrolebindings", "-l", selector, "-o", "name")
    found += [line for line in done.stdout.split() if release_ns in line]
    return found


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_make_deploy_installs_the_scenario_and_make_undeploy_leaves_nothing_behind(
    scenario: str, deployer: Deployer, cluster: Cluster, namespaces: Callable[[str], str], tmp_path: Path
) -> None:
    release_ns = namespaces("deploy")
    made = {release_ns}

    def fresh(prefix: str) -> str:
        name = namespaces(prefix)
        made.add(name)
        return name

    overrides = namespaced_overrides(scenario, release_ns, fresh)
    files = [f for f in (values_file(scenario),) if f is not None]
    if overrides:
        (tmp_path / "namespaces.yaml").write_text(yaml.safe_dump(overrides))
        files.append(tmp_path / "namespaces.yaml")
    if scenario == "existing-secret":  # managed outside the chart: there before, still there after
        cluster.kubectl("create", "secret", "generic", "kubetune-ingest-token", "-n", release_ns,
                        "--from-literal=ingest-token=from-elsewhere")  # fmt: skip
        cluster.kubectl("create", "serviceaccount", "kubetune-operator", "-n", release_ns)

    deployer.deploy(release_ns, *files)

    # Everything the chart renders for these values was installed, and nothing else.
    installed = deployer.manifest(release_ns)
    args = ["template", RELEASE, str(deployer.chart), "--namespace", release_ns, "--kube-version", "1.20.2"]
    for f in files:
        args += ["--values", str(f)]
    rendered = [d for d in yaml.safe_load_all(helm(*args).stdout) if d]
    assert sorted(map(identity, installed)) == sorted(map(identity, rendered))
    assert sorted(map(identity, existing(cluster, installed))) == sorted(map(identity, installed))

    # A VALUES file that names the KubeRay namespace wins over KUBERAY_NAMESPACE.
    values = yaml.safe_load(files[0].read_text()) if files else None
    expected_kuberay = ((values or {}).get("networkPolicy") or {}).get("kuberayNamespace", KUBERAY_NAMESPACE)
    for policy in (d for d in installed if d["kind"] == "NetworkPolicy" and d["metadata"]["name"].endswith("-ray")):
        peers = [p for rule in policy["spec"]["ingress"] for p in rule.get("from", [])]
        kuberay = [p["namespaceSelector"]["matchLabels"].get("kubernetes.io/metadata.name") for p in peers
                   if p.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
                   == "kuberay-operator"]  # fmt: skip
        assert kuberay == [expected_kuberay]

    deployer.undeploy(release_ns)

    def nothing_left() -> None:
        left = existing(cluster, installed)
        assert [identity(d) for d in left if not kept_on_uninstall(d)] == []
        assert all(d["kind"] == "PersistentVolumeClaim" for d in left)  # the claims keep the checkpoints

    eventually(nothing_left, timeout=30)
    kinds = {d["kind"] for d in installed}
    leftovers = labelled_leftovers(cluster, kinds, made, release_ns)
    assert [x for x in leftovers if "persistentvolumeclaim" not in x] == []
    if scenario == "existing-secret":
        cluster.kubectl("get", "secret/kubetune-ingest-token", "serviceaccount/kubetune-operator", "-n", release_ns)


# --- upgrades -----------------------------------------------------------------------------------------------------


def config_of(cluster: Cluster, namespace: str) -> dict[str, Any]:
    done = cluster.kubectl("get", f"configmap/{RELEASE}-config", "-n", namespace, "-o", "json")
    config: dict[str, Any] = yaml.safe_load(json.loads(done.stdout)["data"]["config.yaml"])
    return config


def pod_template(cluster: Cluster, namespace: str) -> dict[str, Any]:
    done = cluster.kubectl("get", f"deployment/{RELEASE}", "-n", namespace, "-o", "json")
    template: dict[str, Any] = json.loads(done.stdout)["spec"]["template"]
    return template


def token(cluster: Cluster, namespace: str) -> str:
    return cluster.secret_value(namespace, f"{RELEASE}-ingest", "token")


def test_deploying_again_upgrades_in_place_and_a_changed_value_lands(
    deployer: Deployer, cluster: Cluster, namespaces: Callable[[str], str], tmp_path: Path
) -> None:
    ns = namespaces("upgrade")
    default = CHART / "ci" / "default-values.yaml"
    out = deployer.deploy(ns, default, step="deploy (first)", KUBERAY_CRDS=str(deployer.kuberay_crds))
    assert f"==> KubeRay CRDs from {deployer.kuberay_crds}" in out
    first_token, first = token(cluster, ns), pod_template(cluster, ns)
    assert config_of(cluster, ns)["rayjob"]["backoffLimit"] == 2

    deployer.deploy(ns, default, step="deploy (again, unchanged)")
    assert deployer.revision(ns) == 2
    assert token(cluster, ns) == first_token  # generated once, kept by every upgrade
    assert pod_template(cluster, ns)["metadata"]["annotations"] == first["metadata"]["annotations"]

    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump({"rayJobs": {"backoffLimit": 5}, "operator": {"podLabels": {"tier": "ml"}},
                                       "networkPolicy": {"kuberayNamespace": "ray-elsewhere"}}))  # fmt: skip
    deployer.deploy(ns, default, changed, step="deploy (upgrade, changed values)")
    assert deployer.revision(ns) == 3
    assert config_of(cluster, ns)["rayjob"]["backoffLimit"] == 5
    template = pod_template(cluster, ns)
    assert template["metadata"]["labels"]["tier"] == "ml"
    assert template["metadata"]["annotations"]["checksum/config"] != first["metadata"]["annotations"]["checksum/config"]
    assert token(cluster, ns) == first_token
    policy = json.loads(cluster.kubectl("get", f"networkpolicy/{RELEASE}-ray", "-n", ns, "-o", "json").stdout)
    assert "ray-elsewhere" in json.dumps(policy["spec"]["ingress"])  # VALUES wins over KUBERAY_NAMESPACE
    assert KUBERAY_NAMESPACE not in json.dumps(policy["spec"]["ingress"])

    deployer.undeploy(ns)
    done = cluster.kubectl("get", "all,configmaps,secrets,networkpolicies,roles,rolebindings,serviceaccounts",
                           "-n", ns, "-l", f"app.kubernetes.io/instance={RELEASE}", "-o", "name")  # fmt: skip
    assert done.stdout.split() == []


# --- the high-availability defaults --------------------------------------------------------------------------------


def test_the_high_availability_defaults_install_with_their_lease_role_and_disruption_budget(
    deployer: Deployer, cluster: Cluster, namespaces: Callable[[str], str]
) -> None:
    """Two replicas electing a leader, as `make deploy` installs them by default: the API server accepts the
    rolling Deployment, the PodDisruptionBudget (policy/v1beta1 on this 1.20 server, v1 from 1.21) and the Lease
    Role, and the ServiceAccount may then use its Lease in the release namespace and nowhere else."""
    ns, elsewhere = namespaces("ha"), namespaces("other")
    deployer.deploy(ns, CHART / "ci" / "default-values.yaml", step="deploy (HA defaults)")

    deployment = json.loads(cluster.kubectl("get", f"deployment/{RELEASE}", "-n", ns, "-o", "json").stdout)
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert {"POD_NAME", "POD_IP"} <= {e["name"] for e in container["env"]}
    budget = json.loads(cluster.kubectl("get", f"poddisruptionbudget/{RELEASE}", "-n", ns, "-o", "json").stdout)
    assert budget["spec"]["minAvailable"] == 1
    leader = config_of(cluster, ns)["leader"]
    assert (leader["enabled"], leader["leaseName"]) == (True, f"{RELEASE}-operator")

    account = f"system:serviceaccount:{ns}:{RELEASE}"

    def may(verb: str, namespace: str) -> bool:
        done = cluster.kubectl("auth", "can-i", verb, "leases.coordination.k8s.io", "-n", namespace, "--as", account,
                               check=False)  # fmt: skip
        return done.stdout.strip() == "yes"

    assert [may(verb, ns) for verb in ("get", "create", "update", "delete", "list")] == [True, True, True, False, False]
    assert not may("update", elsewhere)

    deployer.undeploy(ns)
    assert cluster.kubectl("get", "poddisruptionbudgets,roles", "-n", ns, "-l", f"app.kubernetes.io/instance={RELEASE}",
                           "-o", "name").stdout.split() == []  # fmt: skip


# --- nothing is installed before every input is checked ------------------------------------------------------------


@dataclass(frozen=True)
class BadInput:
    name: str
    values: dict[str, Any]
    says: tuple[str, ...]


BAD_INPUTS = [
    BadInput("schema", {"operator": {"replica": 1}}, ("/operator", "replica")),
    BadInput("pool-bounds", {"ray": {"gpuPools": {"gpu": {"minReplicas": 9}}}}, ("ray.gpuPools.gpu", "minReplicas")),
    BadInput("unknown-default-pool", {"ray": {"defaultGpuPool": "h100"}}, ("ray.defaultGpuPool",)),
]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda c: c.name)
def test_a_bad_values_file_fails_before_kuberay_or_anything_is_touched(
    case: BadInput, deployer: Deployer, cluster: Cluster, namespaces: Callable[[str], str], tmp_path: Path
) -> None:
    ns = namespaces("bad")
    bad = tmp_path / "bad-values.yaml"
    bad.write_text(yaml.safe_dump(case.values))
    # KUBERAY_INSTALL=true: had the values been checked after KubeRay, make would try to pull its chart first.
    done = deployer.make("deploy", step="deploy (refused)", NAMESPACE=ns, VALUES=str(bad), KUBERAY_INSTALL="true")
    assert done.returncode != 0
    for fragment in case.says:
        assert fragment in done.stderr, done.stderr
    assert "nothing was installed" in done.stderr
    assert "==> KubeRay" not in done.stdout
    assert "==> kubetune" not in done.stdout
    assert cluster.kubectl("get", "namespace", KUBERAY_NAMESPACE, check=False).returncode != 0
    assert cluster.kubectl("get", "secrets", "-n", ns, "-l", "owner=helm", "-o", "name").stdout.split() == []


def test_a_chart_rendering_an_api_the_cluster_does_not_serve_fails_before_anything_is_installed(
    deployer: Deployer, cluster: Cluster, namespaces: Callable[[str], str], tmp_path: Path
) -> None:
    """As the monitoring values would on a cluster without the Prometheus Operator."""
    chart = tmp_path / "kubetune"
    shutil.copytree(deployer.chart, chart)
    widget = {"apiVersion": "widgets.example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    (chart / "templates" / "widget.yaml").write_text(yaml.safe_dump(widget))
    ns = namespaces("unserved")
    done = deployer.make("deploy", step="deploy (refused)", NAMESPACE=ns, CHART=str(chart))
    assert done.returncode != 0
    assert "does not serve: widgets.example.com/v1" in done.stderr
    assert "==> kubetune" not in done.stdout
    assert cluster.kubectl("get", "secrets", "-n", ns, "-l", "owner=helm", "-o", "name").stdout.split() == []


def test_without_kuberay_install_the_plan_says_kuberay_is_left_alone(deployer: Deployer) -> None:
    done = deployer.make("deploy-check", step="deploy-check")
    assert done.returncode == 0, done.stderr
    assert "leave KubeRay alone (KUBERAY_INSTALL=false; KubeRay namespace kuberay-test)" in done.stdout
    assert "without waiting for readiness" in done.stdout


# --- KubeRay from a local chart -----------------------------------------------------------------------------------


STAND_IN_CRD = "standins.kuberay.example.com"


def local_kuberay_chart(directory: Path) -> Path:
    """A stand-in for the kuberay-operator chart as a mirror would hold it: a CRD in crds/ (a small one of its own:
    KubeRay's real ones come through KUBERAY_CRDS above) and one ConfigMap as its only object (its real Deployment
    could never become ready here, and nothing may pull images)."""
    chart = directory / "kuberay-operator"
    (chart / "templates").mkdir(parents=True)
    (chart / "crds").mkdir()
    crd = monitoring_crds()[0]
    crd["metadata"]["name"] = STAND_IN_CRD
    crd["spec"].update(group="kuberay.example.com", names={"kind": "StandIn", "plural": "standins"})
    (chart / "crds" / "standins.yaml").write_text(yaml.safe_dump(crd))
    meta = {"apiVersion": "v2", "name": "kuberay-operator", "version": "1.7.0", "appVersion": "v1.7.0"}
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta))
    (chart / "templates" / "stand-in.yaml").write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kuberay-operator-stand-in"}})
    )
    return chart


def test_a_local_kuberay_chart_is_installed_first_and_removed_by_undeploy(
    deployer: Deployer, cluster: Cluster, namespaces: Callable[[str], str], tmp_path: Path
) -> None:
    """KUBERAY_CHART as a directory, then as a .tgz (an air-gapped mirror): the real install path of
    KUBERAY_INSTALL=true, with its CRDs applied server-side and --skip-crds."""
    ns, kuberay_ns = namespaces("withray"), namespaces("kuberay")
    chart = local_kuberay_chart(tmp_path)
    default = CHART / "ci" / "default-values.yaml"
    local = {"KUBERAY_INSTALL": "true", "KUBERAY_NAMESPACE": kuberay_ns}
    out = deployer.deploy(ns, default, step="deploy (with a local KubeRay chart)", KUBERAY_CHART=str(chart), **local)
    assert out.index("==> KubeRay operator 1.7.0") < out.index("==> kubetune chart")
    cluster.kubectl("get", "configmap/kuberay-operator-stand-in", "-n", kuberay_ns)
    cluster.kubectl("get", "crd", STAND_IN_CRD)  # its crds/, applied server-side (Helm skipped them)
    packaged = helm("package", str(chart), "--destination", str(tmp_path)).stdout.strip().rsplit(" ", 1)[-1]
    deployer.deploy(ns, default, step="deploy (with a local KubeRay chart)", KUBERAY_CHART=packaged, **local)
    policy = json.loads(cluster.kubectl("get", f"networkpolicy/{RELEASE}-ray", "-n", ns, "-o", "json").stdout)
    assert kuberay_ns in json.dumps(policy["spec"]["ingress"])

    done = deployer.make("undeploy", step="undeploy", NAMESPACE=ns, **local)
    assert done.returncode == 0, done.stderr
    stand_in = ["get", "configmap/kuberay-operator-stand-in", "-n", kuberay_ns, "--ignore-not-found", "-o", "name"]
    eventually(lambda: cluster.kubectl(*stand_in).stdout == "", timeout=30)  # the KubeRay release is gone
    cluster.kubectl("get", "crd", STAND_IN_CRD)  # CRDs stay: deleting one deletes every object of its kind
    cluster.kubectl("delete", "crd", STAND_IN_CRD)


def test_a_second_kuberay_operator_is_refused_before_anything_is_installed(
    deployer: Deployer, cluster: Cluster, namespaces: Callable[[str], str], tmp_path: Path
) -> None:
    running = namespaces("ray-system")
    operator = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "kuberay-operator", "namespace": running,
                     "labels": {"app.kubernetes.io/name": "kuberay-operator"}},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "kuberay-operator"}},
            "template": {"metadata": {"labels": {"app.kubernetes.io/name": "kuberay-operator"}},
                         "spec": {"containers": [{"name": "operator", "image": "quay.io/kuberay/operator:v1.7.0"}]}},
        },
    }  # fmt: skip
    cluster.apply([operator])
    try:
        ns = namespaces("second")
        chart = local_kuberay_chart(tmp_path)
        done = deployer.make("deploy", step="deploy (refused)", NAMESPACE=ns, KUBERAY_INSTALL="true",
                             KUBERAY_CHART=str(chart))  # fmt: skip
        assert done.returncode != 0
        assert f"a KubeRay operator already runs in namespace {running}" in done.stderr
        assert f"KUBERAY_INSTALL=false KUBERAY_NAMESPACE={running}" in done.stderr
        assert "==> KubeRay" not in done.stdout
        # Pointed at it, make deploy leaves it alone and installs kubetune.
        deployer.deploy(ns, step="deploy", KUBERAY_NAMESPACE=running)
        deployer.undeploy(ns)
    finally:
        cluster.kubectl("delete", "deployment", "kuberay-operator", "-n", running, "--ignore-not-found")
