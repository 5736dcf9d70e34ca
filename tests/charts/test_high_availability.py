"""Several operator replicas: what the chart renders so that they elect one leader, reach each other, spread over
nodes and survive rollouts and drains, and what it renders for a single replica (none of it).

The settings file is read back with the operator's own loader, so a key the operator does not know fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import NAMESPACE, admits, find, helm, one, render, template_args

OPERATOR_LABELS = {"app.kubernetes.io/name": "kubetune", "app.kubernetes.io/instance": "kubetune",
                   "app.kubernetes.io/component": "operator"}  # fmt: skip
SINGLE = "operator.replicas=1"


def loaded_settings(tmp_path: Path, *sets: str, scenario: str = "defaults") -> Any:
    """The rendered settings file, parsed by ``kubetune_operator.settings.load_settings`` (which rejects unknown
    keys and impossible lease timings)."""
    settings = pytest.importorskip("kubetune_operator.settings")
    (config,) = [c for c in find(render(scenario, sets=sets), "ConfigMap") if c["metadata"]["name"].endswith("-config")]
    path = tmp_path / "config.yaml"
    path.write_text(config["data"]["config.yaml"])
    return settings.load_settings(path, environ={})


def pod_spec(*sets: str, scenario: str = "defaults") -> dict[str, Any]:
    spec: dict[str, Any] = one(render(scenario, sets=sets), "Deployment")["spec"]["template"]["spec"]
    return spec


def test_the_defaults_run_two_replicas_that_elect_a_leader_on_a_lease_of_the_release(tmp_path: Path) -> None:
    assert one(render("defaults"), "Deployment")["spec"]["replicas"] == 2
    leader = loaded_settings(tmp_path).leader
    assert leader.enabled is True
    assert leader.lease_name == "kubetune-operator"
    assert leader.lease_namespace == ""  # the operator's namespace, the release's
    assert (leader.lease_duration_seconds, leader.renew_deadline_seconds, leader.retry_period_seconds) == (15, 10, 0.25)
    assert (leader.identity, leader.advertise_url) == ("", "")  # from POD_NAME and POD_IP, below
    env = {e["name"]: e for e in pod_spec()["containers"][0]["env"]}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}


def test_lease_timings_and_leases_of_two_releases_stay_apart(tmp_path: Path) -> None:
    timed = ("operator.leaderElection.leaseDurationSeconds=8", "operator.leaderElection.renewDeadlineSeconds=6",
             "operator.leaderElection.retryPeriodSeconds=1")  # fmt: skip
    leader = loaded_settings(tmp_path, *timed).leader
    assert (leader.lease_duration_seconds, leader.renew_deadline_seconds, leader.retry_period_seconds) == (8, 6, 1)
    assert loaded_settings(tmp_path, "fullnameOverride=tune").leader.lease_name == "tune-operator"


def test_a_single_replica_elects_no_leader_and_rolls_out_by_recreating(tmp_path: Path) -> None:
    assert loaded_settings(tmp_path, SINGLE).leader.enabled is False
    objects = render("defaults", sets=[SINGLE])
    assert one(objects, "Deployment")["spec"]["strategy"] == {"type": "Recreate"}
    assert find(objects, "PodDisruptionBudget") == []
    assert "podAntiAffinity" not in pod_spec(SINGLE).get("affinity", {})


@pytest.mark.parametrize("replicas", [0, 1, 2, 5])
def test_any_replica_count_renders_settings_the_operator_loads(replicas: int, tmp_path: Path) -> None:
    settings = loaded_settings(tmp_path, f"operator.replicas={replicas}")
    assert settings.leader.enabled is (replicas > 1)
    assert one(render("defaults", sets=[f"operator.replicas={replicas}"]), "Deployment")["spec"]["replicas"] == replicas


def test_a_rollout_starts_a_follower_before_it_stops_a_replica() -> None:
    strategy = one(render("defaults"), "Deployment")["spec"]["strategy"]
    assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def test_a_disruption_budget_keeps_one_replica_through_drains() -> None:
    objects = render("defaults")
    budget = one(objects, "PodDisruptionBudget")
    assert budget["apiVersion"] == "policy/v1"
    assert budget["spec"]["minAvailable"] == 1
    labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_replicas_prefer_different_nodes_without_requiring_them() -> None:
    (preferred,) = pod_spec()["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    term = preferred["podAffinityTerm"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == OPERATOR_LABELS
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in pod_spec()["affinity"]["podAntiAffinity"]


def test_a_users_affinity_keeps_the_spread_and_a_users_anti_affinity_replaces_it() -> None:
    placed = pod_spec(scenario="pod-overrides")["affinity"]
    assert placed["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]  # the user's
    assert placed["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]  # the chart's
    key = "operator.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]"
    strict = pod_spec(f"{key}.topologyKey=topology.kubernetes.io/zone",
                      f"{key}.labelSelector.matchLabels.app\\.kubernetes\\.io/component=operator")  # fmt: skip
    assert list(strict["affinity"]["podAntiAffinity"]) == ["requiredDuringSchedulingIgnoredDuringExecution"]


@pytest.mark.parametrize("scenario", ["defaults", "networkpolicy"])
def test_a_follower_may_forward_ingest_to_the_leaders_port(scenario: str) -> None:
    policy = one(render(scenario), "NetworkPolicy", "kubetune-operator")
    assert admits(policy, namespace=NAMESPACE, labels=OPERATOR_LABELS, port=8080)
    assert not admits(policy, namespace="elsewhere", labels=OPERATOR_LABELS, port=8080)
    single = one(render(scenario, sets=[SINGLE]), "NetworkPolicy", "kubetune-operator")
    assert not admits(single, namespace=NAMESPACE, labels=OPERATOR_LABELS, port=8080)


def test_with_egress_restricted_a_follower_may_still_reach_the_leader() -> None:
    policy = one(render("networkpolicy"), "NetworkPolicy", "kubetune-operator")

    def reaches_operators(rule: dict[str, Any]) -> bool:
        return any(peer.get("podSelector", {}).get("matchLabels") == OPERATOR_LABELS for peer in rule["to"])

    rules = [rule for rule in policy["spec"]["egress"] if reaches_operators(rule)]
    assert [r["ports"] for r in rules] == [[{"port": 8080, "protocol": "TCP"}]]
    assert all("namespaceSelector" not in peer for rule in rules for peer in rule["to"])  # its own namespace


def test_the_rate_limits_and_workers_reach_the_operator(tmp_path: Path) -> None:
    defaults = loaded_settings(tmp_path)
    assert (defaults.api.create_qps, defaults.api.status_qps, defaults.api.event_qps) == (100, 100, 20)
    assert defaults.reconcile.workers == 4
    tuned = loaded_settings(tmp_path, "operator.api.createQps=250", "operator.api.createBurst=1000",
                            "operator.api.eventQps=5", "operator.workers=8")  # fmt: skip
    assert (tuned.api.create_qps, tuned.api.create_burst, tuned.api.event_qps) == (250, 1000, 5)
    assert tuned.reconcile.workers == 8


BAD_TIMINGS = [
    ("operator.leaderElection.renewDeadlineSeconds=15", "leaseDurationSeconds (15) must be longer than renewDeadline"),
    ("operator.leaderElection.retryPeriodSeconds=10", "renewDeadlineSeconds (10) must be longer than retryPeriod"),
]


@pytest.mark.parametrize(("setting", "says"), BAD_TIMINGS, ids=["renew-deadline", "retry-period"])
def test_lease_timings_the_operator_would_refuse_fail_the_install_by_name(setting: str, says: str) -> None:
    done = helm(*template_args("defaults", sets=[setting]), check=False)
    assert done.returncode != 0
    assert "operator.leaderElection" in done.stderr
    assert says in done.stderr
    assert helm(*template_args("defaults", sets=[SINGLE, setting])).returncode == 0  # no election: not used
