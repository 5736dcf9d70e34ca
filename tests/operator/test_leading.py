"""Two operator replicas on a real API server, with leader election on a Lease and the chart's RBAC: one leads,
a killed leader is replaced without a second RayJob, and trial results sent through a Service keep flowing across
the failover and count once (the driver's cumulative figures ride on every batch)."""

from __future__ import annotations

import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from kubetune.kube.api import LEASES, KubeAPI
from kubetune.reporting.sending import BatchSender, SenderSettings
from kubetune.reporting.wire import BestResult, ExperimentEvent, ExperimentRef, ResultEvent, TrialEvent
from kubetune_operator.tokens import experiment_token
from tests.cluster.cluster import Cluster, eventually
from tests.cluster.controlplane import free_port
from tests.cluster.fixtures import OperatorIdentity
from tests.cluster.operator_process import OperatorProcess
from tests.cluster.service_standin import ServiceStandIn

from .conftest import TOKEN, experiment, rayjob_names, set_rayjob_status, wait_tx

LEASE_SECONDS = 4


def replicas(identity: OperatorIdentity, home: str, ml: str, tmp_path: Path, *, lease_seconds: float = LEASE_SECONDS,
             ) -> tuple[list[OperatorProcess], str]:  # fmt: skip
    lease = f"kubetune-{uuid.uuid4().hex[:8]}"
    made = []
    for i in range(2):
        port = free_port()
        settings = {
            "leader": {"enabled": True, "leaseName": lease, "leaseNamespace": identity.namespace,
                       "leaseDurationSeconds": lease_seconds, "renewDeadlineSeconds": lease_seconds * 0.75,
                       "retryPeriodSeconds": 0.5, "identity": f"replica-{i}",
                       "advertiseUrl": f"http://127.0.0.1:{port}"},
            "status": {"summaryIntervalSeconds": 1},
            "rayjob": {"defaultStoragePath": "s3://bucket/kubetune"},
            "reconcile": {"backoffSeconds": 0.1, "maxBackoffSeconds": 1},
        }  # fmt: skip
        made.append(OperatorProcess(kubeconfig=identity.kubeconfig, workdir=tmp_path / f"replica-{i}", namespace=home,
                                    watch=(home, ml), settings=settings, token=TOKEN, port=port))  # fmt: skip
    return made, lease


def holder(cluster: Cluster, identity: OperatorIdentity, lease: str) -> str:
    api = KubeAPI(api_client=cluster.api_client())
    found = api.get(LEASES, namespace=identity.namespace, name=lease)
    return str((found.get("spec") or {}).get("holderIdentity") or "")


def leader_gauge(replica: OperatorProcess) -> float:
    with urllib.request.urlopen(f"{replica.url}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    line = next(x for x in text.splitlines() if x.startswith("kubetune_operator_leader "))
    return float(line.split()[1])


def test_one_replica_leads_and_a_killed_leader_is_replaced_without_a_second_rayjob(
    cluster: Cluster, operator_identity: OperatorIdentity, home: str, ml: str, tmp_path: Path
) -> None:
    (a, b), lease = replicas(operator_identity, home, ml, tmp_path)
    a.start()
    b.start()
    try:
        leader_name = eventually(lambda: holder(cluster, operator_identity, lease), timeout=30)
        leader, follower = (a, b) if leader_name == "replica-0" else (b, a)
        assert (leader_gauge(leader), leader_gauge(follower)) == (1, 0)
        cluster.create(experiment("before", ml))
        wait_tx(cluster, ml, "before", phase="Pending", rayJobName="before")

        leader.kill()  # a node failure: the lease is not released, it runs out
        cluster.create(experiment("after", ml))
        eventually(lambda: holder(cluster, operator_identity, lease) != leader_name, timeout=LEASE_SECONDS + 20)
        wait_tx(cluster, ml, "after", phase="Pending", rayJobName="after", timeout=30)
        assert leader_gauge(follower) == 1
        set_rayjob_status(cluster, ml, "before", {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"})
        wait_tx(cluster, ml, "before", phase="Running")  # the new leader follows the old one's experiments
        assert rayjob_names(cluster, ml) == ["after", "before"]
        assert [w.code for w in cluster.writes(namespace=ml) if (w.verb, w.resource) == ("create", "rayjobs")] == [
            201, 201,
        ]  # fmt: skip
    finally:
        for replica in (a, b):
            replica.kill()


def test_a_leader_that_stops_hands_over_at_once(cluster: Cluster, operator_identity: OperatorIdentity, home: str,
                                                ml: str, tmp_path: Path) -> None:  # fmt: skip
    (a, b), lease = replicas(operator_identity, home, ml, tmp_path, lease_seconds=60)
    a.start()
    b.start()
    try:
        leader_name = eventually(lambda: holder(cluster, operator_identity, lease), timeout=30)
        leader, follower = (a, b) if leader_name == "replica-0" else (b, a)
        assert leader.stop() == 0  # SIGTERM (a rollout): the lease is released, not left to run out
        eventually(lambda: holder(cluster, operator_identity, lease) not in ("", leader_name), timeout=15)
        cluster.create(experiment("exp", ml))
        wait_tx(cluster, ml, "exp", phase="Pending", rayJobName="exp")
        assert leader_gauge(follower) == 1
    finally:
        for replica in (a, b):
            replica.kill()


def test_a_leader_whose_lease_is_taken_stops_and_exits_non_zero(
    cluster: Cluster, operator_identity: OperatorIdentity, home: str, ml: str, tmp_path: Path
) -> None:
    (a, _), lease = replicas(operator_identity, home, ml, tmp_path, lease_seconds=60)
    a.start()
    try:
        eventually(lambda: holder(cluster, operator_identity, lease) == "replica-0", timeout=30)
        api = KubeAPI(api_client=cluster.api_client())
        taken = api.get(LEASES, namespace=operator_identity.namespace, name=lease)
        taken["spec"]["holderIdentity"] = "someone-else"  # e.g. a replica that saw the lease lapse
        api.replace(LEASES, namespace=operator_identity.namespace, name=lease, body=taken)
        assert a.proc is not None
        assert a.proc.wait(timeout=30) == 1  # it stops reconciling at its next renew, well before 60 s
        assert "lost the leader Lease" in a.log.read_text()
        assert holder(cluster, operator_identity, lease) == "someone-else"  # nothing released what it lost
    finally:
        a.kill()


class Driver:
    """A Tune driver's reporting as the wire carries it: one trial's results, with the driver's cumulative
    figures (results reported, best) on every batch, through the real BatchSender."""

    def __init__(self, url: str, namespace: str) -> None:
        self.sent = 0
        self.best = 0.0
        self.finished = False
        self._lock = threading.Lock()
        ref = ExperimentRef(namespace=namespace, name="exp", metric="score", mode="max", numSamples=1)
        settings = SenderSettings(flush_interval_s=0.05, initial_backoff_s=0.1, max_backoff_s=0.5,
                                  final_flush_timeout_s=60)  # fmt: skip
        self.sender = BatchSender(url=url, token=experiment_token(TOKEN, namespace=namespace, name="exp"),
                                  experiment=ref, settings=settings, snapshot=self.snapshot)  # fmt: skip
        self.sender.put(TrialEvent(trial="t1", state="RUNNING", time=time.time(), config={"lr": 0.1}))

    def result(self) -> None:
        with self._lock:
            self.sent += 1
            value = self.sent / 1000
            self.best = max(self.best, value)
        self.sender.put(ResultEvent(trial="t1", iteration=self.sent, time=time.time(), metrics={"score": value}))

    def finish(self) -> None:
        with self._lock:
            self.finished = True
        self.sender.put(TrialEvent(trial="t1", state="TERMINATED", time=time.time()))

    def snapshot(self) -> ExperimentEvent:
        with self._lock:
            trials: Any = {"TERMINATED": 1} if self.finished else {"RUNNING": 1}
            return ExperimentEvent(state="RUNNING", time=time.time(), trials=trials, results=self.sent,
                                   best=BestResult(trial="t1", value=self.best, config={"lr": 0.1}))  # fmt: skip


@pytest.mark.slow
def test_results_flow_through_a_failover_and_count_once(
    cluster: Cluster, operator_identity: OperatorIdentity, home: str, ml: str, tmp_path: Path
) -> None:
    (a, b), lease = replicas(operator_identity, home, ml, tmp_path)
    a.start()
    b.start()
    service = ServiceStandIn([a.url, b.url]).start()
    try:
        leader_name = eventually(lambda: holder(cluster, operator_identity, lease), timeout=30)
        leader = a if leader_name == "replica-0" else b
        cluster.create(experiment("exp", ml, numSamples=1))
        wait_tx(cluster, ml, "exp", phase="Pending", rayJobName="exp")
        driver = Driver(service.url, ml)
        for i in range(300):
            driver.result()
            if i == 150:
                leader.kill()  # mid-stream: batches in flight, some accepted and not yet in the status
            time.sleep(0.02)
        driver.finish()
        assert driver.sender.close(60), "the sender could not deliver everything"

        def complete() -> dict[str, Any]:
            found: dict[str, Any] = cluster.get(ml, "exp").get("status", {}).get("summary") or {}
            assert (found.get("resultsTotal"), found.get("bestValue")) == (300, 0.3), found
            return found

        summary = eventually(complete, timeout=30)
        assert summary["trials"]["terminated"] == 1
        assert summary["bestConfig"] == {"lr": 0.1}
        assert holder(cluster, operator_identity, lease) != leader_name
        assert all(n > 0 for n in service.forwarded.values())  # both replicas took ingest (followers forward)
        assert rayjob_names(cluster, ml) == ["exp"]
    finally:
        service.stop()
        for replica in (a, b):
            replica.kill()
