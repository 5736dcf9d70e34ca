"""Crashes and restarts on a real API server: the operator process killed at any point, the API server itself
restarted with etcd compacted underneath; never a second RayJob, never a lost change.

Faults a real server cannot be made to produce on demand (a 500 after committing, a hung create, a 410 at a
chosen moment) are tested on the emulator: tests/emulator/test_faults.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from kubetune_operator import Operator
from kubetune_operator.settings import ReconcileSettings, WatchSettings
from tests.cluster.cluster import Cluster, eventually
from tests.cluster.fixtures import OperatorIdentity
from tests.cluster.operator_process import OperatorProcess

from .conftest import TOKEN, Run, experiment, rayjob_names, settings, tx_status, wait_tx


def operator_process(cluster: Cluster, identity: OperatorIdentity, tmp_path: Path, *namespaces: str) -> OperatorProcess:
    return OperatorProcess(
        kubeconfig=identity.kubeconfig,
        workdir=tmp_path / "operator",
        namespace=namespaces[0],
        watch=namespaces,
        token=TOKEN,
        settings={
            "rayjob": {"defaultStoragePath": "s3://bucket/kubetune"},
            "reconcile": {"backoffSeconds": 0.1, "maxBackoffSeconds": 1},
        },
    )


def test_an_operator_process_killed_while_creating_makes_one_rayjob_per_experiment(
    cluster: Cluster, operator_identity: OperatorIdentity, home: str, ml: str, tmp_path: Path
) -> None:
    operator = operator_process(cluster, operator_identity, tmp_path, home, ml)
    expected = [f"exp-{i:02d}" for i in range(24)]
    operator.start()
    try:
        for i, name in enumerate(expected):
            cluster.create(experiment(name, ml))
            if i % 8 == 7:  # SIGKILL while creates and status writes are in flight, then a new process
                operator.kill()
                operator.start()
        eventually(lambda: rayjob_names(cluster, ml) == expected, timeout=60)
        for name in expected:
            wait_tx(cluster, ml, name, phase="Pending", rayJobName=name)
    finally:
        operator.kill()
    assert rayjob_names(cluster, ml) == expected
    for job in cluster.objects("rayjobs", ml):
        (owner,) = job["metadata"]["ownerReferences"]
        assert owner["name"] == job["metadata"]["name"]


def test_restarts_at_any_point_keep_one_rayjob_per_experiment(run_operator: Run, cluster: Cluster, ml: str) -> None:
    expected = [f"exp-{i:02d}" for i in range(30)]
    operator = run_operator()
    for i, name in enumerate(expected):
        cluster.create(experiment(name, ml))
        if i % 10 == 9:  # kill and restart while work is in flight
            operator.stop(grace_seconds=0)
            operator = run_operator()
    eventually(lambda: rayjob_names(cluster, ml) == expected, timeout=60)
    for name in expected:
        wait_tx(cluster, ml, name, phase="Pending", rayJobName=name)
    assert rayjob_names(cluster, ml) == expected


def test_a_rayjob_the_cache_has_not_seen_is_adopted_on_409(
    run_operator: Run, cluster: Cluster, ml: str, home: str, operator_identity: OperatorIdentity
) -> None:
    """A restart where the create races the RayJob watch: AlreadyExists, owned by this experiment, adopted."""
    run_operator()
    cluster.create(experiment("exp", ml))
    wait_tx(cluster, ml, "exp", phase="Pending", rayJobName="exp")
    fresh = Operator(
        settings=settings(namespace=home, watch=WatchSettings(namespaces=(home, ml))),
        api_client=cluster.new_client(operator_identity.kubeconfig),
        token=TOKEN,
    )  # not started
    obj = cluster.get(ml, "exp")
    obj["status"] = {}  # as if the first operator died before writing the status
    fresh.experiments.put(obj)
    user = f"system:serviceaccount:{operator_identity.namespace}:{operator_identity.service_account}"
    before = len(cluster.writes(user=user, namespace=ml))
    assert fresh.reconciler.reconcile((ml, "exp")).phase == "Pending"
    creates = [(w.verb, w.resource, w.code) for w in cluster.writes(user=user, namespace=ml)[before:]]
    assert creates[0] == ("create", "rayjobs", 409)  # tried, got 409, read it back, adopted it
    assert ("create", "rayjobs", 201) not in creates
    assert rayjob_names(cluster, ml) == ["exp"]


def test_an_experiment_deleted_while_the_operator_was_down_leaves_nothing_behind(
    run_operator: Run, cluster: Cluster, ml: str
) -> None:
    operator = run_operator()
    cluster.create(experiment("exp", ml))
    cluster.create(experiment("kept", ml))
    eventually(lambda: rayjob_names(cluster, ml) == ["exp", "kept"])
    operator.stop()
    cluster.custom.delete_namespaced_custom_object("kubetune.io", "v1alpha1", ml, "tuneexperiments", "exp")
    run_operator()
    wait_tx(cluster, ml, "kept", phase="Pending")
    eventually(lambda: rayjob_names(cluster, ml) == ["kept"], timeout=30)  # the garbage collector's work


def test_an_api_server_restart_over_a_compacted_etcd_loses_no_change(
    run_operator: Run, cluster: Cluster, ml: str
) -> None:
    if cluster.control_plane is None:
        pytest.skip("restarts the test control plane's API server")
    registry = CollectorRegistry()
    # A slow retry: the watches stay away while the test writes, so they come back to a changed world.
    operator = run_operator(
        registry=registry, reconcile=ReconcileSettings(workers=4, backoff_seconds=3, max_backoff_seconds=3)
    )
    cluster.create(experiment("before", ml))
    wait_tx(cluster, ml, "before", phase="Pending", rayJobName="before")
    errors = registry.get_sample_value("kubetune_operator_watch_errors_total") or 0

    cluster.control_plane.restart_apiserver(compact=True)
    cluster.create(experiment("after", ml))
    cluster.custom.delete_namespaced_custom_object("kubetune.io", "v1alpha1", ml, "tuneexperiments", "before")

    st = wait_tx(cluster, ml, "after", phase="Pending", rayJobName="after", timeout=60)
    assert st["observedGeneration"] == 1
    eventually(lambda: rayjob_names(cluster, ml) == ["after"], timeout=60)
    eventually(lambda: (ml, "before") not in operator.experiments.keys(), timeout=30)  # noqa: SIM118
    assert (registry.get_sample_value("kubetune_operator_watch_errors_total") or 0) > errors
    assert tx_status(cluster, ml, "after")["rayJobName"] == "after"
