"""The whole loop as a user sees it, on the real API server with the chart's RBAC.

``kubectl apply`` of the reference experiment (shrunk to a few small trials) → the operator (a real
``kubetune operator`` process) creates the RayJob → KubeRay runs it (here the stand-in of
tests/cluster/kuberay_standin.py: the RayJob's own entrypoint and environment, as local processes) → the
trials report to the operator's ingest → ``kubectl get tx`` and ``kubetune status`` show trials done and the
best value → a real Prometheus scraping the operator answers every query of both dashboards with data.

Then the failure path: the driver killed mid-run and started again as KubeRay's retry would (the experiment
resumes from ``spec.storage.path``, no finished trial runs again), and a RayJob that ends Failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from kubetune.engine.results import RESULTS_FILE
from kubetune_operator.summarizing import END_REASON_KEYS
from tests.charts.test_dashboards import DECISIONS, EXPECTED_EMPTY, annotation_counts, annotation_queries, targets
from tests.cluster.cluster import Cluster, eventually, kubectl_binary
from tests.cluster.controlplane import free_port
from tests.cluster.fixtures import OperatorIdentity
from tests.cluster.kuberay_standin import KubeRayStandIn
from tests.cluster.operator_process import OperatorProcess
from tests.conftest import Prometheuses, query_prometheus

REPO = Path(__file__).resolve().parents[2]
TOKEN = "whole-loop-ingest-token"
#: Every panel's query must return data but these (GPU series come from Ray's GPU nodes through the PodMonitor).
GPU_PANELS = {title for title, why in EXPECTED_EMPTY.items() if "GPU" in why}

pytestmark = pytest.mark.slow


@dataclass
class Loop:
    """The pieces of one loop: locally the test control plane, an operator process and the KubeRay stand-in; on
    the cluster ``E2E_KUBECONFIG`` names, the operator ``make deploy`` installed and the real KubeRay."""

    cluster: Cluster
    home: str
    ml: str
    #: The operator's HTTP address (ingest, /metrics) as the test reaches it.
    operator_url: str
    kuberay: KubeRayStandIn | None
    #: Where results land, when this machine can read it (None on an external cluster's shared storage).
    storage: Path | None
    image: str | None = None

    def experiment(self, name: str, **changes: Any) -> dict[str, Any]:
        """jobs/mnist_torch/experiment.yaml, shrunk to a few small CPU trials, in the test namespace."""
        doc: dict[str, Any] = yaml.safe_load((REPO / "jobs" / "mnist_torch" / "experiment.yaml").read_text())
        doc["metadata"] = {"name": name, "namespace": self.ml}
        spec = doc["spec"]
        spec.update(numSamples=2, maxConcurrentTrials=2, resourcesPerTrial={"cpu": 1, "gpu": 0},
                    stop={"training_iteration": 3}, scheduler={"type": "fifo"})  # fmt: skip
        if self.storage is not None:
            spec["storage"] = {"path": str(self.storage)}
        else:
            spec.pop("storage", None)  # the chart's shared storage (defaultStoragePath)
        if self.image:
            spec["image"] = self.image
        spec["config"] = {"epochs": 3, "epoch_size": 128, "test_size": 64}
        for key, value in changes.items():
            spec[key] = value
        return doc

    def status(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.cluster.get(self.ml, name).get("status") or {}
        return found

    def wait_phase(self, name: str, *phases: str, timeout: float = 600) -> dict[str, Any]:
        def reached() -> dict[str, Any]:
            st = self.status(name)
            assert st.get("phase") in phases, (st.get("phase"), st.get("conditions"), self.diagnose(name))
            return st

        found: dict[str, Any] = eventually(reached, timeout=timeout, interval=0.5)
        return found

    def diagnose(self, name: str) -> str:
        if self.kuberay is None:
            return ""
        attempts = self.kuberay.attempts(self.ml, name)
        tail = attempts[-1].log.read_text(errors="replace")[-1500:] if attempts else ""
        return f"{len(attempts)} attempts; errors {self.kuberay.errors[-3:]}; last driver log: {tail}"

    def attempts(self, name: str) -> int:
        """How many times KubeRay ran the RayJob (from its status: failed + succeeded attempts)."""
        job = self.cluster.get(self.ml, self.status(name)["rayJobName"], plural="rayjobs").get("status") or {}
        return int(job.get("failed") or 0) + int(job.get("succeeded") or 0)

    def kill_driver(self, name: str) -> None:
        """A node failure under the running job: its driver and head die, KubeRay retries on a new cluster."""
        if self.kuberay is not None:
            self.kuberay.kill_driver(self.ml, name)
            return
        cluster = self.cluster.get(self.ml, name, plural="rayjobs")["status"]["rayClusterName"]
        self.cluster.kubectl("delete", "pod", "-n", self.ml, "--wait=false",
                             "-l", f"ray.io/cluster={cluster},ray.io/node-type=head")  # fmt: skip

    def results(self, name: str) -> dict[str, Any] | None:
        if self.storage is None:
            return None
        found: dict[str, Any] = json.loads((self.storage / name / RESULTS_FILE).read_text())
        return found


@pytest.fixture
def loop(cluster: Cluster, namespaces: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Loop]:
    if cluster.external:
        yield from external_loop(cluster)
        return
    identity: OperatorIdentity = request.getfixturevalue("operator_identity")
    home, ml = namespaces("kubetune"), namespaces("ml")
    secret = client.V1Secret(metadata=client.V1ObjectMeta(name="kubetune-ingest"), string_data={"token": TOKEN})
    cluster.core.create_namespaced_secret(home, secret)
    operator = OperatorProcess(kubeconfig=identity.kubeconfig, workdir=tmp_path / "operator", namespace=home,
                               watch=(home, ml), token=TOKEN,
                               settings={"status": {"summaryIntervalSeconds": 1},
                                         "reconcile": {"backoffSeconds": 0.2, "maxBackoffSeconds": 2}})  # fmt: skip
    operator.start()
    kuberay = KubeRayStandIn(api_client=cluster.new_client(), namespaces=(home, ml), workdir=tmp_path / "kuberay",
                             services={f"kubetune.{home}.svc": "127.0.0.1"})  # fmt: skip
    kuberay.start()
    try:
        yield Loop(cluster, home, ml, operator.url, kuberay, tmp_path / "storage")
    finally:
        kuberay.stop()
        operator.stop()


def external_loop(cluster: Cluster) -> Iterator[Loop]:
    """The cluster E2E_KUBECONFIG names, with KubeRay and kubetune installed by `make deploy`: experiments go to
    the operator's namespace (E2E_NAMESPACE, default kubetune), its Service is reached by a port-forward, and
    the trials run in E2E_IMAGE (default: the job's image) on the chart's shared storage."""
    namespace = os.environ.get("E2E_NAMESPACE", "kubetune")
    port = free_port()
    forward = subprocess.Popen([kubectl_binary(), "--kubeconfig", str(cluster.kubeconfig), "port-forward", "-n",
                                namespace, "svc/kubetune", f"{port}:8080"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        yield Loop(cluster, namespace, namespace, f"http://127.0.0.1:{port}", None, None,
                   image=os.environ.get("E2E_IMAGE"))  # fmt: skip
    finally:
        forward.kill()
        forward.wait(timeout=30)


def kubetune(*args: str, cluster: Cluster) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubetune", *args, "--kubeconfig", str(cluster.kubeconfig)],
                          capture_output=True, text=True, timeout=120, check=False, cwd=REPO)  # fmt: skip


def test_an_applied_experiment_runs_reports_and_shows_in_kubectl_kubetune_and_prometheus(
    loop: Loop, prometheus: Prometheuses
) -> None:
    prom = prometheus.start([loop.operator_url.removeprefix("http://")])
    loop.cluster.apply([loop.experiment("mnist-asha")])

    st = loop.wait_phase("mnist-asha", "Succeeded")
    summary = st["summary"]
    assert st["progress"] == "2/2"
    assert summary["trials"]["terminated"] == 2
    assert summary["resultsTotal"] == 6
    assert 0 < summary["bestValue"] <= 1
    assert set(summary["bestConfig"]) >= {"lr", "momentum"}
    # What the trials held, through the real API server's status schema: CPU trials, no GPU.
    assert summary["usage"]["trialHours"] > 0
    assert summary["usage"]["cpuHours"] >= summary["usage"]["trialHours"]
    assert summary["usage"]["gpuHours"] == 0
    assert st["conditions"][0] == {**st["conditions"][0], "type": "Valid", "status": "True"}
    assert loop.attempts("mnist-asha") == 1

    table = loop.cluster.kubectl("get", "tuneexperiments", "-n", loop.ml).stdout
    header, row = (
        table.splitlines()[0].split(),
        next(r.split() for r in table.splitlines() if r.startswith("mnist-asha")),
    )
    columns = dict(zip(header, row, strict=False))
    assert (columns["PHASE"], columns["TRIALS"]) == ("Succeeded", "2/2"), table
    assert float(columns["BEST"]) == pytest.approx(summary["bestValue"], rel=1e-3), table
    shown = kubetune("status", "mnist-asha", "-n", loop.ml, cluster=loop.cluster)
    assert shown.returncode == 0, shown.stderr
    assert "Succeeded" in shown.stdout
    assert "2/2" in shown.stdout

    results = loop.results("mnist-asha")
    if results is not None:
        assert results["best"]["metric_value"] == pytest.approx(summary["bestValue"])

    empty = []
    for dashboard, title, expr in targets():
        if title in GPU_PANELS:
            continue
        query = expr.replace("$namespace", loop.ml).replace("$experiment", "mnist-asha")
        query = query.replace("$metric", "mean_accuracy")
        if not query_prometheus(prom, query, timeout=30):
            empty.append(f"{dashboard}: {title}: {query}")
    assert empty == [], "dashboard panels without data"
    # The drill-down's annotations mark each trial the scheduler stopped, exploited, cut or saw fail, once.
    ends = summary.get("endReasons") or {}
    for dashboard, name, expr in annotation_queries():
        reason = next(r for r, n in DECISIONS.items() if n == name)
        marked = annotation_counts(prom, expr, "mnist-asha", namespace=loop.ml)
        assert marked == ends.get(END_REASON_KEYS[reason], 0), (dashboard, name, ends)


def iterations(trial_dir: Path) -> list[int]:
    lines = (trial_dir / "result.json").read_text().splitlines()
    return [int(json.loads(line)["training_iteration"]) for line in lines if line.strip()]


def test_a_driver_killed_mid_run_resumes_from_storage_without_rerunning_finished_trials(loop: Loop) -> None:
    epochs = 8
    doc = loop.experiment("resumed", numSamples=3, maxConcurrentTrials=1, stop={"training_iteration": epochs})
    doc["spec"]["config"] = {"epochs": epochs, "epoch_size": 1024, "test_size": 256}
    loop.cluster.apply([doc])

    def one_trial_done() -> bool:
        trials = (loop.status("resumed").get("summary") or {}).get("trials") or {}
        return int(trials.get("terminated", 0)) >= 1

    eventually(one_trial_done, timeout=600, interval=0.2)
    loop.kill_driver("resumed")  # a node failure: KubeRay retries on a new cluster

    st = loop.wait_phase("resumed", "Succeeded")
    assert loop.attempts("resumed") == 2
    assert (st["rayJob"]["failed"], st["rayJob"]["succeeded"]) == (1, 1)
    assert st["progress"] == "3/3"
    assert st["summary"]["trials"]["terminated"] == 3
    results = loop.results("resumed")
    if loop.storage is None or results is None:
        return  # the trial folders are on the cluster's storage
    assert results["trials_by_state"] == {"TERMINATED": 3}
    trials = sorted(p for p in (loop.storage / "resumed").iterdir() if (p / "result.json").exists())
    assert len(trials) == 3
    for trial in trials:  # a re-run would start again at iteration 1; a resume continues from a checkpoint
        seen = iterations(trial)
        assert seen == sorted(seen), (trial.name, seen)
        assert (seen[0], seen[-1]) == (1, epochs), (trial.name, seen)
    assert sum(len(iterations(t)) == epochs for t in trials) >= 2  # at least the finished one never repeated


def test_trials_that_error_are_counted_once_across_kuberay_retries(loop: Loop) -> None:
    doc = loop.experiment("erroring")
    doc["spec"]["config"]["batch_size"] = 0  # every trial fails at once
    doc["spec"]["failure"] = {"maxFailures": 0}
    loop.cluster.apply([doc])
    st = loop.wait_phase("erroring", "Failed")
    assert st["progress"] == "2/2", st
    assert st["summary"]["trials"]["error"] == 2, st["summary"]
    assert sum(st["summary"]["trials"].values()) == 2


def test_a_rayjob_that_ends_failed_fails_the_experiment_with_kuberays_reason(loop: Loop) -> None:
    doc = loop.experiment("broken", trainable="jobs.mnist_torch.trainable:no_such_function")
    loop.cluster.apply([doc])
    st = loop.wait_phase("broken", "Failed")
    failed = next(c for c in st["conditions"] if c["type"] == "Failed")
    assert (failed["status"], failed["reason"]) == ("True", "AppFailed")
    assert st["rayJob"]["failed"] == 3  # backoffLimit 2: three attempts
    assert loop.attempts("broken") == 3


def set_suspend(loop: Loop, name: str, suspend: bool) -> None:
    """What Kueue does: admit a queued RayJob (resume it) or preempt a running one (suspend it)."""
    job = loop.status(name)["rayJobName"]
    loop.cluster.custom.patch_namespaced_custom_object("ray.io", "v1", loop.ml, "rayjobs", job,
                                                       {"spec": {"suspend": suspend}})  # fmt: skip


def test_a_queued_experiment_waits_for_admission_and_a_preempted_one_resumes(loop: Loop) -> None:
    epochs = 6
    doc = loop.experiment("queued", numSamples=3, maxConcurrentTrials=1, stop={"training_iteration": epochs},
                          cluster={"queueName": "team-a"})  # fmt: skip
    doc["spec"]["config"] = {"epochs": epochs, "epoch_size": 1024, "test_size": 256}
    loop.cluster.apply([doc])

    def queued() -> dict[str, Any]:
        st = loop.status("queued")
        running: dict[str, Any] = next((c for c in st.get("conditions", []) if c["type"] == "Running"), {})
        assert (st.get("phase"), running.get("reason")) == ("Pending", "Queued"), st
        return st

    st = eventually(queued, timeout=60)
    assert "team-a" in next(c for c in st["conditions"] if c["type"] == "Running")["message"]
    assert loop.attempts("queued") == 0  # nothing runs before admission

    set_suspend(loop, "queued", False)  # admitted

    def one_trial_done() -> bool:
        return int(((loop.status("queued").get("summary") or {}).get("trials") or {}).get("terminated", 0)) >= 1

    eventually(one_trial_done, timeout=600, interval=0.2)
    set_suspend(loop, "queued", True)  # preempted: the cluster goes, the experiment waits in the queue again
    eventually(queued, timeout=120)
    set_suspend(loop, "queued", False)  # admitted again: a new cluster, the run resumes from storage

    st = loop.wait_phase("queued", "Succeeded")
    assert st["progress"] == "3/3"
    assert st["summary"]["trials"]["terminated"] == 3
    if loop.storage is not None:
        trials = sorted(p for p in (loop.storage / "queued").iterdir() if (p / "result.json").exists())
        for trial in trials:  # no finished trial ran again, no unfinished one started over
            seen = iterations(trial)
            assert seen == sorted(seen), (trial.name, seen)
