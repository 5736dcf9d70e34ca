"""Results posted to the operator's ingest reach the experiment's status summary and /metrics, on a real API
server: rate-limited summary patches (counted in the audit log), restarts, a summary the server refuses."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from kubetune.reporting.wire import ENV_INGEST_TOKEN, EXPERIMENT_HEADER, INGEST_PATH
from kubetune_operator import Operator
from kubetune_operator.settings import IngestSettings, StatusSettings
from kubetune_operator.tokens import experiment_token
from tests.cluster.cluster import Cluster, eventually
from tests.cluster.fixtures import OperatorIdentity
from tests.exporter._support import Sender, experiment, result, trial

from .conftest import TOKEN, Run, conditions_of, set_rayjob_status, the_rayjob, tx_status, wait_tx
from .conftest import experiment as tune_experiment

if TYPE_CHECKING:
    from tests.conftest import Prometheuses


def post(op: Operator, body: bytes, *, namespace: str, name: str = "exp", token: str | None = None) -> int:
    token = token or experiment_token(TOKEN, namespace=namespace, name=name)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               EXPERIMENT_HEADER: f"{namespace}/{name}"}  # fmt: skip
    request = urllib.request.Request(op.exporter.url + INGEST_PATH, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        e.close()
        return int(e.code)


def sender(namespace: str, name: str = "exp", **options: Any) -> Sender:
    return Sender(name=name, namespace=namespace, metric="score", mode="max", num_samples=4, **options)


def summary(cluster: Cluster, namespace: str, **expected: Any) -> dict[str, Any]:
    def check() -> dict[str, Any]:
        found: dict[str, Any] = tx_status(cluster, namespace, "exp").get("summary") or {}
        assert {k: found.get(k) for k in expected} == expected, found
        return found

    found: dict[str, Any] = eventually(check)
    return found


def status_patches(cluster: Cluster, identity: OperatorIdentity, namespace: str) -> int:
    user = f"system:serviceaccount:{identity.namespace}:{identity.service_account}"
    writes = cluster.writes(user=user, namespace=namespace)
    return sum(1 for w in writes if (w.verb, w.resource, w.subresource) == ("patch", "tuneexperiments", "status"))


def test_results_reach_the_status_summary_and_metrics(run_operator: Run, cluster: Cluster, ml: str) -> None:
    registry = CollectorRegistry()
    op = run_operator(registry=registry)
    cluster.create(tune_experiment("exp", ml, metric="score", numSamples=4))
    the_rayjob(cluster, ml)
    body = sender(ml).body(
        trial("t1", "RUNNING", config={"x": 0.3}), result("t1", 1, {"score": 0.7}),
        trial("t2", "RUNNING", config={"x": 0.8}), result("t2", 1, {"score": 0.9}), trial("t1", "TERMINATED"),
    )  # fmt: skip
    assert post(op, body, namespace=ml) == 200

    found = summary(cluster, ml, bestValue=0.9, bestTrial="t2")
    assert found["bestConfig"] == {"x": 0.8}
    assert found["trials"] == {"pending": 0, "running": 1, "paused": 0, "terminated": 1, "error": 0}
    assert found["resultsTotal"] == 2
    assert tx_status(cluster, ml, "exp")["progress"] == "1/4"
    trial_metric = {"namespace": ml, "experiment": "exp", "trial": "t2", "metric": "score"}
    assert registry.get_sample_value("kubetune_trial_metric", trial_metric) == 0.9
    assert registry.get_sample_value("kubetune_ingest_requests_total", {"code": "200"}) == 1
    assert registry.get_sample_value("kubetune_operator_experiments", {"phase": "Pending"}) == 1
    assert (registry.get_sample_value("kubetune_operator_reconcile_total", {"result": "success"}) or 0) >= 2
    with urllib.request.urlopen(op.exporter.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    assert f'kubetune_trial_metric{{namespace="{ml}",experiment="exp",trial="t2",metric="score"}} 0.9' in text


def test_a_scoped_token_writes_only_its_own_experiment(run_operator: Run, ml: str) -> None:
    op = run_operator()
    scoped = experiment_token(TOKEN, namespace=ml, name="exp")
    assert post(op, sender(ml, "other", sender="driver-2").body(trial("t", "RUNNING")), namespace=ml, name="other",
                token=scoped) == 401  # fmt: skip
    assert post(op, sender(ml).body(trial("t", "RUNNING")), namespace=ml) == 200
    assert post(op, sender(ml, "other").body(trial("t", "RUNNING")), namespace=ml, name="other", token=TOKEN) == 200
    assert post(op, sender(ml, "x").body(trial("t", "RUNNING")), namespace=ml, name="x", token="guess") == 401
    assert op.store.summary(ml, "exp") is not None
    assert op.store.summary(ml, "other") is not None


def test_summary_patches_are_rate_limited(run_operator: Run, cluster: Cluster, ml: str,
                                         operator_identity: OperatorIdentity) -> None:  # fmt: skip
    op = run_operator(status=StatusSettings(summary_interval_seconds=5.0))  # longer than four posts take
    cluster.create(tune_experiment("exp", ml, metric="score", numSamples=4))
    wait_tx(cluster, ml, "exp", phase="Pending", rayJobName="exp")
    s = sender(ml)
    assert post(op, s.body(trial("t1", "RUNNING"), result("t1", 1, {"score": 0.1})), namespace=ml) == 200
    summary(cluster, ml, bestValue=0.1)
    patches = status_patches(cluster, operator_identity, ml)
    for i in range(2, 6):  # four batches within the interval
        assert post(op, s.body(result("t1", i, {"score": i / 10})), namespace=ml) == 200
    assert tx_status(cluster, ml, "exp")["summary"]["bestValue"] == 0.1  # held back
    summary(cluster, ml, bestValue=0.5, resultsTotal=5)  # ...and written when the interval ends
    assert status_patches(cluster, operator_identity, ml) == patches + 1


def test_a_graceful_stop_writes_the_summaries_held_back(run_operator: Run, cluster: Cluster, ml: str) -> None:
    op = run_operator(status=StatusSettings(summary_interval_seconds=3600))
    cluster.create(tune_experiment("exp", ml, metric="score", numSamples=4))
    wait_tx(cluster, ml, "exp", phase="Pending", rayJobName="exp")
    s = sender(ml)
    assert post(op, s.body(trial("t1", "RUNNING"), result("t1", 1, {"score": 0.1})), namespace=ml) == 200
    summary(cluster, ml, bestValue=0.1)
    assert post(op, s.body(result("t1", 2, {"score": 0.6}), trial("t1", "TERMINATED")), namespace=ml) == 200
    op.stop()
    assert summary(cluster, ml, bestValue=0.6)["trials"]["terminated"] == 1


def test_the_end_of_the_job_writes_the_last_summary_at_once(run_operator: Run, cluster: Cluster, ml: str) -> None:
    """A terminal phase never shows with the counts of ten seconds ago."""
    op = run_operator(status=StatusSettings(summary_interval_seconds=3600))
    cluster.create(tune_experiment("exp", ml, metric="score", numSamples=4))
    wait_tx(cluster, ml, "exp", phase="Pending", rayJobName="exp")
    s = sender(ml)
    assert post(op, s.body(trial("t1", "RUNNING"), result("t1", 1, {"score": 0.1})), namespace=ml) == 200
    summary(cluster, ml, bestValue=0.1)
    assert post(op, s.body(result("t1", 2, {"score": 0.6}), trial("t1", "TERMINATED")), namespace=ml) == 200
    set_rayjob_status(cluster, ml, "exp", {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"})
    st = wait_tx(cluster, ml, "exp", phase="Succeeded")
    assert (st["summary"]["bestValue"], st["summary"]["trials"]["terminated"], st["progress"]) == (0.6, 1, "1/4")


def test_a_restarted_operator_continues_the_summary_instead_of_starting_over(run_operator: Run, cluster: Cluster,
                                                                             ml: str) -> None:  # fmt: skip
    first = run_operator()
    cluster.create(tune_experiment("exp", ml, metric="score", numSamples=4))
    wait_tx(cluster, ml, "exp", phase="Pending", rayJobName="exp")
    s = sender(ml)
    body = s.body(trial("t1", "RUNNING", config={"x": 1}), result("t1", 1, {"score": 0.9}), trial("t1", "TERMINATED"),
                  trial("t2", "RUNNING"), result("t2", 1, {"score": 0.2}))  # fmt: skip
    assert post(first, body, namespace=ml) == 200
    summary(cluster, ml, bestValue=0.9, resultsTotal=2)
    first.stop()

    second = run_operator()  # an empty store: reporting sends changes, not the past
    body = s.body(result("t2", 2, {"score": 0.5}), trial("t3", "RUNNING"), trial("t2", "TERMINATED"),
                  experiment("RUNNING"))  # fmt: skip
    assert post(second, body, namespace=ml) == 200
    found = summary(cluster, ml, resultsTotal=3)
    assert found["bestValue"] == 0.9
    assert (found["bestTrial"], found["bestConfig"]) == ("t1", {"x": 1})
    assert found["trials"] == {"pending": 0, "running": 1, "paused": 0, "terminated": 2, "error": 0}
    assert tx_status(cluster, ml, "exp")["progress"] == "2/4"


def test_a_summary_the_api_server_refuses_never_freezes_the_status(run_operator: Run, cluster: Cluster,
                                                                   ml: str) -> None:  # fmt: skip
    """Whatever value reaches the operator's store, the status keeps moving: the ingest refuses NaN, but a value
    the server cannot store is put into the store directly here (past the wire's checks) to prove it."""
    op = run_operator()
    cluster.create(tune_experiment("exp", ml, metric="score", numSamples=4))
    wait_tx(cluster, ml, "exp", phase="Pending", rayJobName="exp")
    s = sender(ml)
    batch = s.batch(trial("t1", "RUNNING"), result("t1", 1, {"score": 0.5}))
    poisoned = batch.model_copy(update={"events": [*batch.events, batch.events[1].model_copy(
        update={"metrics": {"score": math.inf}, "iteration": 2})]})  # fmt: skip
    op.store.ingest(poisoned)
    set_rayjob_status(cluster, ml, "exp", {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"})

    st = wait_tx(cluster, ml, "exp", phase="Running")
    json.dumps(st, allow_nan=False)
    rejected = conditions_of(st).get("SummaryRejected")
    assert rejected in (None, ("True", "Refused")), st  # refused by the server, or never sent unserialisable
    assert post(op, s.body(result("t1", 3, {"score": 0.75})), namespace=ml) == 200
    set_rayjob_status(cluster, ml, "exp", {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"})
    st = wait_tx(cluster, ml, "exp", phase="Succeeded")
    assert st["rayJob"]["jobDeploymentStatus"] == "Complete"


@pytest.mark.slow
def test_prometheus_scrapes_the_operator(run_operator: Run, cluster: Cluster, ml: str,
                                         prometheus: Prometheuses) -> None:  # fmt: skip
    op = run_operator()
    cluster.create(tune_experiment("exp", ml, metric="score", numSamples=4))
    the_rayjob(cluster, ml)
    assert post(op, sender(ml).body(trial("t1", "RUNNING"), result("t1", 3, {"score": 0.75})), namespace=ml) == 200

    url = prometheus.start([f"127.0.0.1:{op.exporter.port}"])
    found = prometheus.query(url, 'kubetune_trial_metric{metric="score"}', timeout=20)
    assert len(found) == 1, "no sample within 20 s; see prometheus.log under the test's tmp_path"
    assert (found[0]["metric"]["experiment"], float(found[0]["value"][1])) == ("exp", 0.75)
    assert prometheus.query(url, 'kubetune_operator_reconcile_total{result="success"} > 0', timeout=10)
    assert prometheus.query(url, 'kubetune_operator_experiments{phase="Pending"} == 1', timeout=10)


def test_the_status_stays_small_whatever_the_number_of_trials(run_operator: Run, cluster: Cluster, ml: str) -> None:
    op = run_operator()
    cluster.create(tune_experiment("exp", ml, metric="score", numSamples=4))
    wait_tx(cluster, ml, "exp", phase="Pending", rayJobName="exp")
    s = sender(ml)
    for start in range(0, 3000, 1000):
        events = []
        for i in range(start, start + 1000):
            events += [trial(f"t{i}", "RUNNING", config={"i": i}), result(f"t{i}", 1, {"score": i / 3000}),
                       trial(f"t{i}", "TERMINATED")]  # fmt: skip
        assert post(op, s.body(*events), namespace=ml) == 200
    large = {"weights": [0.5] * 2500}  # the best trial's config: within the wire's limit, over the status's
    assert (
        post(op, s.body(trial("best", "RUNNING", config=large), result("best", 1, {"score": 2.0})), namespace=ml) == 200
    )

    found = summary(cluster, ml, bestTrial="best", resultsTotal=3001)
    assert found["trials"]["terminated"] == 3000
    assert "bestConfig" not in found
    assert len(json.dumps(tx_status(cluster, ml, "exp"))) < 4096


def test_a_rotated_token_secret_reaches_the_running_operator(run_operator: Run, cluster: Cluster, ml: str,
                                                            tmp_path: Path) -> None:  # fmt: skip
    """The kubelet rewrites the mounted Secret in the running pod: new drivers get the new token, running ones
    keep theirs for ingest.previousTokenSeconds."""
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    op = run_operator(ingest=IngestSettings(token_file=str(path), previous_token_seconds=3600))
    old = experiment_token(TOKEN, namespace=ml, name="exp")
    assert post(op, sender(ml).body(trial("t", "RUNNING")), namespace=ml, token=old) == 200
    path.write_text("rotated-master-token\n")
    new = experiment_token("rotated-master-token", namespace=ml, name="exp")

    def accepted() -> bool:
        return post(op, sender(ml).body(trial("t", "RUNNING")), namespace=ml, token=new) == 200

    eventually(accepted, timeout=10)
    assert post(op, sender(ml).body(trial("t", "RUNNING")), namespace=ml, token=old) == 200  # within its grace
    cluster.create(tune_experiment("exp", ml))
    env = yaml.safe_load(the_rayjob(cluster, ml)["spec"]["runtimeEnvYAML"])["env_vars"]
    assert env[ENV_INGEST_TOKEN] == new  # what a new RayJob's driver gets


def test_several_objectives_and_the_front_size_reach_the_status(run_operator: Run, cluster: Cluster, ml: str) -> None:
    op = run_operator()
    cluster.create(tune_experiment("exp", ml, metric=["score", "cost"], mode=["max", "min"], numSamples=4))
    the_rayjob(cluster, ml)
    driver = sender(ml)
    driver.ref["objectives"] = [{"metric": "score", "mode": "max"}, {"metric": "cost", "mode": "min"}]
    front = {**experiment("RUNNING", trials={"RUNNING": 1, "TERMINATED": 3}), "paretoFront": 2}
    body = driver.body(trial("t1", "RUNNING"), result("t1", 1, {"score": 0.7, "cost": 2.0}), front)
    assert post(op, body, namespace=ml) == 200

    found = summary(cluster, ml, paretoFront=2, metric="score", mode="max")
    assert found["objectives"] == [{"metric": "score", "mode": "max"}, {"metric": "cost", "mode": "min"}]
